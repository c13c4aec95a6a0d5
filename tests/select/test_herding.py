"""Herding against dense re-implementations of the definitions, and its mean-matching property."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.select.base import Budget
from thresher.select.herding import Herding, feature_herding, kernel_herding


def _dense_kernel_herding(X: np.ndarray, k: int, bw: float) -> list[int]:
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    K = np.exp(-D2 / (2 * bw**2))
    out: list[int] = []
    for T in range(k):
        best, arg = -np.inf, -1
        for x in range(len(X)):
            if x in out:
                continue
            v = K[x].mean() - sum(K[x, t] for t in out) / (T + 1)
            if v > best:
                best, arg = v, x
        out.append(arg)
    return out


def _dense_feature_herding(X: np.ndarray, k: int) -> list[int]:
    mu = X.mean(0)
    w = mu.copy()
    out: list[int] = []
    for _ in range(k):
        vals = [(X[x] @ w, -x) for x in range(len(X)) if x not in out]
        x = -max(vals)[1]
        out.append(x)
        w = w + mu - X[x]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_herding_matches_dense_definitions(seed: int) -> None:
    X = np.random.default_rng(seed).normal(size=(30, 3))
    assert feature_herding(X, 12).tolist() == _dense_feature_herding(X, 12)
    assert kernel_herding(X, 12, bandwidth=1.3, block=7).tolist() == _dense_kernel_herding(X, 12, 1.3)


def test_herding_matches_the_mean_better_than_random() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) * np.array([1, 2, 3, 0.5, 1])
    t = Table(matrices={"embeddings": X})
    mu = X.mean(0)
    sel = Herding().select(t, Budget(n=40))
    err_herd = np.linalg.norm(X[sel.row_ids].mean(0) - mu)
    err_rand = np.mean([np.linalg.norm(X[rng.choice(400, 40, replace=False)].mean(0) - mu) for _ in range(200)])
    assert err_herd < 0.25 * err_rand
    g = Herding(kernel="gaussian").select(t, Budget(n=40))
    assert len(set(g.row_ids.tolist())) == 40
