"""The in-place KNN-Shapley recursion against the paper's recursion written out per test point."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.scores.knn_shapley import knn_shapley


def _paper_recursion(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, k: int) -> np.ndarray:
    """Jia et al. (2019) Theorem 1, one test point at a time, ties by index (a plain loop)."""
    n = len(X)
    total = np.zeros(n)
    for q, lab in zip(Xt, yt):
        order = np.argsort(((X - q) ** 2).sum(axis=1), kind="stable")
        m = (y[order] == lab).astype(float)
        s = np.zeros(n)
        s[n - 1] = m[n - 1] / max(k, n)
        for i in range(n - 2, -1, -1):  # 0-indexed position i is rank i + 1
            s[i] = s[i + 1] + (m[i] - m[i + 1]) / k * min(k, i + 1) / (i + 1)
        total[order] += s
    return total / len(Xt)


@pytest.mark.parametrize(("k", "n"), [(1, 300), (5, 300), (50, 300), (400, 300)])
def test_equals_the_paper_recursion(k: int, n: int) -> None:
    rng = np.random.default_rng(k)
    X, Xt = rng.normal(size=(n, 6)), rng.normal(size=(25, 6))
    y, yt = rng.integers(3, size=n), rng.integers(3, size=25)
    got = knn_shapley(X, y, Xt, yt, k=k, batch_size=7)
    np.testing.assert_allclose(got, _paper_recursion(X, y, Xt, yt, k), rtol=0, atol=1e-13)


def test_self_valuation_equals_leave_one_row_out_recursion() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(120, 4)), rng.integers(2, size=120)
    got = knn_shapley(X, y, k=4, batch_size=16)
    ref = np.zeros(120)
    for i in range(120):  # row i is a test point for the other 119
        keep = np.arange(120) != i
        ref[keep] += _paper_recursion(X[keep], y[keep], X[i : i + 1], y[i : i + 1], 4)
    np.testing.assert_allclose(got, ref / 120, rtol=0, atol=1e-13)
