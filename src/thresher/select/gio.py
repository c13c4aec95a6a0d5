"""GIO: greedy selection that minimises a kNN estimate of KL(target || selected).

Everaert and Potts, "GIO: Gradient Information Optimization for Training Dataset
Selection" (ICLR 2024). Given target embeddings ``T`` (n rows, d dims) and the rows
selected so far ``V`` (m rows), the divergence is estimated with the 1-nearest-neighbour
estimator of Wang, Kulkarni and Verdu ("Divergence Estimation for Multidimensional
Densities Via k-Nearest-Neighbor Distances", IEEE Trans. Inf. Theory 2009):

``D(T || V) = (d / n) * sum_i log(nu_i / rho_i) + log(m / (n - 1))``,

``rho_i`` the distance from ``t_i`` to its nearest other target row and ``nu_i`` to its
nearest selected row. Each step adds the pool row that lowers ``D`` most; the paper's
stopping rule ends the selection when the best addition would *raise* ``D`` (the
``log m`` term grows with every row, so once the target is covered adding rows stops
paying). Two ways to find the best row:

* ``method="exact"``: every unselected pool row is scored, from a cached (pool x target)
  matrix of log distances computed once in pool shards through the executor (or
  recomputed shard by shard each step when the cache would exceed ``cache_bytes``);
* ``method="gradient"``: the paper's speed-up. ``D`` is differentiable in the location
  ``v`` of a hypothetical new row, ``grad = (d/n) sum_{i: |t_i - v| < nu_i} (v - t_i) /
  |v - t_i|^2``; from a few starting points (near the worst-covered target rows, and at
  random) ``n_steps`` normalised gradient steps move ``v`` to where a new row would help
  most, and the nearest unselected pool rows to the end points are the candidates, scored
  exactly. The cost per step no longer involves a (pool x target) product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.neighbors import knn, pairwise_sq_dists
from thresher.select.base import BaseSelector, Budget

__all__ = ["knn_kl_divergence", "gio_select", "GIO"]

_FLOOR = 1e-12  # distances below this (duplicates) are clipped so that log stays finite


def _log_dist(sq: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * np.log(np.maximum(sq, _FLOOR**2)))


def knn_kl_divergence(T: Any, V: Any) -> float:
    """Return the 1-NN estimate of KL(T || V) (Wang, Kulkarni and Verdu 2009).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> T = rng.normal(size=(500, 2))
    >>> near, far = knn_kl_divergence(T, rng.normal(size=(500, 2))), knn_kl_divergence(T, rng.normal(3, 1, (500, 2)))
    >>> bool(abs(near) < 0.3 and far > 2.0)
    True
    """
    Ta = check_matrix(T, "T", "knn_kl_divergence")
    Va = check_matrix(V, "V", "knn_kl_divergence")
    if len(Ta) < 2 or len(Va) < 1 or Ta.shape[1] != Va.shape[1]:
        raise fail("T", "knn_kl_divergence", "at least 2 rows, with V non-empty and of the same width", Ta.shape)
    n, d = Ta.shape
    rho = knn(Ta, 1).distances[:, 0]
    nu = knn(Va, 1, queries=Ta).distances[:, 0]
    return float(d / n * np.sum(np.log(np.maximum(nu, _FLOOR)) - np.log(np.maximum(rho, _FLOOR))) + np.log(len(Va) / (n - 1)))


class _Scorer:
    """Sum over target rows of min(log |p_b - t_i|, log nu_i) for candidate pool rows ``b``."""

    def __init__(self, P: np.ndarray, T: np.ndarray, executor: Executor, shard_size: int, cache_bytes: int) -> None:
        self.P, self.T, self.ex = P, T, executor
        self.t_sq = np.einsum("ij,ij->i", T, T)
        self.shards = make_shards(len(P), shard_size=shard_size, seed=0)
        self.L: np.ndarray | None = None
        if len(P) * len(T) * 4 <= cache_bytes:
            blocks = list(self.ex.map(lambda s: _log_dist(pairwise_sq_dists(P[s.slice()], T, self.t_sq)).astype(np.float32),
                                      self.shards))
            self.L = np.concatenate(blocks) if blocks else np.zeros((0, len(T)), np.float32)

    def all(self, log_nu: np.ndarray) -> np.ndarray:
        if self.L is not None:
            return np.minimum(self.L, log_nu.astype(np.float32)[None, :]).sum(axis=1, dtype=np.float64)
        P, T, t_sq = self.P, self.T, self.t_sq

        def run(s: Shard) -> np.ndarray:
            return np.minimum(_log_dist(pairwise_sq_dists(P[s.slice()], T, t_sq)), log_nu[None, :]).sum(axis=1)

        return np.concatenate(list(self.ex.map(run, self.shards)))

    def some(self, rows: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        if self.L is not None:
            return np.minimum(self.L[rows], log_nu.astype(np.float32)[None, :]).sum(axis=1, dtype=np.float64)
        return np.minimum(_log_dist(pairwise_sq_dists(self.P[rows], self.T, self.t_sq)), log_nu[None, :]).sum(axis=1)

    def row(self, b: int) -> np.ndarray:
        if self.L is not None:
            return self.L[b].astype(np.float64)
        return _log_dist(pairwise_sq_dists(self.P[b : b + 1], self.T, self.t_sq))[0]


def _gradient_candidates(
    P: np.ndarray, T: np.ndarray, log_nu: np.ndarray, gap: np.ndarray, taken: np.ndarray, rng: np.random.Generator,
    n_starts: int, n_steps: int, step: float, n_near: int,
) -> np.ndarray:
    """Pool rows nearest to the end points of gradient descent on D from a few starts."""
    p_sq = np.einsum("ij,ij->i", P, P)

    def nearest(V: np.ndarray, k: int = 1) -> np.ndarray:
        d = pairwise_sq_dists(V, P, p_sq)
        d[:, taken] = np.inf
        k = min(k, int((~taken).sum()))
        return np.asarray(np.argpartition(d, k - 1, axis=1)[:, :k]).ravel()

    worst = np.argsort(-gap, kind="stable")[: max(1, n_starts - n_starts // 2)]
    free = np.flatnonzero(~taken)
    explore = rng.choice(free, size=min(len(free), n_starts // 2), replace=False)
    starts = np.vstack([P[nearest(T[worst])], P[explore]])
    V = starts.copy()
    nu_sq = np.exp(2.0 * log_nu)
    t_sq = np.einsum("ij,ij->i", T, T)
    for _ in range(n_steps):
        sq = np.maximum(pairwise_sq_dists(V, T, t_sq), _FLOOR**2)  # (starts, targets)
        w = (sq < nu_sq[None, :]) / sq
        grad = V * w.sum(axis=1, keepdims=True) - w @ T  # sum_i w_si (v_s - t_i), no (s, n, d) tensor
        norm = np.linalg.norm(grad, axis=1, keepdims=True)
        V = V - step * np.divide(grad, norm, out=np.zeros_like(grad), where=norm > 0)
    return np.unique(np.concatenate([nearest(V, n_near), nearest(starts, n_near)]))


def gio_select(
    P: Any,
    T: Any,
    n_max: int,
    *,
    method: str = "exact",
    stop_early: bool = True,
    n_starts: int = 32,
    n_steps: int = 20,
    step: float = 0.25,
    n_near: int = 8,
    seed: Any = 0,
    executor: Executor | None = None,
    shard_size: int = 4096,
    cache_bytes: int = 1 << 28,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (pool positions in pick order, KL(T || selected) after each pick).

    At most ``n_max`` rows are picked; with ``stop_early`` the selection ends before the
    first pick that would raise the divergence (GIO's stopping rule). ``method`` is
    ``"exact"`` (every candidate scored) or ``"gradient"`` (the paper's speed-up, see the
    module docstring; ``step`` is in units of the median target nearest-neighbour distance).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> P = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))])
    >>> picks, kl = gio_select(P, rng.normal(8, 1, (30, 2)), 20)
    >>> bool((picks >= 50).all()), bool(np.all(np.diff(kl) <= 0))
    (True, True)
    """
    owner = "gio_select"
    Pa = check_matrix(P, "P", owner)
    Ta = check_matrix(T, "T", owner)
    if Pa.shape[1] != Ta.shape[1]:
        raise fail("T", owner, f"an array with {Pa.shape[1]} columns like the pool", Ta)
    if len(Ta) < 2:
        raise fail("T", owner, "at least 2 target rows", len(Ta))
    check_int(n_max, "n_max", owner, low=1, high=len(Pa))
    check_choice(method, "method", owner, ("exact", "gradient"))
    check_int(n_starts, "n_starts", owner, low=1)
    check_int(n_steps, "n_steps", owner, low=0)
    check_float(step, "step", owner, low=0.0)
    rng = np.random.default_rng(seed)
    n, d = Ta.shape
    log_rho = np.log(np.maximum(knn(Ta, 1).distances[:, 0], _FLOOR))
    const = -d / n * log_rho.sum() - np.log(n - 1)
    scorer = _Scorer(Pa, Ta, get_executor(executor), shard_size, cache_bytes)
    step_abs = step * float(np.median(np.exp(log_rho)))
    log_nu = np.full(n, np.inf)
    taken = np.zeros(len(Pa), dtype=bool)
    picks: list[int] = []
    kls: list[float] = []
    pick_fn: Callable[[], tuple[int, float]]

    def exact() -> tuple[int, float]:
        s = scorer.all(log_nu)
        s[taken] = np.inf
        b = int(np.argmin(s))
        return b, float(s[b])

    def gradient() -> tuple[int, float]:
        if not picks:
            return exact()  # no selected rows yet: one full pass picks the first row
        gap = log_nu - log_rho
        cand = _gradient_candidates(Pa, Ta, log_nu, gap, taken, rng, n_starts, n_steps, step_abs, n_near)
        s = scorer.some(cand, log_nu)
        j = int(np.argmin(s))
        return int(cand[j]), float(s[j])

    pick_fn = exact if method == "exact" else gradient
    for m in range(1, n_max + 1):
        b, new_sum = pick_fn()
        kl = d / n * new_sum + np.log(m) + const
        if stop_early and kls and kl > kls[-1]:
            break
        picks.append(b)
        kls.append(float(kl))
        taken[b] = True
        log_nu = np.minimum(log_nu, scorer.row(b))
    return np.asarray(picks, dtype=np.int64), np.asarray(kls)


@register_selector("gio")
class GIO(BaseSelector):
    """Pick pool rows that make the selection's embedding distribution match a target set (GIO).

    Everaert and Potts, "GIO: Gradient Information Optimization for Training Dataset
    Selection" (ICLR 2024): greedy minimisation of a kNN estimate of KL(target ||
    selected) on ``embeddings``. Target rows are those where column ``target`` is true;
    the others form the pool. Returns pool row ids in pick order with the divergence
    after each pick as ``gains``. With ``stop_early`` the selection may end before the
    budget, when the next pick would raise the divergence (the paper's stopping rule).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(8, 1, (40, 2)), rng.normal(8, 1, (20, 2))])
    >>> t = Table(columns={"flag.target": np.arange(100) >= 80}, matrices={"embeddings": X})
    >>> sel = GIO().select(t, Budget(n=10))
    >>> bool((sel.row_ids >= 40).all() and (sel.row_ids < 80).all())
    True
    """

    name = "gio"
    requires = frozenset({"embeddings"})
    may_stop_early = True

    def __init__(self, target: str = "flag.target", method: str = "exact", stop_early: bool = False,
                 n_starts: int = 32, n_steps: int = 20, executor: Executor | None = None) -> None:
        self.target = target
        self.method = method
        self.stop_early = stop_early
        self.n_starts = n_starts
        self.n_steps = n_steps
        self.executor = executor

    def required_columns(self) -> frozenset[str]:
        return self.requires | {self.target}

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> Any:
        owner = type(self).__name__
        v = np.asarray(table.column(self.target))
        is_t = v.astype(bool) if v.dtype != object else np.array([bool(x) for x in v])
        pool = np.flatnonzero(~is_t)
        if is_t.sum() < 2:
            raise DataError(f"{owner} needs at least 2 target rows (column {self.target!r} true); got {int(is_t.sum())}.")
        if k > len(pool):
            raise fail("budget", owner, f"at most the number of pool rows ({len(pool)})", k)
        X = table.embeddings
        picks, kl = gio_select(X[pool], X[is_t], k, method=self.method, stop_early=self.stop_early,
                               n_starts=self.n_starts, n_steps=self.n_steps, seed=rng, executor=self.executor)
        return pool[picks], kl, None

    @classmethod
    def conformance_table(cls) -> Table:
        rng = np.random.default_rng(0)
        n = 60
        X = rng.normal(size=(n, 3)) + 3.0 * np.eye(3)[np.arange(n) % 3]
        return Table(np.arange(900, 900 + n), columns={"flag.target": np.arange(n) % 6 == 0}, matrices={"embeddings": X})
