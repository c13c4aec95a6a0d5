"""Vendi's covariance and streaming routes: blocked Gram without a copy of X, float32 kept, same values."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from thresher.errors import NonFiniteError
from thresher.metrics.vendi import vendi


def _X(n: int = 600, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d))
    return centres[rng.integers(8, size=n)] + 0.4 * rng.normal(size=(n, d))


@pytest.mark.parametrize("kernel", ["cosine", "linear"])
@pytest.mark.parametrize("q", [1.0, 2.0, np.inf])
def test_covariance_and_streaming_equal_the_exact_kernel(kernel: str, q: float) -> None:
    X = _X()
    exact = vendi(X, q, kernel=kernel, route="exact").value  # eigenvalues of the n x n kernel
    cov = vendi(X, q, kernel=kernel, route="covariance").value
    stream = vendi(X, q, kernel=kernel, route="streaming", shard_size=97).value
    assert cov == pytest.approx(exact, rel=1e-9)
    assert stream == pytest.approx(cov, rel=1e-12)


def test_float32_agrees_with_float64_within_1e_6() -> None:
    X = _X(n=20_000, d=32, seed=1)
    for route in ("covariance", "streaming"):
        a = vendi(X.astype(np.float32), 1.0, route=route).value
        b = vendi(X.astype(np.float32).astype(np.float64), 1.0, route=route).value
        assert a == pytest.approx(b, rel=1e-6)


def test_no_copy_of_x_on_the_covariance_route() -> None:
    X = _X(n=200_000, d=32, seed=2)  # 51 MB (the scale check reads at most 10,000 rows)
    vendi(X[:100], 1.0, route="covariance")  # warm-up (lazy imports)
    for arr in (X, X.astype(np.float32)):
        tracemalloc.start()
        vendi(arr, 1.0, route="covariance")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 0.25 * arr.nbytes, (arr.dtype, peak)


def test_non_finite_rows_still_named() -> None:
    X = _X()
    X[123, 4] = np.nan
    for route in ("covariance", "streaming"):
        with pytest.raises(NonFiniteError, match=r"first at index \(123, 4\)"):
            vendi(X, 1.0, route=route, shard_size=1000)


def test_parity_with_vendi_score_score_dual() -> None:
    peer = pytest.importorskip("vendi_score.vendi")
    X = _X(n=3000, d=24, seed=3)
    for q in (1.0, 2.0):
        assert vendi(X, q, route="covariance").value == pytest.approx(float(peer.score_dual(X, q=q)), rel=1e-9)
