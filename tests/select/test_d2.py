"""D2 pruning against a dense, loop-based re-implementation of the two passes."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.select.base import Budget
from thresher.select.d2 import D2Pruning, d2_forward
from thresher.select.graph import build_graph


def _dense_d2(X: np.ndarray, s: np.ndarray, nn: int, gf: float, gr: float, k: int) -> list[int]:
    n = len(X)
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    A = np.zeros((n, n), dtype=bool)
    for i in range(n):
        order = sorted((j for j in range(n) if j != i), key=lambda j: (D[i, j], j))[:nn]
        A[i, order] = True
    fwd = np.array([s[i] + sum(np.exp(-gf * D[i, j]) * s[j] for j in range(n) if A[i, j]) for i in range(n)])
    sym = A | A.T
    cur = fwd.copy()
    out: list[int] = []
    for _ in range(k):
        cand = [i for i in range(n) if i not in out]
        i = max(cand, key=lambda c: (cur[c], -c))
        out.append(i)
        for j in range(n):
            if sym[i, j] and j not in out:
                cur[j] -= np.exp(-gr * D[i, j]) * cur[i]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_d2_matches_dense_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(25, 3))
    s = rng.random(25)
    t = Table(columns={"score.d": s}, matrices={"embeddings": X})
    sel = D2Pruning(by="score.d", n_neighbors=4, gamma_forward=0.7, gamma_reverse=0.5).select(t, Budget(n=10))
    assert sel.row_ids.tolist() == _dense_d2(X, s, 4, 0.7, 0.5, 10)


def test_d2_without_messages_is_topk() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    s = rng.random(30)
    t = Table(columns={"score.d": s}, matrices={"embeddings": X})
    # huge gammas make every message vanish: D2 reduces to top-k by difficulty
    sel = D2Pruning(by="score.d", n_neighbors=5, gamma_forward=1e6, gamma_reverse=1e6).select(t, Budget(n=8))
    assert sel.row_ids.tolist() == np.argsort(-s, kind="stable")[:8].tolist()
    easy = D2Pruning(by="score.d", n_neighbors=5, gamma_forward=1e6, gamma_reverse=1e6, higher_is_harder=False)
    assert easy.select(t, Budget(n=8)).row_ids.tolist() == np.argsort(s, kind="stable")[:8].tolist()


def test_forward_pass_closed_form() -> None:
    g = build_graph(np.array([[0.0], [1.0], [3.0]]), 2)
    out = d2_forward(g, np.array([1.0, 2.0, 4.0]), gamma=1.0)
    e1, e2, e3 = np.exp(-1.0), np.exp(-2.0), np.exp(-3.0)
    np.testing.assert_allclose(out, [1 + 2 * e1 + 4 * e3, 2 + e1 + 4 * e2, 4 + 2 * e2 + e3])


def test_d2_spreads_over_clusters() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)) * 0.1, rng.normal(size=(40, 2)) * 0.1 + 10])
    s = np.concatenate([np.full(40, 1.0), np.full(40, 0.6)]) + rng.random(80) * 0.01
    t = Table(columns={"score.d": s}, matrices={"embeddings": X})
    sel = D2Pruning(by="score.d", n_neighbors=10, gamma_forward=1.0, gamma_reverse=0.1).select(t, Budget(n=10))
    assert np.sum(sel.row_ids >= 40) >= 3  # the easier cluster still gets rows; top-k would give none
