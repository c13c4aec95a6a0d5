"""Coverage-centric coreset selection (CCS).

Zheng, Liu, Li & Prakash, "Coverage-centric Coreset Selection for High Pruning Rates",
ICLR 2023. Remove the hardest ``beta`` fraction of rows (likely mislabelled or
unlearnable), split the score range of the rest into equal-width strata, and spend the
budget evenly across strata: visiting strata from smallest to largest, each takes
``min(size, remaining budget / strata left)`` rows at random, so small strata are taken
whole and their leftover budget flows to the larger ones.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["CCS", "stratum_quotas"]


def stratum_quotas(sizes: np.ndarray, k: int) -> np.ndarray:
    """Return how many rows each stratum gives to a budget of ``k`` (CCS's allocation).

    Examples
    --------
    >>> stratum_quotas(np.array([1, 10, 10]), 9).tolist()
    [1, 4, 4]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    quotas = np.zeros_like(sizes)
    remaining = int(k)
    order = np.argsort(sizes, kind="stable")
    left = int(np.count_nonzero(sizes))
    for i in order:
        if sizes[i] == 0:
            continue
        take = min(int(sizes[i]), remaining // left)
        quotas[i] = take
        remaining -= take
        left -= 1
    # integer division can leave a few rows unspent: give them to strata with room, largest first
    for i in order[::-1]:
        if remaining == 0:
            break
        extra = min(remaining, int(sizes[i] - quotas[i]))
        quotas[i] += extra
        remaining -= extra
    return quotas


@register_selector("ccs")
class CCS(BaseSelector):
    """Prune the hardest ``beta`` fraction, then sample evenly across score strata.

    Parameters
    ----------
    by
        Difficulty score column (e.g. ``"score.el2n"``, ``"score.entropy"``).
    beta
        Fraction of the hardest rows removed first (in [0, 1)).
    n_strata
        Number of equal-width score strata.
    hardest
        Which end of the score is hardest: ``"high"`` or ``"low"``.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"score.d": np.linspace(0, 1, 100)})
    >>> s = CCS(by="score.d", beta=0.1, n_strata=10).select(t, Budget(n=20), seed=0)
    >>> len(s), bool(max(s.row_ids) < 90)
    (20, True)
    """

    name = "ccs"
    is_stochastic = True

    def __init__(self, by: str = "score", beta: float = 0.1, n_strata: int = 50, hardest: str = "high") -> None:
        self.by = by
        self.beta = beta
        self.n_strata = n_strata
        self.hardest = hardest

    def required_columns(self) -> frozenset[str]:
        return frozenset({self.by})

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        check_float(self.beta, "beta", owner, low=0.0, high=1.0, high_open=True)
        check_int(self.n_strata, "n_strata", owner, low=1)
        check_choice(self.hardest, "hardest", owner, ("high", "low"))
        v = np.asarray(table.column(self.by), dtype=np.float64)
        if np.isnan(v).any():
            raise fail(f"column {self.by!r}", owner, "free of NaN", f"{int(np.isnan(v).sum())} NaN values")
        n = len(v)
        n_prune = int(np.floor(self.beta * n))
        if n - n_prune < k:
            n_prune = n - k  # keep the budget attainable, as the CCS reference code does
        hard_key = -v if self.hardest == "high" else v
        order = np.argsort(hard_key, kind="stable")  # hardest first
        kept = np.sort(order[n_prune:])
        sv = v[kept]
        lo, hi = float(sv.min()), float(sv.max())
        if hi > lo:
            edges = np.linspace(lo, hi, self.n_strata + 1)
            stratum = np.clip(np.searchsorted(edges, sv, side="right") - 1, 0, self.n_strata - 1)
        else:
            stratum = np.zeros(len(sv), dtype=np.int64)
        sizes = np.bincount(stratum, minlength=self.n_strata)
        quotas = stratum_quotas(sizes, k)
        picked = []
        for s in range(self.n_strata):
            if quotas[s]:
                members = kept[stratum == s]
                picked.append(rng.choice(members, size=int(quotas[s]), replace=False))
        pos = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
        return pos, v[pos], None

    @classmethod
    def make_example(cls) -> CCS:
        return cls(by="score.example", beta=0.1, n_strata=5)
