"""DEITA: walk rows best score first, keep a row only if it is far from every row kept so far.

Liu, Zeng, He, Jiang & He, "What Makes Good Data for Alignment? A Comprehensive Study of
Automatic Data Selection in Instruction Tuning" (DEITA, ICLR 2024), the *Repr Filter*:
rows are visited in decreasing score order (any score column; a fused one such as
``score.fuse`` is the paper's setting) and a row is accepted only if its cosine distance
to every accepted row is at least ``tau``. The paper fixes ``tau`` and stops at the
budget; here ``tau`` may be left to the selector, which finds by bisection the largest
``tau`` whose walk still accepts the whole budget, so the budget is always filled and the
kept rows are as spread as the walk allows.

With ``tau = 0`` every row passes and the result is plain top-k. The number of rows a
walk accepts is not monotone in ``tau`` in general (a greedy walk), so the bisection keeps
the invariant "the lower end fills the budget" and returns the walk at that end: the
returned rows always fill the budget and are pairwise at least the returned ``tau_`` apart.
The walk is blocked: a block of candidates is screened against the accepted rows with
one matrix product, and only survivors are checked one by one against each other.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.select.base import BaseSelector, Budget

__all__ = ["DEITA", "diverse_walk"]


def diverse_walk(U: np.ndarray, order: np.ndarray, tau: float, k: int, block: int = 512) -> np.ndarray:
    """Return positions accepted by the walk over ``order`` (at most ``k``), each >= ``tau`` from the others.

    ``U`` holds unit-norm rows; the cosine distance is ``1 - u . v``.

    Examples
    --------
    >>> U = np.array([[1.0, 0.0], [0.995, 0.0998], [0.0, 1.0]])
    >>> diverse_walk(U, np.array([0, 1, 2]), tau=0.1, k=3).tolist()
    [0, 2]
    """
    acc: list[int] = []
    A = np.empty((k, U.shape[1]))
    max_sim = 1.0 - tau
    for start in range(0, len(order), block):
        cand = order[start : start + block]
        if acc:
            ok = (U[cand] @ A[: len(acc)].T).max(axis=1) <= max_sim
            cand = cand[ok]
        if len(cand) == 0:
            continue
        S = U[cand] @ U[cand].T
        kept: list[int] = []
        for j in range(len(cand)):
            if kept and S[j, kept].max() > max_sim:
                continue
            kept.append(j)
            A[len(acc)] = U[cand[j]]
            acc.append(int(cand[j]))
            if len(acc) == k:
                return np.asarray(acc, dtype=np.int64)
    return np.asarray(acc, dtype=np.int64)


@register_selector("deita")
class DEITA(BaseSelector):
    """Take rows in score order, skipping any within cosine distance ``tau`` of a kept row (DEITA).

    After selecting, ``tau_`` holds the threshold used.

    Parameters
    ----------
    by
        Score column giving the walk order (e.g. ``"score.fuse"``).
    largest
        Walk from the largest score (``True``) or the smallest.
    tau
        Minimum cosine distance between kept rows; ``None`` finds the largest that fills the budget.
    n_bisect
        Bisection steps for ``tau=None`` (each step is one walk).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [0.7, 0.7]])
    >>> t = Table(columns={"score.s": np.array([5.0, 4.0, 3.0, 2.0, 1.0])}, matrices={"embeddings": X})
    >>> DEITA(by="score.s").select(t, Budget(n=3)).row_ids.tolist()  # top-3 would be [0, 1, 2]
    [0, 2, 4]
    """

    name = "deita"
    requires = frozenset({"embeddings"})

    def __init__(self, by: str = "score", largest: bool = True, tau: float | None = None, n_bisect: int = 30) -> None:
        self.by = by
        self.largest = largest
        self.tau = tau
        self.n_bisect = n_bisect

    def required_columns(self) -> frozenset[str]:
        return self.requires | {self.by}

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        check_int(self.n_bisect, "n_bisect", owner, low=1)
        v = np.asarray(table.column(self.by), dtype=np.float64)
        if np.isnan(v).any():
            raise fail(f"column {self.by!r}", owner, "free of NaN", f"{int(np.isnan(v).sum())} NaN values")
        X = check_matrix(table.embeddings, "embeddings", owner)
        norms = np.linalg.norm(X, axis=1)
        if np.any(norms == 0):
            raise DataError(f"`embeddings` of {owner} must have no all-zero rows (cosine distance); got {int((norms == 0).sum())}.")
        U = X / norms[:, None]
        order = np.argsort(-v if self.largest else v, kind="stable")
        if self.tau is not None:
            tau = check_float(self.tau, "tau", owner, low=0.0, high=2.0)
            pos = diverse_walk(U, order, tau, k)
            if len(pos) < k:
                raise fail("tau", owner, f"small enough for the walk to accept {k} rows (it accepted {len(pos)}); use tau=None", tau)
        else:
            lo, hi = 0.0, 2.0 + 1e-9
            pos = order[:k]
            for _ in range(self.n_bisect):
                mid = 0.5 * (lo + hi)
                trial = diverse_walk(U, order, mid, k)
                if len(trial) == k:
                    lo, pos = mid, trial
                else:
                    hi = mid
            tau = lo
        self.tau_ = float(tau)
        return pos, v[pos], None

    @classmethod
    def make_example(cls) -> DEITA:
        return cls(by="score.example", n_bisect=12)
