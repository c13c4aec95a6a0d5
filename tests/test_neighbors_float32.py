"""kNN on float32 rows: no float64 copy of the input, same neighbours as float64, distances within 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import thresher.neighbors as nb
from thresher.neighbors import knn


@pytest.mark.parametrize("backend", ["numpy", "sklearn", "auto"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_float32_equals_float64_brute_force(backend: str, metric: str) -> None:
    # continuous random data: the gaps between neighbour distances are far above float32 rounding
    X = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32) + 3.0
    r = knn(X, 6, metric=metric, backend=backend, block_queries=64, block_refs=100)
    X64 = X.astype(np.float64)
    D = cdist(X64, X64, "sqeuclidean" if metric == "euclidean" else "cosine")
    np.fill_diagonal(D, np.inf)
    ref_i = np.argsort(D, axis=1, kind="stable")[:, :6]
    ref_d = np.take_along_axis(D, ref_i, axis=1)
    if metric == "euclidean":
        ref_d = np.sqrt(ref_d)
    np.testing.assert_array_equal(r.indices, ref_i)
    assert r.distances.dtype == np.float64
    np.testing.assert_allclose(r.distances, ref_d, rtol=1e-6, atol=1e-7)


def test_float32_input_is_not_copied_to_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.random.default_rng(1).normal(size=(200, 8)).astype(np.float32)
    seen: list[np.dtype] = []
    real = nb._knn_numpy

    def spy(Xa: np.ndarray, Qa: np.ndarray, *args: object) -> tuple[np.ndarray, np.ndarray]:
        seen.append(Xa.dtype)
        assert Xa is X or np.shares_memory(Xa, X)
        return real(Xa, Qa, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(nb, "_knn_numpy", spy)
    knn(X, 3, backend="numpy")
    assert seen == [np.float32]


def test_auto_uses_numpy_for_small_work_and_mixed_dtypes_widen() -> None:
    X = np.random.default_rng(2).normal(size=(100, 5))
    a = knn(X, 4)  # auto: small work -> NumPy route
    b = knn(X, 4, backend="numpy")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    Q = X[:10].astype(np.float32)
    c = knn(X, 4, queries=Q, backend="numpy")  # float64 references, float32 queries: float64 search
    np.testing.assert_array_equal(c.indices, knn(X, 4, queries=Q.astype(np.float64), backend="numpy").indices)
