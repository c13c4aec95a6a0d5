"""DEITA: kept rows pairwise >= tau apart (scipy), budget filled, the blocked walk equals a naive walk."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from thresher.data.table import Table
from thresher.errors import DataError, InvalidParameterError
from thresher.select.base import Budget
from thresher.select.deita import DEITA, diverse_walk


def _table(n: int = 300, seed: int = 0) -> Table:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, 8))[rng.integers(6, size=n)] + 0.3 * rng.normal(size=(n, 8))
    return Table(columns={"score.s": rng.random(n)}, matrices={"embeddings": X})


def _naive_walk(X: np.ndarray, order: np.ndarray, tau: float, k: int) -> list[int]:
    acc: list[int] = []
    for r in order.tolist():
        if all(cdist(X[[r]], X[[a]], "cosine")[0, 0] >= tau - 1e-12 for a in acc):
            acc.append(r)
            if len(acc) == k:
                break
    return acc


@pytest.mark.parametrize("k", [5, 30, 120])
def test_kept_rows_are_pairwise_at_least_tau_apart_and_fill_the_budget(k: int) -> None:
    t = _table()
    sel_obj = DEITA(by="score.s")
    sel = sel_obj.select(t, Budget(n=k))
    assert len(sel) == k
    X = t.embeddings[t.positions(sel.row_ids)]
    assert pdist(X, "cosine").min() >= sel_obj.tau_ - 1e-12
    assert sel_obj.tau_ > 0
    # the same walk with a threshold a little above tau_ no longer fills the budget (bisection's upper end)
    order = np.argsort(-t.column("score.s"), kind="stable")
    U = t.embeddings / np.linalg.norm(t.embeddings, axis=1, keepdims=True)
    assert len(diverse_walk(U, order, sel_obj.tau_ + 4.0 / 2**30, k)) < k


@pytest.mark.parametrize("tau", [0.05, 0.3, 0.8])
def test_blocked_walk_equals_a_naive_walk(tau: float) -> None:
    t = _table(n=200, seed=2)
    X = t.embeddings
    order = np.argsort(-t.column("score.s"), kind="stable")
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    for block in (1, 7, 512):
        assert diverse_walk(U, order, tau, 200, block=block).tolist() == _naive_walk(X, order, tau, 200)


def test_fixed_tau_and_tau_zero() -> None:
    t = _table(n=100, seed=4)
    order = np.argsort(-t.column("score.s"), kind="stable")
    fixed = DEITA(by="score.s", tau=0.1).select(t, Budget(n=10))
    assert fixed.row_ids.tolist() == t.row_id[_naive_walk(t.embeddings, order, 0.1, 10)].tolist()
    zero = DEITA(by="score.s", tau=0.0).select(t, Budget(n=10))
    assert zero.row_ids.tolist() == t.row_id[order[:10]].tolist()  # plain top-k
    with pytest.raises(InvalidParameterError, match="`tau` of DEITA must be small enough"):
        DEITA(by="score.s", tau=1.9).select(t, Budget(n=50))


def test_smallest_first_and_zero_rows() -> None:
    t = _table(n=50, seed=1)
    low = DEITA(by="score.s", largest=False, tau=0.0).select(t, Budget(n=3))
    assert low.row_ids.tolist() == t.row_id[np.argsort(t.column("score.s"), kind="stable")[:3]].tolist()
    bad = Table(columns={"score.s": np.arange(3.0)}, matrices={"embeddings": np.array([[0.0, 0], [1, 0], [0, 1]])})
    with pytest.raises(DataError, match="all-zero rows"):
        DEITA(by="score.s").select(bad, Budget(n=2))
