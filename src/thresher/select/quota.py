"""Quotas: wrap any selector with per-class or per-group minimum / maximum counts.

The wrapped (base) selector ranks rows: it is asked for ``pool`` rows (all rows by
default), and rows it did not rank follow in ``row_id`` order. Rows are then accepted in
that order, skipping a row when its category is full (at its maximum) or when taking it
would leave fewer free slots than the categories still below their minimum need. With
feasible quotas (checked first: every minimum fits in its category and in the budget,
and the maxima leave room for the budget) this always returns exactly the budget, and
every quota holds: one pass, ``O(n)`` after the base ranking.

Quotas are counts (``int``), proportions of the budget (``float`` in [0, 1]; minima round
up, maxima round down), either the same for every category or a ``dict`` per category.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thresher._registry import SELECTORS, register_selector
from thresher._validation import check_int, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import BaseSelector, Budget

__all__ = ["Quota", "resolve_quotas", "fill_with_quotas"]

QuotaSpec = int | float | dict[Any, int | float] | None


def _one(value: Any, k: int, param: str, owner: str, *, is_min: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise fail(param, owner, "an int count, a float proportion in [0, 1], or a dict of those", value)
    if isinstance(value, (int, np.integer)):
        return check_int(value, param, owner, low=0)
    if not 0.0 <= float(value) <= 1.0:
        raise fail(param, owner, "a proportion in [0, 1] when a float", value)
    x = float(value) * k
    return int(math.ceil(x - 1e-9)) if is_min else int(math.floor(x + 1e-9))


def resolve_quotas(
    categories: list[Any], sizes: np.ndarray, k: int, minimum: QuotaSpec, maximum: QuotaSpec, owner: str = "Quota"
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-category (min, max) counts for a budget ``k``, or raise if they cannot all hold.

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = resolve_quotas(["a", "b"], np.array([5, 20]), 10, {"a": 3}, 0.8)
    >>> lo.tolist(), hi.tolist()
    ([3, 0], [5, 8])
    """
    n_cat = len(categories)
    lo = np.zeros(n_cat, dtype=np.int64)
    hi = sizes.astype(np.int64).copy()
    for spec, arr, param, is_min in ((minimum, lo, "minimum", True), (maximum, hi, "maximum", False)):
        if spec is None:
            continue
        if isinstance(spec, dict):
            known = {c: i for i, c in enumerate(categories)}
            for key, v in spec.items():
                if key not in known:
                    raise fail(param, owner, f"keyed by categories present in the table ({categories[:10]})", key)
                val = _one(v, k, f"{param}[{key!r}]", owner, is_min=is_min)
                arr[known[key]] = val if is_min else min(val, int(sizes[known[key]]))
        else:
            val = _one(spec, k, param, owner, is_min=is_min)
            arr[:] = val if is_min else np.minimum(val, sizes)
    for i, c in enumerate(categories):
        if lo[i] > sizes[i]:
            raise InvalidParameterError(
                f"`minimum` of {owner} must not exceed the rows of category {c!r} ({sizes[i]}); got {lo[i]}."
            )
        if lo[i] > hi[i]:
            raise InvalidParameterError(
                f"`minimum` of {owner} must not exceed `maximum` for category {c!r}; got {lo[i]} > {hi[i]}."
            )
    if lo.sum() > k:
        raise InvalidParameterError(f"`minimum` of {owner} must sum to at most the budget ({k}); got {int(lo.sum())}.")
    if hi.sum() < k:
        raise InvalidParameterError(
            f"`maximum` of {owner} must leave room for the budget ({k}); got at most {int(hi.sum())} rows."
        )
    return lo, hi


def fill_with_quotas(ranking: np.ndarray, codes: np.ndarray, k: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Accept positions from ``ranking`` in order so that every category ends within [lo, hi].

    ``codes[i]`` is the category index of position ``i``; ``ranking`` must list every
    position once. Returns ``k`` positions in acceptance order.

    Examples
    --------
    >>> import numpy as np
    >>> fill_with_quotas(np.arange(6), np.array([0, 0, 0, 0, 1, 1]), 3, np.array([0, 1]), np.array([3, 3])).tolist()
    [0, 1, 4]
    """
    count = np.zeros(len(lo), dtype=np.int64)
    deficit = int(lo.sum())
    out: list[int] = []
    for r in ranking.tolist():
        if len(out) == k:
            break
        c = codes[r]
        if count[c] >= hi[c]:
            continue
        below = count[c] < lo[c]
        if below or k - len(out) > deficit:
            out.append(r)
            count[c] += 1
            if below:
                deficit -= 1
    return np.asarray(out, dtype=np.int64)


@register_selector("quota")
class Quota(BaseSelector):
    """Wrap a selector so each class or group gets between a minimum and a maximum number of rows.

    Parameters
    ----------
    base
        Registered selector name or a selector instance whose ranking is followed.
    base_params
        Parameters for ``base`` when it is a name.
    by
        Category column (``"label"``, ``"group"``, ...).
    minimum, maximum
        Count (int), proportion of the budget (float), or a dict of those per category.
    pool
        Rows the base selector ranks; ``None`` means all rows (exact, but greedy bases then
        rank every row). Rows it does not rank follow in ``row_id`` order.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 0, 0, 0, 1, 1]), "score.s": np.arange(6.0)[::-1]})
    >>> q = Quota("topk", {"by": "score.s"}, by="label", minimum=1)
    >>> q.select(t, Budget(n=3)).row_ids.tolist()
    [0, 1, 4]
    """

    name = "quota"
    is_stochastic = True

    def __init__(
        self,
        base: str | BaseSelector = "random",
        base_params: dict[str, Any] | None = None,
        by: str = "label",
        minimum: QuotaSpec = None,
        maximum: QuotaSpec = None,
        pool: int | None = None,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.by = by
        self.minimum = minimum
        self.maximum = maximum
        self.pool = pool

    def _base(self) -> BaseSelector:
        owner = type(self).__name__
        if isinstance(self.base, BaseSelector):
            if self.base_params:
                raise fail("base_params", owner, "None when `base` is an instance", self.base_params)
            return self.base
        if not isinstance(self.base, str):
            raise fail("base", owner, "a selector name or instance", self.base)
        if self.base == self.name:
            raise fail("base", owner, "another selector than 'quota'", self.base)
        return SELECTORS.create(self.base, **(self.base_params or {}))

    def required_columns(self) -> frozenset[str]:
        return self._base().required_columns() | {self.by}

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> np.ndarray:
        owner = type(self).__name__
        base = self._base()
        n = table.n_rows
        pool = n if self.pool is None else min(check_int(self.pool, "pool", owner, low=1), n)
        cat_values = table.column(self.by)
        categories, codes = np.unique(cat_values, return_inverse=True)
        cats = categories.tolist()
        sizes = np.bincount(codes, minlength=len(cats))
        lo, hi = resolve_quotas(cats, sizes, k, self.minimum, self.maximum, owner)
        ranked = base.select(table, Budget(n=pool), seed=rng)
        first = table.positions(ranked.row_ids)
        rest = np.setdiff1d(np.arange(n), first)  # sorted: row_id order (table is canonical)
        return fill_with_quotas(np.concatenate([first, rest]), codes, k, lo, hi)

    def get_params(self) -> dict[str, Any]:
        p = super().get_params()
        if isinstance(self.base, BaseSelector):
            p["base"] = repr(self.base)
        return p

    @classmethod
    def make_example(cls) -> Quota:
        return cls(base="random", by="label", minimum=2, maximum=0.5)
