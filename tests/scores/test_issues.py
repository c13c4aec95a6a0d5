"""Near-duplicates and outliers against brute-force pairwise distances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist, squareform

from thresher.data.table import Table
from thresher.scores.issues import NearDuplicate, Outlier, find_near_duplicates, find_outliers


def brute_pairs(X: np.ndarray, thr: float) -> set[tuple[int, int]]:
    D = squareform(pdist(X))
    i, j = np.nonzero(np.triu(D <= thr, k=1))
    return set(zip(i.tolist(), j.tolist()))


def test_finds_planted_copies_and_nothing_on_a_clean_set() -> None:
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(300, 16))
    assert find_near_duplicates(clean).pairs.shape == (0, 2)  # data-chosen threshold: no false pairs
    assert not find_near_duplicates(clean).flags.any()
    src = rng.choice(300, size=12, replace=False)
    copies = clean[src] + rng.normal(scale=1e-4, size=(12, 16))
    X = np.r_[clean, copies]
    r = find_near_duplicates(X)
    planted = {(int(s), 300 + c) for c, s in enumerate(src)}
    assert {tuple(p) for p in r.pairs.tolist()} == planted
    assert r.n_clusters == 12 and (r.cluster >= 0).sum() == 24


def test_pairs_and_clusters_equal_brute_force() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 10, size=(400, 2))
    thr = 0.25
    r = find_near_duplicates(X, threshold=thr, k=2)
    expected = brute_pairs(X, thr)
    assert {tuple(p) for p in r.pairs.tolist()} == expected
    D = squareform(pdist(X))
    np.testing.assert_allclose(r.distances, [D[i, j] for i, j in r.pairs.tolist()], atol=1e-9)
    # clusters = connected components of the pair graph, restricted to rows with a pair
    _, comp = connected_components(D <= thr, directed=False)
    flagged = np.flatnonzero(r.flags)
    for a in flagged:
        for b in flagged:
            assert (r.cluster[a] == r.cluster[b]) == (comp[a] == comp[b])


def test_many_identical_rows_widen_k() -> None:
    X = np.r_[np.zeros((30, 3)), np.eye(3) * 50]
    r = find_near_duplicates(X, threshold=0.0, k=2)
    assert len(r.pairs) == 30 * 29 // 2
    assert r.clusters()[0].tolist() == list(range(30))


def test_outlier_threshold_is_the_tukey_fence_of_knn_distances() -> None:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(size=(200, 4)), rng.normal(size=(3, 4)) + 25.0 * np.eye(4)[:3]]
    r = find_outliers(X, k=5)
    dist, _ = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)
    scores = dist[:, 1:].mean(axis=1)
    q1, q3 = np.percentile(scores, [25, 75])
    np.testing.assert_allclose(r.scores, scores, atol=1e-9)
    assert r.threshold == pytest.approx(q3 + 1.5 * (q3 - q1))
    np.testing.assert_array_equal(r.flags, scores > q3 + 1.5 * (q3 - q1))
    assert r.flags[-3:].all()


def test_flag_scorers_and_columns() -> None:
    X = np.r_[np.random.default_rng(3).normal(size=(40, 2)), [[0.0, 0.0], [0.0, 0.0], [40.0, 40.0]]]
    t = Table(matrices={"embeddings": X})
    dup = NearDuplicate(threshold=1e-9).score(t)
    assert dup.tolist() == [0.0] * 40 + [1.0, 1.0, 0.0]
    assert Outlier(k=3, iqr_factor=3.0).score(t)[-1] == 1.0
    cols = find_near_duplicates(X, threshold=1e-9).columns()
    assert set(cols) == {"flag.near_duplicate", "near_duplicate_cluster", "score.nn_distance"}
    assert cols["near_duplicate_cluster"].tolist()[-3:] == [0.0, 0.0, -1.0]
