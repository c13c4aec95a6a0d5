"""Leave-one-out values: ``U(all) - U(all minus i)`` for any scikit-learn estimator and metric.

The utility is :class:`thresher.scores.utility.Utility`; each row's refit is one shard of
an :class:`~thresher.execute.Executor`. (Koh & Liang, ICML 2017, and Ghorbani & Zou,
ICML 2019, use it as the baseline data value.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher.data.table import Table
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.scores.base import BaseScorer
from thresher.scores.utility import Utility, UtilityLike
from thresher.scores.valuation import resolve_valid, scatter_values, valuation_conformance_table

__all__ = ["leave_one_out", "LeaveOneOut"]


def leave_one_out(utility: UtilityLike, *, executor: Executor | None = None) -> np.ndarray:
    """Return ``U(all) - U(all minus i)`` for every training row (one shard per row).

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.scores.utility import KNNUtility
    >>> u = KNNUtility(np.array([[0.0], [0.1], [5.0]]), np.array([0, 0, 1]), np.array([[0.0], [5.0]]), np.array([0, 1]), k=1)
    >>> leave_one_out(u).tolist()
    [0.0, 0.0, 0.5]
    """
    n = utility.n
    full = utility(np.arange(n))
    everyone = np.arange(n)

    def drop(shard: Shard) -> np.ndarray:
        return np.array([full - utility(np.delete(everyone, i)) for i in range(shard.start, shard.stop)])

    shards = make_shards(n, shard_size=max(1, math.ceil(n / 16)))
    return np.concatenate(list((executor or LocalExecutor()).map(drop, shards)))



@register_scorer("loo")
class LeaveOneOut(BaseScorer):
    """Score each row by leave-one-out: utility of all training rows minus utility without it.

    The utility is a scikit-learn estimator fitted on the training rows and scored with
    ``metric`` on the validation set (see :class:`thresher.scores.utility.Utility`).
    ``n + 1`` fits, run through ``executor``.

    Parameters
    ----------
    valid
        A validation :class:`Table` or the name of a ``split`` value (those rows get NaN).
    estimator
        Any scikit-learn classifier; ``None``: scaled logistic regression.
    metric
        ``"accuracy"`` or any scikit-learn scorer name.
    executor
        Where the fits run.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 0, 1, 1, 0, 1]),
    ...                    "split": np.array(["train"] * 4 + ["valid"] * 2)},
    ...           matrices={"embeddings": np.array([[0.0], [0.5], [5.0], [19.0], [0.2], [4.9]])})
    >>> LeaveOneOut(valid="valid", estimator=KNeighborsClassifier(1)).score(t).tolist()
    [0.0, 0.0, 0.5, 0.0, nan, nan]
    """

    name = "loo"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        split = resolve_valid(table, self.valid, owner, allow_none=False)
        assert split.X_valid is not None and split.y_valid is not None
        pos = split.train_positions
        utility = Utility(
            table.embeddings[pos], np.asarray(table.labels)[pos], split.X_valid, split.y_valid,
            estimator=self.estimator, metric=self.metric,
        )
        values = leave_one_out(utility, executor=self.executor)
        return scatter_values(table, split, values)

    @classmethod
    def make_example(cls) -> LeaveOneOut:
        return cls(valid="valid")

    @classmethod
    def conformance_table(cls) -> Table:
        return valuation_conformance_table()

