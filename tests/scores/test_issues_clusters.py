"""Near-duplicate cluster numbering and listing against the previous per-cluster-scan versions."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.scores.issues import NearDuplicates, find_near_duplicates


def _numbering_by_scan(comp: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The former numbering: components with a pair, 0, 1, ... by their first row (a scan per cluster)."""
    cluster = np.full(len(comp), -1, dtype=np.int64)
    member = np.flatnonzero(flags)
    _, ids = np.unique(comp[member], return_inverse=True)
    order = np.argsort([member[ids == c].min() for c in range(ids.max() + 1)])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cluster[member] = rank[ids]
    return cluster


def _clusters_by_scan(cluster: np.ndarray) -> list[list[int]]:
    n_clusters = int(cluster.max() + 1) if cluster.size and cluster.max() >= 0 else 0
    groups = [np.flatnonzero(cluster == c) for c in range(n_clusters)]
    return [g.tolist() for g in sorted(groups, key=lambda g: (-len(g), int(g[0])))]


@pytest.mark.parametrize("seed", range(3))
def test_clusters_and_numbering_equal_the_scans(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # tight groups of 2-5 copies scattered among singletons, in shuffled row order
    base = rng.normal(size=(300, 4)) * 10
    sizes = rng.integers(1, 6, size=300)
    X = np.repeat(base, sizes, axis=0) + rng.normal(size=(sizes.sum(), 4)) * 1e-3
    X = X[rng.permutation(len(X))]
    r = find_near_duplicates(X, threshold=0.05)
    assert [g.tolist() for g in r.clusters()] == _clusters_by_scan(r.cluster)
    # the numbering agrees with the scan on the same components
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(X)
    graph = coo_matrix((np.ones(len(r.pairs)), (r.pairs[:, 0], r.pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    np.testing.assert_array_equal(r.cluster, _numbering_by_scan(comp, r.flags))
    # independent facts: cluster sizes are the group sizes above 1, rows of a cluster are in one group
    assert sorted(len(g) for g in r.clusters()) == sorted(int(s) for s in sizes if s > 1)


def test_clusters_of_a_given_labelling() -> None:
    cluster = np.array([1, -1, 0, 1, 2, 0, 2, 2, -1])
    r = NearDuplicates(cluster >= 0, cluster, np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(9), 0.1)
    assert [g.tolist() for g in r.clusters()] == [[4, 6, 7], [0, 3], [2, 5]]
    empty = NearDuplicates(np.zeros(3, bool), np.full(3, -1), np.zeros((0, 2), np.int64), np.zeros(0), np.zeros(3), 0.1)
    assert empty.clusters() == []
