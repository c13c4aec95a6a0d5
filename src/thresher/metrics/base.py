"""Typed metric results and the base class every set metric derives from.

A metric maps a table (the set) and, for comparative metrics, a ``reference`` table
(e.g. the full data a subset came from) to a :class:`MetricResult`, which always carries
the value, the parameters it was computed with and any extra numbers (p-values,
approximation error, component values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from thresher._typing import Seed, as_generator
from thresher.data.table import Table

__all__ = ["MetricResult", "BaseMetric"]


@dataclass(frozen=True)
class MetricResult:
    """A metric's value with the parameters used and any extra numbers."""

    name: str
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "params": self.params, "details": self.details}


def _canonical(table: Table) -> Table:
    """Put rows in ``row_id`` order so a metric (random parts included) ignores row order."""
    from thresher.select.base import canonical_order

    order = canonical_order(table)
    return table if order is None else table.take(order)


class BaseMetric:
    """Shared machinery of every metric: override ``_compute``."""

    name: ClassVar[str] = "base"
    requires: ClassVar[frozenset[str]] = frozenset()
    needs_reference: ClassVar[bool] = False

    def compute(self, table: Table, *, reference: Table | None = None, seed: Seed = None) -> MetricResult:
        """Return the metric of ``table`` (against ``reference`` when the metric compares sets)."""
        owner = type(self).__name__
        table.check_not_empty(owner)
        table.require(self.requires, owner)
        if self.needs_reference:
            if reference is None:
                from thresher._validation import fail

                raise fail("reference", owner, "a Table to compare against", reference)
            reference.check_not_empty(owner)
            reference.require(self.requires, owner)
        table = _canonical(table)
        reference = None if reference is None else _canonical(reference)
        return self._compute(table, reference, as_generator(seed))

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def make_example(cls) -> BaseMetric:
        return cls()
