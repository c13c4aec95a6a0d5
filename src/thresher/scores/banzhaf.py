"""Data Banzhaf values by the maximum-sample-reuse estimator (Wang & Jia, AISTATS 2023).

Wang & Jia, "Data Banzhaf: A Robust Data Valuation Framework for Machine Learning",
AISTATS 2023. Runs :func:`thresher.scores.semivalues.compute_semivalues` with an
:class:`~thresher.scores.samplers.MSRSampler`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher.data.table import Table
from thresher.execute.base import Executor
from thresher.scores.samplers import MSRSampler
from thresher.scores.semivalues import SemivalueResult, example_estimator, SampledValueScorer, compute_semivalues
from thresher.scores.utility import Utility

__all__ = ["DataBanzhaf"]


@register_scorer("banzhaf")
class DataBanzhaf(SampledValueScorer):
    """Score each row by its Data Banzhaf value (Wang & Jia 2023), maximum-sample-reuse estimator.

    Parameters are those of :class:`TMCShapley` without ``truncation``; ``max_updates``
    counts sampled subsets (one utility evaluation each).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = DataBanzhaf(valid="v", estimator=KNeighborsClassifier(1), max_updates=400).score(t, seed=0)
    >>> bool(v[0] > v[2] and v[1] > v[2])
    True
    """

    name = "banzhaf"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        max_updates: int = 1000,
        max_stderr: float | None = None,
        batch_size: int = 32,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        return compute_semivalues(
            utility, MSRSampler(), self._stopping(), seed=rng, batch_size=self.batch_size, executor=self.executor
        )

    @classmethod
    def make_example(cls) -> DataBanzhaf:
        return cls(estimator=example_estimator(), max_updates=64)
