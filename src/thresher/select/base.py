"""Budgets, selections and the base class every selector derives from.

A selector turns a :class:`~thresher.data.Table` and a :class:`Budget` into a
:class:`Selection` (row ids, ordered by when they were picked). ``BaseSelector.select``
does the shared work once: validating the budget, checking the columns the selector
needs, putting rows in a canonical order (by ``row_id``) so that results do not depend on
the order rows arrived in, and wrapping the result. A selector writes one method,
``_select(table, k, rng) -> positions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from thresher._typing import Seed, as_generator, seed_int
from thresher._validation import check_float, check_int, check_score_column, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError

__all__ = ["Budget", "Selection", "BaseSelector", "canonical_order"]


@dataclass(frozen=True)
class Budget:
    """How much to keep: exactly one of ``n`` (rows) or ``fraction`` (of rows).

    With ``cost`` naming a per-row cost column, ``n``/``fraction`` bound the total cost
    instead (``fraction`` of the total cost of all rows); only cost-aware selectors accept it.

    Examples
    --------
    >>> Budget(fraction=0.25).resolve(10)
    2
    >>> Budget(n=3).resolve(10)
    3
    """

    n: int | None = None
    fraction: float | None = None
    cost: str | None = None

    def __post_init__(self) -> None:
        if (self.n is None) == (self.fraction is None):
            raise InvalidParameterError(
                f"Budget takes exactly one of `n` or `fraction`; got n={self.n!r}, fraction={self.fraction!r}."
            )
        if self.n is not None:
            check_int(self.n, "budget.n", "Budget", low=1)
        if self.fraction is not None:
            check_float(self.fraction, "budget.fraction", "Budget", low=0.0, high=1.0, low_open=True)

    def resolve(self, n_rows: int, owner: str = "Budget") -> int:
        """Return the number of rows to keep out of ``n_rows`` (rounded, at least 1)."""
        if self.cost is not None:
            raise InvalidParameterError(
                f"`budget.cost` of {owner} is not supported (it is not cost-aware); got cost={self.cost!r}."
            )
        if self.n is not None:
            if self.n > n_rows:
                raise fail("budget.n", owner, f"at most the number of rows ({n_rows})", self.n)
            return int(self.n)
        assert self.fraction is not None
        return max(1, min(n_rows, int(round(self.fraction * n_rows))))

    def capacity(self, costs: np.ndarray) -> float:
        """Return the cost capacity for per-row ``costs`` (``n`` or ``fraction`` of the total)."""
        if self.n is not None:
            return float(self.n)
        assert self.fraction is not None
        return float(self.fraction * float(np.sum(costs)))

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "fraction": self.fraction, "cost": self.cost}


@dataclass(frozen=True)
class Selection:
    """The rows a selector kept, in the order it picked them.

    ``gains`` holds marginal gains (greedy methods) or scores; ``weights`` holds
    importance weights for unbiased training (sampling methods). Both align with ``row_ids``.
    """

    row_ids: np.ndarray
    selector: str
    budget: Budget
    seed: int | None
    gains: np.ndarray | None = None
    weights: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.row_ids))

    def to_pandas(self) -> Any:
        import pandas as pd

        data: dict[str, Any] = {"row_id": self.row_ids, "rank": np.arange(len(self.row_ids))}
        if self.gains is not None:
            data["gain"] = self.gains
        if self.weights is not None:
            data["weight"] = self.weights
        return pd.DataFrame(data)


def canonical_order(table: Table) -> np.ndarray | None:
    """Return positions that sort ``table`` by ``row_id``, or ``None`` if it is already sorted."""
    ids = table.row_id
    if ids.dtype == object:
        order = np.argsort(ids.astype(str), kind="stable")
    else:
        if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
            return None
        order = np.argsort(ids, kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return None
    return order


class BaseSelector:
    """Shared machinery of every selector: override ``_select`` (and ``requires``)."""

    name: ClassVar[str] = "base"
    requires: ClassVar[frozenset[str]] = frozenset()
    is_stochastic: ClassVar[bool] = False
    supports_cost: ClassVar[bool] = False
    may_stop_early: ClassVar[bool] = False  # a stopping rule may end the selection below the budget (GIO)

    def select(self, table: Table, budget: Budget, *, seed: Seed = None) -> Selection:
        """Return the rows to keep under ``budget``."""
        owner = type(self).__name__
        if not isinstance(budget, Budget):
            raise fail("budget", owner, "a Budget", budget)
        table.check_not_empty(owner)
        table.require(self.required_columns(), owner)
        n_all = table.n_rows
        table = self._check_scores(table, owner)
        order = canonical_order(table)
        t = table if order is None else table.take(order)
        if budget.cost is not None and not self.supports_cost:
            budget.resolve(t.n_rows, owner)  # raises the standard error
        k = budget.resolve(n_all, owner) if budget.cost is None else -1
        if k > t.n_rows:
            raise fail(
                "budget", owner, f"at most the {t.n_rows} rows with a score (nan_policy='drop' left {n_all - t.n_rows} out)", k
            )
        rng = as_generator(seed)
        out = self._select(t, k, rng, budget)
        pos, gains, weights = (out if isinstance(out, tuple) else (out, None, None))
        pos = np.asarray(pos, dtype=np.int64)
        if budget.cost is None and len(pos) != k and not (self.may_stop_early and len(pos) < k):
            raise RuntimeError(f"{owner} returned {len(pos)} rows for a budget of {k}")  # a bug, not user error
        if len(np.unique(pos)) != len(pos):
            raise RuntimeError(f"{owner} returned duplicate rows")
        return Selection(
            row_ids=t.row_id[pos],
            selector=self.name,
            budget=budget,
            seed=seed_int(seed),
            gains=None if gains is None else np.asarray(gains, dtype=np.float64),
            weights=None if weights is None else np.asarray(weights, dtype=np.float64),
            params=self.get_params(),
        )

    def _check_scores(self, table: Table, owner: str) -> Table:
        """Reject NaN in the score columns read, unless the selector's ``nan_policy`` is ``"drop"``.

        With ``"drop"``, rows with a NaN score are not candidates (a budget fraction is
        still of all rows, so arms stay comparable with random at the same size); a
        selector offers the policy as a ``nan_policy`` parameter.
        """
        policy = getattr(self, "nan_policy", "raise")
        keep = np.ones(table.n_rows, dtype=bool)
        for c in sorted(self.required_columns()):
            if c.startswith("score."):
                if c in table.column_names:
                    keep &= ~np.isnan(check_score_column(table.column(c), c, owner, nan_policy=policy))
        return table if keep.all() else table.take(keep)

    def required_columns(self) -> frozenset[str]:
        """Columns this instance needs (defaults to the class's ``requires``)."""
        return self.requires

    def _select(
        self, table: Table, k: int, rng: np.random.Generator, budget: Budget
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def make_example(cls) -> BaseSelector:
        """Return an instance for the conformance tests (override when parameters are required)."""
        return cls()
