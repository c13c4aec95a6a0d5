"""The foundation's Vendi checks: closed forms and route agreement."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.metrics.vendi import Vendi, vendi_from_eigenvalues, vendi_score
from thresher.data import from_numpy


@pytest.mark.parametrize("route", ["exact", "covariance"])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, np.inf])
def test_identical_points_score_one(route: str, q: float) -> None:
    X = np.tile([[0.3, -1.0, 2.0]], (25, 1))
    assert vendi_score(X, q, route=route) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("route", ["exact", "covariance"])
@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, np.inf])
def test_orthonormal_points_score_n(route: str, q: float) -> None:
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(12, 7)))
    X = Q.T  # 7 orthonormal rows in 12-d
    assert vendi_score(X, q, kernel="linear", route=route) == pytest.approx(7.0, abs=1e-8)


def test_order_q_closed_forms() -> None:
    lam = np.array([0.5, 0.25, 0.125, 0.125])
    assert vendi_from_eigenvalues(lam, 1) == pytest.approx(np.exp(-(lam * np.log(lam)).sum()), abs=1e-12)
    assert vendi_from_eigenvalues(lam, 2) == pytest.approx(1 / (lam**2).sum(), abs=1e-12)
    assert vendi_from_eigenvalues(lam, np.inf) == pytest.approx(2.0, abs=1e-12)
    assert vendi_from_eigenvalues(lam, 0) == 4.0
    assert vendi_from_eigenvalues(lam, 0.5) == pytest.approx(np.sqrt(lam).sum() ** 2, abs=1e-12)


@pytest.mark.parametrize("kernel", ["linear", "cosine"])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, np.inf])
def test_covariance_route_agrees_with_exact(kernel: str, q: float) -> None:
    X = np.random.default_rng(3).normal(size=(300, 16))
    exact = vendi_score(X, q, kernel=kernel, route="exact")
    cov = vendi_score(X, q, kernel=kernel, route="covariance")
    assert abs(exact - cov) < 1e-8


def test_exact_route_matches_eigvals_of_scaled_kernel_by_hand() -> None:
    # two identical points and one orthogonal one: K/n has eigenvalues 2/3 and 1/3
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    expected = np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    assert Vendi().compute(from_numpy(X)).value == pytest.approx(expected, abs=1e-12)
