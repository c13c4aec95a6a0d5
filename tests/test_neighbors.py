"""Exact blocked kNN against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from thresher.errors import InvalidParameterError
from thresher.execute import get_executor
from thresher.neighbors import knn


def _brute(X: np.ndarray, Q: np.ndarray, k: int, exclude_self: bool, metric: str = "euclidean"):
    D = cdist(Q, X, metric=metric)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, idx, axis=1), idx


@pytest.mark.parametrize("backend", ["numpy", "sklearn"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_brute_force_with_small_blocks(metric: str, backend: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(97, 6))
    r = knn(X, 5, metric=metric, block_queries=13, block_refs=17, backend=backend)
    d, i = _brute(X, X, 5, True, metric)
    np.testing.assert_allclose(r.distances, d, atol=1e-9)
    np.testing.assert_array_equal(r.indices, i)


def test_queries_against_reference() -> None:
    rng = np.random.default_rng(1)
    X, Q = rng.normal(size=(50, 4)), rng.normal(size=(20, 4))
    r = knn(X, 3, queries=Q, block_refs=7)
    d, i = _brute(X, Q, 3, False)
    np.testing.assert_allclose(r.distances, d, atol=1e-9)
    np.testing.assert_array_equal(r.indices, i)


def test_backends_agree_on_duplicates_and_ties() -> None:
    # exact duplicates (distance-0 ties) and a lattice (many equal distances)
    X = np.concatenate([np.repeat(np.eye(3), 3, axis=0), np.arange(30, dtype=float).reshape(10, 3) % 4])
    a = knn(X, 4, backend="numpy", block_queries=5, block_refs=7)
    b = knn(X, 4, backend="sklearn")
    np.testing.assert_allclose(a.distances, b.distances, atol=1e-12)
    d, _ = _brute(X, X, 4, True)
    np.testing.assert_allclose(b.distances, d, atol=1e-9)
    for row in range(len(X)):  # the own row is never its own neighbour
        assert row not in b.indices[row]


def test_bad_k() -> None:
    with pytest.raises(InvalidParameterError, match="`k` of knn"):
        knn(np.zeros((3, 2)), 3)


@pytest.mark.ray
def test_ray_executor_gives_identical_neighbours(ray_local) -> None:
    X = np.random.default_rng(2).normal(size=(120, 5))
    a = knn(X, 4, block_queries=25)
    b = knn(X, 4, block_queries=25, executor=get_executor("ray"))
    c = knn(X, 4, block_queries=25, backend="numpy", executor=get_executor("ray"))
    np.testing.assert_array_equal(a.indices, c.indices)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
