"""Array-based lazy greedy against the former heap-and-dict implementation and naive greedy."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
import scipy.sparse as sp

from thresher.select.objectives import FacilityLocationObjective, GraphCutObjective, Objective, SaturatedCoverageObjective
from thresher.select.optimizers import _LAZY_BATCH, GreedyResult, _BlockMax, cost_aware_greedy, lazy_greedy, naive_greedy


def _heap_lazy(
    objective: Objective,
    cand: np.ndarray,
    k: int,
    costs: np.ndarray | None = None,
    capacity: float = math.inf,
    per_cost: bool = False,
) -> GreedyResult:
    """The former lazy greedy: a Python heap of (-key, position) and dicts of stamps and gains."""
    state = objective.new_state()
    g0 = state.gains(cand)
    key = g0 / costs[cand] if per_cost and costs is not None else g0
    # heap of (-key, position); ties pop the lowest position first, as in naive greedy
    heap = list(zip((-key).tolist(), cand.tolist()))
    heapq.heapify(heap)
    stamp = {}  # position -> number of picks when its key was computed
    picked: list[int] = []
    gains: list[float] = []
    fresh_gain: dict[int, float] = {int(j): float(g) for j, g in zip(cand.tolist(), g0.tolist())}
    for j in cand.tolist():
        stamp[j] = 0
    spent = 0.0
    while heap and len(picked) < k:
        _, j = heapq.heappop(heap)
        if costs is not None and spent + costs[j] > capacity:
            continue  # remaining capacity only shrinks: it never fits again
        if stamp[j] == len(picked):
            picked.append(j)
            gains.append(fresh_gain[j])
            state.add(j)
            if costs is not None:
                spent += float(costs[j])
            continue
        # j is stale: re-evaluate it together with the next stale entries in one vectorised
        # call (fresh gains are exact, so they remain valid keys; this only saves calls)
        batch, keep = [j], []
        while heap and len(batch) < _LAZY_BATCH:
            entry = heapq.heappop(heap)
            i = entry[1]
            if costs is not None and spent + costs[i] > capacity:
                continue
            if stamp[i] == len(picked):
                keep.append(entry)
            else:
                batch.append(i)
        g = state.gains(np.asarray(batch, dtype=np.int64))
        for i, gi in zip(batch, g.tolist()):
            fresh_gain[i], stamp[i] = gi, len(picked)
            heapq.heappush(heap, (-(gi / costs[i] if per_cost and costs is not None else gi), i))
        for entry in keep:
            heapq.heappush(heap, entry)
    return GreedyResult(np.asarray(picked, dtype=np.int64), np.asarray(gains, dtype=np.float64))



def _graph(seed: int, n: int = 400, ties: bool = False) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if ties:
        X = np.round(X, 0)  # many exactly equal similarities, hence equal gains
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    W = np.exp(-D)
    W[W < np.quantile(W, 0.9)] = 0.0
    return sp.csr_matrix(W)


def _objectives(seed: int, ties: bool = False) -> list[Objective]:
    W = _graph(seed, ties=ties)
    return [FacilityLocationObjective(W), GraphCutObjective(W, lam=0.3), SaturatedCoverageObjective(W, alpha=0.2)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_lazy_equals_the_heap_version_and_naive(seed: int, ties: bool) -> None:
    for f in _objectives(seed, ties):
        cand = np.arange(f.n)
        new = lazy_greedy(f, 60)
        old = _heap_lazy(f, cand, 60)
        np.testing.assert_array_equal(new.positions, old.positions)
        np.testing.assert_array_equal(new.gains, old.gains)
        np.testing.assert_array_equal(new.positions, naive_greedy(f, 60).positions)


@pytest.mark.parametrize("seed", range(3))
def test_knapsack_runs_equal_the_heap_version(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for f in _objectives(seed):
        costs = rng.uniform(0.5, 3.0, size=f.n)
        costs[::7] = 1.0  # ties in cost too
        cand = np.unique(rng.choice(f.n, size=f.n // 2, replace=False))
        for per_cost in (True, False):
            from thresher.select.optimizers import _lazy

            new = _lazy(f, cand, len(cand), costs, 25.0, per_cost=per_cost)
            old = _heap_lazy(f, cand, len(cand), costs, 25.0, per_cost=per_cost)
            np.testing.assert_array_equal(new.positions, old.positions)
            assert costs[new.positions].sum() <= 25.0
        best = cost_aware_greedy(f, costs, 25.0, candidates=cand)
        assert set(best.positions.tolist()) <= set(cand.tolist())


def test_block_max_top_and_largest_against_sorting() -> None:
    rng = np.random.default_rng(0)
    keys = np.round(rng.normal(size=1000), 1)  # ties
    bm = _BlockMax(keys, 64)
    order = np.lexsort((np.arange(1000), -keys))
    assert bm.top() == order[0]
    top = bm.largest(_LAZY_BATCH)
    rest = np.setdiff1d(np.arange(1000), top)
    assert len(top) >= _LAZY_BATCH and keys[top].min() >= keys[rest].max()  # no key outside beats one inside
    bm.set(order[:5], -np.inf)
    assert bm.top() == order[5]
