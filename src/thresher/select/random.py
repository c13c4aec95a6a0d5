"""Uniform random selection: the baseline every other selector must beat."""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["RandomSelector"]


@register_selector("random")
class RandomSelector(BaseSelector):
    """Select rows uniformly at random without replacement.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.zeros(10)})
    >>> len(RandomSelector().select(t, Budget(n=3), seed=0))
    3
    """

    name = "random"
    is_stochastic = True

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> np.ndarray:
        return rng.choice(table.n_rows, size=k, replace=False)
