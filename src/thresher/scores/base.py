"""The base class every scorer derives from.

A scorer maps a :class:`~thresher.data.Table` to one float64 value per row, written as
the column ``score.<name>``. ``higher_is_better`` says which end is "more worth keeping",
so selectors such as ``TopK`` can take the best rows without knowing the scorer.
``BaseScorer.score`` validates, puts rows in canonical order (by ``row_id``) so results
do not depend on row order, calls ``_score`` and checks the output.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from thresher._typing import Seed, as_generator
from thresher.data.table import Table
from thresher.select.base import canonical_order

__all__ = ["BaseScorer"]


class BaseScorer:
    """Shared machinery of every scorer: override ``_score`` (and ``name``/``requires``)."""

    name: ClassVar[str] = "base"
    higher_is_better: ClassVar[bool] = True
    requires: ClassVar[frozenset[str]] = frozenset()
    is_stochastic: ClassVar[bool] = False
    rowwise: ClassVar[bool] = False  # see is_rowwise()

    @property
    def column(self) -> str:
        """Name of the column this scorer writes."""
        return f"score.{self.name}"

    def score(self, table: Table, *, seed: Seed = None) -> np.ndarray:
        """Return one float64 score per row of ``table`` (same order as the table)."""
        owner = type(self).__name__
        table.check_not_empty(owner)
        table.require(self.requires, owner)
        order = canonical_order(table)
        t = table if order is None else table.take(order)
        values = np.asarray(self._score(t, as_generator(seed)), dtype=np.float64)
        if values.shape != (t.n_rows,):
            raise RuntimeError(f"{owner} returned shape {values.shape} for {t.n_rows} rows")  # a bug
        if order is None:
            return values
        out = np.empty_like(values)
        out[order] = values
        return out

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def is_rowwise(self) -> bool:
        """Return whether a row's score depends on that row alone (and on fitted state).

        Such a scorer gives the same values on any batching of the rows, so it can run
        out of core (:func:`thresher.stream.scores.stream_scores`). The conformance suite
        checks the claim for every scorer that makes it.
        """
        return type(self).rowwise

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def make_example(cls) -> BaseScorer:
        """Return an instance for the conformance tests (override when parameters are required)."""
        return cls()
