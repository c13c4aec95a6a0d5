"""Approximate kNN: the IVF index against exact search, the stored graph against the in-memory one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data.dataset import open_dataset
from thresher.select.graph import build_graph

faiss = pytest.importorskip("faiss")

from thresher.stream.ann import build_ivf, exact_knn_of, knn_graph, read_knn_graph, recall_at_k  # noqa: E402


def _blobs(d: Path, n_files: int = 5, rows: int = 400, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(20, dim))
    allX = []
    for i in range(n_files):
        X = (centers[rng.integers(0, 20, rows)] + rng.normal(size=(rows, dim))).astype(np.float32)
        pq.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dim)}),
                       d / f"p{i}.parquet")
        allX.append(X)
    return np.concatenate(allX)


def test_exact_streaming_knn_equals_brute_force(tmp_path: Path) -> None:
    X = _blobs(tmp_path, n_files=3, rows=50)
    ds = open_dataset(tmp_path, embedding_columns="emb")
    ids = ds.to_table().row_id
    D, nb = exact_knn_of(ds, X[:7], 4, exclude=ids[:7])
    full = np.sqrt(((X[:7, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1))
    full[np.arange(7), np.arange(7)] = np.inf
    want = np.argsort(full, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(nb, ids[want])
    np.testing.assert_allclose(D, np.take_along_axis(full, want, axis=1), rtol=1e-4)


def test_ivf_graph_matches_exact_graph(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    X = _blobs(tmp_path / "d")
    ds = open_dataset(tmp_path / "d", embedding_columns="emb")
    index = build_ivf(ds, n_lists=16, n_probe=16, n_train=2000)  # every list probed: exact
    summary = knn_graph(ds, index, tmp_path / "out", k=5, n_recall_queries=300)
    assert summary["recall_at_k"] == pytest.approx(1.0, abs=1e-9) and summary["meets_min_recall"]
    g = read_knn_graph(tmp_path / "out")
    exact = build_graph(X.astype(np.float64), n_neighbors=5, row_ids=ds.to_table().row_id)
    agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(g.indices.tolist(), exact.indices.tolist())])
    assert agree > 0.999
    np.testing.assert_allclose(np.sort(g.distances, 1), np.sort(exact.distances, 1), rtol=1e-3, atol=1e-3)
    again = knn_graph(ds, index, tmp_path / "out", k=5, n_recall_queries=50)
    assert again["n_computed"] == 0  # resumed: every partition already stored


def test_low_recall_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 32)).astype(np.float32)  # no structure: IVF with one probe misses a lot
    pq.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 32)}), tmp_path / "a.parquet")
    ds = open_dataset(tmp_path / "a.parquet", embedding_columns="emb")
    index = build_ivf(ds, n_lists=64, n_probe=1, n_train=3000)
    r = recall_at_k(index, ds, 10, n_queries=200)
    assert r < 0.9
    with caplog.at_level("WARNING"):
        s = knn_graph(ds, index, tmp_path / "out", k=10, n_recall_queries=200)
    assert not s["meets_min_recall"] and "below the required" in caplog.text


def test_stored_graph_feeds_graph_selectors(tmp_path: Path) -> None:
    from thresher.data.table import Table
    from thresher.select.base import Budget
    from thresher.select.submodular import FacilityLocation

    (tmp_path / "d").mkdir()
    X = _blobs(tmp_path / "d", n_files=2, rows=150)
    ds = open_dataset(tmp_path / "d", embedding_columns="emb")
    index = build_ivf(ds, n_lists=8, n_probe=8, n_train=300)
    knn_graph(ds, index, tmp_path / "out", k=8, n_recall_queries=50)
    g = read_knn_graph(tmp_path / "out")
    t = Table(ds.to_table().row_id, matrices={"embeddings": X.astype(np.float64)})
    a = FacilityLocation(n_neighbors=8, graph=g).select(t, Budget(n=10), seed=0)
    b = FacilityLocation(n_neighbors=8).select(t, Budget(n=10), seed=0)
    assert a.row_ids.tolist() == b.row_ids.tolist()  # every list probed: the stored graph is the exact one


def test_a_graph_naming_unknown_or_repeated_rows_is_refused(tmp_path: Path) -> None:
    from thresher.errors import ThresherError
    from thresher.stream.partitions import PartitionStore
    from thresher.stream.reverse_graph import RowPositions

    def write(d: Path, ids: list[int], nb: list[int]) -> None:
        PartitionStore(d, "knn").write(0, pa.table({
            "row_id": np.array(ids, dtype=np.int64),
            "neighbors": pa.FixedSizeListArray.from_arrays(pa.array(np.array(nb, dtype=np.int64)), 1),
            "distances": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(len(nb), dtype=np.float32)), 1)}), "k")

    write(tmp_path / "ok", [7, 3, 5], [3, 5, 7])
    assert read_knn_graph(tmp_path / "ok").indices[:, 0].tolist() == [1, 2, 0]
    write(tmp_path / "bad", [7, 3, 5], [3, 4, 7])
    with pytest.raises(ThresherError, match="not in it"):
        read_knn_graph(tmp_path / "bad")
    with pytest.raises(ThresherError, match="twice"):
        RowPositions(np.array([1, 2, 1]))
