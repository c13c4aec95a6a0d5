"""Select under a budget after semantic deduplication (SemDeDup)."""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher.data.table import Table
from thresher.scores.semdedup import SemDeDupCount
from thresher.select.base import BaseSelector, Budget

__all__ = ["SemDeDupSelector"]


@register_selector("semdedup")
class SemDeDupSelector(BaseSelector):
    """Keep the rows SemDeDup does not drop as near-duplicates, at random, up to the budget.

    Abbas et al., "SemDeDup" (2023). Every kept row comes before every dropped one: the
    budget is filled from the deduplicated rows (a seeded random order among them) and
    only when it exceeds them from the dropped rows with the fewest near-duplicates.
    Gains are 1 for deduplicated rows and 0 for dropped ones.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [1.0, 0.001], [0.0, 1.0], [-1.0, 0.2]])
    >>> sel = SemDeDupSelector(n_clusters=2, eps=0.01).select(Table(matrices={"embeddings": X}), Budget(n=3), seed=0)
    >>> sorted(sel.row_ids.tolist()), sel.gains.tolist()
    ([0, 2, 3], [1.0, 1.0, 1.0])
    """

    name = "semdedup"
    requires = frozenset({"embeddings"})

    def __init__(self, n_clusters: int = 100, eps: float = 0.05, which_to_keep: str = "hard") -> None:
        self.n_clusters = n_clusters
        self.eps = eps
        self.which_to_keep = which_to_keep

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        scorer = SemDeDupCount(self.n_clusters, self.eps, self.which_to_keep)
        res = scorer.run(table, seed=int(rng.integers(2**31)))
        noise = rng.random(table.n_rows)
        order = np.lexsort((noise, np.where(res.is_duplicate, res.n_similar, -1), res.is_duplicate))[:k]
        return order, (~res.is_duplicate[order]).astype(np.float64), None

    @classmethod
    def make_example(cls) -> SemDeDupSelector:
        return cls(n_clusters=3, eps=0.3)
