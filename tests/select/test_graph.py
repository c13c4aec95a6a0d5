"""Tests for the kNN graph: neighbours vs brute force, kernels, alignment, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from thresher.errors import DataError, RunDirError
from thresher.select.graph import KNNGraph, build_graph
from thresher.store import RunDir


def _brute(X: np.ndarray, k: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    D = cdist(X, X, "euclidean" if metric == "euclidean" else "cosine")
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_graph_matches_brute_force(metric: str) -> None:
    X = np.random.default_rng(0).normal(size=(80, 4))
    g = build_graph(X, 6, metric=metric, block_queries=17, block_refs=23)
    idx, dist = _brute(X, 6, metric)
    np.testing.assert_array_equal(g.indices, idx)
    np.testing.assert_allclose(g.distances, dist, atol=1e-9)


def test_n_neighbors_clipped_and_tiny_tables() -> None:
    g = build_graph(np.array([[0.0], [2.0], [3.0]]), 50)
    assert g.n_neighbors == 2
    one = build_graph(np.array([[1.0, 2.0]]), 5)
    assert one.n_neighbors == 0
    assert one.similarity().toarray().tolist() == [[1.0]]


def test_similarity_kernels_closed_form() -> None:
    X = np.array([[0.0], [1.0], [3.0]])
    g = build_graph(X, 1)
    # neighbours: 0->1 (1), 1->0 (1), 2->1 (2); median neighbour distance 1
    W = g.similarity("gaussian").toarray()
    e = np.exp(-0.5)
    np.testing.assert_allclose(W, [[1, e, 0], [e, 1, 0], [0, np.exp(-2.0), 1]])
    W2 = g.similarity("gaussian", bandwidth=2.0).toarray()
    assert W2[2, 1] == pytest.approx(np.exp(-4 / 8))
    gc = build_graph(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), 1, metric="cosine")
    Wc = gc.similarity("cosine").toarray()
    assert Wc[0, 1] == pytest.approx(np.sqrt(0.5))
    with pytest.raises(ValueError, match="kernel"):
        g.similarity("cosine")


def test_aligned_equals_graph_built_in_the_new_order() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    ids = np.arange(100, 130)
    g = build_graph(X, 5, row_ids=ids)
    perm = rng.permutation(30)
    direct = build_graph(X[perm], 5, row_ids=ids[perm])
    al = g.aligned(ids[perm])
    np.testing.assert_array_equal(al.indices, direct.indices)
    np.testing.assert_allclose(al.distances, direct.distances)
    with pytest.raises(DataError):
        g.aligned(ids[:10])


def test_save_load_round_trip(tmp_path) -> None:
    X = np.random.default_rng(2).normal(size=(20, 3))
    g = build_graph(X, 4, row_ids=np.arange(20) * 3)
    run = RunDir(tmp_path)
    folder = g.save(run, "emb")
    assert folder == tmp_path / "graph" / "emb"
    assert sorted(p.name for p in folder.iterdir()) == ["distances.npy", "indices.npy", "meta.json", "row_ids.npy"]
    for mmap in (False, True):
        h = KNNGraph.load(run, "emb", mmap=mmap)
        np.testing.assert_array_equal(h.indices, g.indices)
        np.testing.assert_array_equal(h.distances, g.distances)
        np.testing.assert_array_equal(h.row_ids, g.row_ids)
        assert h.metric == "euclidean"
    with pytest.raises(RunDirError):
        KNNGraph.load(run, "missing")
