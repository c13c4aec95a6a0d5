"""Top-k and bottom-k by any score column."""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["TopK", "BottomK"]


@register_selector("topk")
class TopK(BaseSelector):
    """Select the k rows with the largest (or smallest) values of a score column.

    Ties are broken by ``row_id`` (stable sort), so the result never depends on row order.
    A NaN score is an error unless ``nan_policy="drop"``, which leaves those rows out.

    Parameters
    ----------
    by
        Column to rank by, e.g. ``"score.margin"``.
    largest
        Take the largest values (``True``) or the smallest.
    nan_policy
        ``"raise"``: a NaN in ``by`` is an error; ``"drop"``: rows with a NaN score are not
        candidates (the budget is still a fraction of all rows).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"score.s": np.array([0.2, 0.9, 0.5])})
    >>> TopK(by="score.s").select(t, Budget(n=2)).row_ids.tolist()
    [1, 2]
    """

    name = "topk"
    largest_default = True

    def __init__(self, by: str = "score", largest: bool | None = None, nan_policy: str = "raise") -> None:
        self.by = by
        self.largest = self.largest_default if largest is None else largest
        self.nan_policy = nan_policy

    def required_columns(self) -> frozenset[str]:
        return frozenset({self.by})

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        v = np.asarray(table.column(self.by), dtype=np.float64)
        key = -v if self.largest else v
        key = np.where(np.isnan(key), np.inf, key)
        order = np.argsort(key, kind="stable")[:k]
        return order, v[order], None

    @classmethod
    def make_example(cls) -> TopK:
        return cls(by="score.example")


@register_selector("bottomk")
class BottomK(TopK):
    """Select the k rows with the smallest values of a score column (TopK with largest=False).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"score.s": np.array([0.2, 0.9, 0.5])})
    >>> BottomK(by="score.s").select(t, Budget(n=1)).row_ids.tolist()
    [0]
    """

    name = "bottomk"
    largest_default = False
