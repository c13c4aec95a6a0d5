"""Greedy optimizers for the objectives of :mod:`thresher.select.objectives`.

Each optimizer takes an objective, asks it for a fresh gain state and never touches the
objective itself, so one objective can be optimised several ways.

* :func:`naive_greedy`: every step evaluates every remaining candidate (Nemhauser,
  Wolsey & Fisher 1978; ``1 - 1/e`` of the optimum for monotone submodular ``f``).
* :func:`lazy_greedy`: Minoux's accelerated greedy (1978): stale gains are upper bounds
  (submodularity), kept in a priority queue; only the top is re-evaluated. Returns
  exactly the naive solution (ties go to the lowest position in both).
* :func:`stochastic_greedy`: Mirzasoleiman et al., "Lazier Than Lazy Greedy", AAAI 2015:
  each step evaluates a random sample of ``(n / k) log(1 / epsilon)`` candidates.
* :func:`cost_aware_greedy`: knapsack budgets (Leskovec et al., "Cost-effective outbreak
  detection", KDD 2007): the better of lazy greedy on gain per cost and lazy greedy on
  gain, both skipping rows that no longer fit.
* :func:`greedi`: Mirzasoleiman, Karbasi, Sarkar & Krause, "Distributed Submodular
  Maximization", NeurIPS 2013: greedy on each of ``m`` random shards through an
  Executor, then greedy on the union; the best of these is returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.select.objectives import Objective

__all__ = [
    "GreedyResult",
    "naive_greedy",
    "lazy_greedy",
    "stochastic_greedy",
    "cost_aware_greedy",
    "greedi",
    "OPTIMIZERS",
]

OPTIMIZERS = ("naive", "lazy", "stochastic")
_LAZY_BATCH = 32  # stale candidates re-evaluated per vectorised gain call in lazy greedy
_FIRST_GAINS_BLOCK = 65_536  # candidates per call for the first gains: bounds the temporaries of one call


@dataclass(frozen=True)
class GreedyResult:
    """Positions picked (in order), the marginal gain of each, and the objective reached."""

    positions: np.ndarray
    gains: np.ndarray

    @property
    def value(self) -> float:
        return float(np.sum(self.gains))


def _candidates(objective: Objective, candidates: np.ndarray | None) -> np.ndarray:
    if candidates is None:
        return np.arange(objective.n, dtype=np.int64)
    return np.unique(np.asarray(candidates, dtype=np.int64))


def _check_k(k: int, n_cand: int, owner: str) -> int:
    return check_int(k, "k", owner, low=0, high=n_cand)


def naive_greedy(objective: Objective, k: int, *, candidates: np.ndarray | None = None) -> GreedyResult:
    """Add, ``k`` times, the candidate with the largest marginal gain (ties: lowest position).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from thresher.select.objectives import FacilityLocationObjective
    >>> W = sp.csr_matrix(np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    >>> naive_greedy(FacilityLocationObjective(W), 2).positions.tolist()
    [0, 2]
    """
    cand = _candidates(objective, candidates)
    k = _check_k(k, len(cand), "naive_greedy")
    state = objective.new_state()
    alive = np.ones(len(cand), dtype=bool)
    picked, gains = np.empty(k, np.int64), np.empty(k)
    for t in range(k):
        live = np.flatnonzero(alive)
        g = state.gains(cand[live])
        b = int(np.argmax(g))  # first maximum = lowest position
        picked[t], gains[t] = cand[live[b]], g[b]
        alive[live[b]] = False
        state.add(int(picked[t]))
    return GreedyResult(picked, gains)


class _BlockMax:
    """Keys of ``n`` candidates with the maximum found in O(n / B + B), not O(n).

    Keys sit in blocks of ``B`` with a maximum per block; updating a few keys re-reduces
    only their blocks. ``top()`` is the first maximum (the lowest index among ties), and
    ``largest(m)`` the indices of the ``m`` largest keys, both read from the blocks with
    the largest maxima. Arrays, not a Python heap: no per-candidate objects.
    """

    def __init__(self, keys: np.ndarray, block: int) -> None:
        n = len(keys)
        self.n, self.block = n, block
        n_blocks = max(1, -(-n // block))
        self.keys = np.full((n_blocks, block), -np.inf)
        self.keys.ravel()[:n] = keys
        self.best = self.keys.max(axis=1)

    def top(self) -> int:
        b = int(np.argmax(self.best))
        return b * self.block + int(np.argmax(self.keys[b]))

    def largest(self, m: int) -> np.ndarray:
        """Return indices of ``m`` keys that no other key exceeds (finite keys only)."""
        nb = len(self.best)
        blocks = np.argpartition(self.best, nb - m)[nb - m :] if m < nb else np.arange(nb)
        vals = self.keys[blocks].ravel()
        # at least m keys reach the m-th largest block maximum, and no key outside these
        # blocks exceeds it: keep those, and partition only when there are many
        take = np.flatnonzero(vals >= self.best[blocks].min())
        if len(take) > 4 * m:
            take = take[np.argpartition(vals[take], len(take) - m)[len(take) - m :]]
        take = take[np.isfinite(vals[take])]
        return blocks[take // self.block] * self.block + take % self.block

    def set(self, idx: np.ndarray, values: np.ndarray | float) -> None:
        self.keys.ravel()[idx] = values
        blocks = np.unique(idx // self.block)
        self.best[blocks] = self.keys[blocks].max(axis=1)


def _lazy(
    objective: Objective,
    cand: np.ndarray,
    k: int,
    costs: np.ndarray | None = None,
    capacity: float = math.inf,
    per_cost: bool = False,
) -> GreedyResult:
    """Lazy greedy with an optional knapsack (rows that no longer fit are dropped).

    Stale keys are upper bounds on the gains (submodularity). Each step takes the largest
    key (ties: lowest position, as in naive greedy); if it was computed at this step it is
    picked, otherwise the ``_LAZY_BATCH`` largest keys are re-evaluated in one vectorised
    call (fresh gains are exact, so they stay valid keys; the batch only saves calls).
    """
    state = objective.new_state()
    n = len(cand)
    c = costs[cand] if costs is not None else None
    # last computed gain of each candidate; in blocks, so a sparse objective's temporaries
    # (several arrays of every entry of the candidates' columns) stay bounded; gains are
    # per candidate, so blocking changes no value
    gain = np.concatenate([np.zeros(0)] + [state.gains(cand[s : s + _FIRST_GAINS_BLOCK]).astype(np.float64)
                                           for s in range(0, n, _FIRST_GAINS_BLOCK)])
    ratio = per_cost and c is not None
    keys = _BlockMax(gain / c if ratio and c is not None else gain, max(64, int(math.isqrt(max(n, 1)))))
    stamp = np.zeros(n, dtype=np.int64)  # number of picks when each gain was computed
    picked: list[int] = []
    gains: list[float] = []
    spent = 0.0
    while len(picked) < k:
        i = keys.top()
        if i >= n or not np.isfinite(keys.keys.ravel()[i]):
            break  # every candidate picked or dropped
        if c is not None and spent + c[i] > capacity:
            keys.set(np.array([i]), -np.inf)  # remaining capacity only shrinks: it never fits again
            continue
        if stamp[i] == len(picked):
            picked.append(int(cand[i]))
            gains.append(float(gain[i]))
            state.add(int(cand[i]))
            keys.set(np.array([i]), -np.inf)
            if c is not None:
                spent += float(c[i])
            continue
        batch = keys.largest(_LAZY_BATCH)
        batch = np.append(batch[batch != i], i)  # the top itself, whatever argpartition did with ties
        if c is not None:
            gone = batch[spent + c[batch] > capacity]
            if gone.size:
                keys.set(gone, -np.inf)
            batch = batch[spent + c[batch] <= capacity]
        batch = batch[stamp[batch] != len(picked)]
        g = state.gains(cand[batch])
        gain[batch], stamp[batch] = g, len(picked)
        keys.set(batch, g / c[batch] if ratio and c is not None else g)
    return GreedyResult(np.asarray(picked, dtype=np.int64), np.asarray(gains, dtype=np.float64))


def lazy_greedy(objective: Objective, k: int, *, candidates: np.ndarray | None = None) -> GreedyResult:
    """Return the naive greedy solution, re-evaluating only candidates whose bound is on top.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from thresher.select.objectives import FacilityLocationObjective
    >>> W = sp.csr_matrix(np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    >>> lazy_greedy(FacilityLocationObjective(W), 2).positions.tolist()
    [0, 2]
    """
    cand = _candidates(objective, candidates)
    k = _check_k(k, len(cand), "lazy_greedy")
    return _lazy(objective, cand, k)


def stochastic_greedy(
    objective: Objective,
    k: int,
    rng: Seed = None,
    *,
    epsilon: float = 0.1,
    sample_size: int | None = None,
    candidates: np.ndarray | None = None,
) -> GreedyResult:
    """Each step, add the best of a random sample of the remaining candidates.

    The sample has ``ceil((n / k) log(1 / epsilon))`` candidates unless ``sample_size`` is
    given; when it covers every remaining candidate the step equals naive greedy's.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from thresher.select.objectives import FacilityLocationObjective
    >>> W = sp.csr_matrix(np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    >>> stochastic_greedy(FacilityLocationObjective(W), 2, 0, sample_size=3).positions.tolist()
    [0, 2]
    """
    owner = "stochastic_greedy"
    gen = as_generator(rng)
    cand = _candidates(objective, candidates)
    k = _check_k(k, len(cand), owner)
    if sample_size is None:
        eps = check_float(epsilon, "epsilon", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        s = int(math.ceil(len(cand) / max(k, 1) * math.log(1.0 / eps)))
    else:
        s = check_int(sample_size, "sample_size", owner, low=1)
    state = objective.new_state()
    alive = np.ones(len(cand), dtype=bool)
    picked, gains = np.empty(k, np.int64), np.empty(k)
    for t in range(k):
        live = np.flatnonzero(alive)
        sample = live if s >= len(live) else np.sort(gen.choice(live, size=s, replace=False))
        g = state.gains(cand[sample])
        b = int(np.argmax(g))
        picked[t], gains[t] = cand[sample[b]], g[b]
        alive[sample[b]] = False
        state.add(int(picked[t]))
    return GreedyResult(picked, gains)


def cost_aware_greedy(
    objective: Objective, costs: np.ndarray, capacity: float, *, candidates: np.ndarray | None = None
) -> GreedyResult:
    """Maximise under a knapsack ``sum_{j in S} costs[j] <= capacity`` (CELF's two-pass rule).

    Runs lazy greedy by gain per unit cost and lazy greedy by plain gain, each adding a row
    only while it fits, and returns the better (ties: the gain-per-cost run). This is
    within ``(1 - 1/e) / 2`` of the optimum for monotone submodular objectives.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from thresher.select.objectives import FacilityLocationObjective
    >>> f = FacilityLocationObjective(sp.identity(3, format="csr"))
    >>> cost_aware_greedy(f, np.array([1.0, 5.0, 1.0]), 2.5).positions.tolist()
    [0, 2]
    """
    owner = "cost_aware_greedy"
    c = np.asarray(costs, dtype=np.float64)
    if c.shape != (objective.n,) or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise fail("costs", owner, f"a positive finite array of shape ({objective.n},)", c)
    cap = check_float(capacity, "capacity", owner, low=0.0)
    cand = _candidates(objective, candidates)
    by_ratio = _lazy(objective, cand, len(cand), c, cap, per_cost=True)
    by_gain = _lazy(objective, cand, len(cand), c, cap, per_cost=False)
    return by_ratio if by_ratio.value >= by_gain.value else by_gain


def _run(
    optimizer: str, objective: Objective, k: int, rng: np.random.Generator, epsilon: float
) -> GreedyResult:
    if optimizer == "naive":
        return naive_greedy(objective, k)
    if optimizer == "lazy":
        return lazy_greedy(objective, k)
    return stochastic_greedy(objective, k, rng, epsilon=epsilon)


def greedi(
    make_objective: Callable[[np.ndarray], Objective],
    n: int,
    k: int,
    *,
    n_shards: int = 2,
    seed: Seed = None,
    executor: Executor | None = None,
    optimizer: str = "lazy",
    epsilon: float = 0.1,
) -> GreedyResult:
    """Two-round distributed greedy (GreeDi) over ``n`` rows; return positions into ``0..n-1``.

    Rows are split into ``n_shards`` random shards (seeded). Round one builds
    ``make_objective(positions)`` on each shard's rows and runs ``optimizer`` there through
    ``executor`` (each shard with its own seed, so local and Ray agree). Round two builds
    the objective on the union of the shard solutions and runs the optimizer on it. The
    result is the best of the round-two solution and each shard's solution, scored by the
    round-two objective (ties go to the shard solution, so one shard reproduces the
    single-machine optimizer exactly). Gains are those of the chosen round.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from thresher.select.objectives import FacilityLocationObjective
    >>> W = sp.csr_matrix(np.eye(6) + 0.1)
    >>> make = lambda pos: FacilityLocationObjective(W[pos][:, pos])
    >>> r = greedi(make, 6, 2, n_shards=2, seed=0)
    >>> len(r.positions)
    2
    """
    owner = "greedi"
    check_int(n, "n", owner, low=1)
    k = check_int(k, "k", owner, low=0, high=n)
    m = check_int(n_shards, "n_shards", owner, low=1, high=n)
    check_choice(optimizer, "optimizer", owner, OPTIMIZERS)
    perm = as_generator(seed).permutation(n) if m > 1 else np.arange(n)
    shards = make_shards(n, n_shards=m, seed=seed if not isinstance(seed, np.random.Generator) else int(seed.integers(2**63)))

    def round_one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        pos = np.sort(perm[shard.start : shard.stop])
        res = _run(optimizer, make_objective(pos), min(k, len(pos)), shard.rng(), epsilon)
        return pos[res.positions], res.gains

    parts = list(get_executor(executor).map(round_one, shards))
    union = np.unique(np.concatenate([p for p, _ in parts]))
    final = make_objective(union)
    # the round-two seed is the next child of the shards' root seed sequence
    root = shards[0].seed
    rng2 = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key[:-1], m)))
    res2 = _run(optimizer, final, min(k, len(union)), rng2, epsilon)
    best_pos, best_gains = union[res2.positions], res2.gains
    best_val = final.value(res2.positions)
    for pos, gains in parts:
        if len(pos) != len(best_pos):
            continue
        val = final.value(np.searchsorted(union, pos))
        if val >= best_val:
            best_pos, best_gains, best_val = pos, gains, val
    return GreedyResult(np.asarray(best_pos, dtype=np.int64), np.asarray(best_gains, dtype=np.float64))
