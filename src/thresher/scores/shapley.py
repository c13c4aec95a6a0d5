"""Shapley values of any model and metric by permutation sampling: TMC-Shapley and Beta-Shapley.

* TMC-Shapley (Ghorbani & Zou, "Data Shapley: Equitable Valuation of Data for Machine
  Learning", ICML 2019): truncated Monte Carlo over permutations.
* Beta-Shapley (Kwon & Zou, "Beta Shapley: a Unified and Noise-reduced Data Valuation
  Framework for Machine Learning", AISTATS 2022): the Beta(alpha, beta) semivalue.

Both run :func:`thresher.scores.semivalues.compute_semivalues` with a
:class:`~thresher.scores.samplers.PermutationSampler`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_float
from thresher.data.table import Table
from thresher.execute.base import Executor
from thresher.scores.samplers import PermutationSampler
from thresher.scores.semivalues import SemivalueResult, example_estimator, SampledValueScorer, compute_semivalues
from thresher.scores.utility import Utility

__all__ = ["TMCShapley", "BetaShapley"]


@register_scorer("tmc_shapley")
class TMCShapley(SampledValueScorer):
    """Score each row by its truncated Monte Carlo Shapley value (Ghorbani & Zou 2019).

    Parameters
    ----------
    valid
        A validation :class:`Table` or a ``split`` value naming the validation rows (they get NaN).
    estimator
        Any scikit-learn classifier; ``None``: scaled logistic regression.
    metric
        ``"accuracy"`` or a scikit-learn scorer name.
    truncation
        Relative truncation tolerance (0 disables truncation).
    max_updates
        Permutations at most.
    max_stderr
        Stop earlier once every row's standard error is at most this.
    batch_size
        Permutations per round (shards of ``executor``).
    executor
        Where utility evaluations run.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = TMCShapley(valid="v", estimator=KNeighborsClassifier(1), max_updates=32).score(t, seed=0)
    >>> round(float(np.nansum(v)), 6)  # efficiency: U(all) - U(empty) = 1 - 0
    1.0
    """

    name = "tmc_shapley"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        truncation: float = 0.01,
        max_updates: int = 200,
        max_stderr: float | None = None,
        batch_size: int = 8,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.truncation = truncation
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        return compute_semivalues(
            utility, PermutationSampler(self.truncation), self._stopping(), seed=rng,
            batch_size=self.batch_size, executor=self.executor,
        )

    @classmethod
    def make_example(cls) -> TMCShapley:
        return cls(estimator=example_estimator(), max_updates=8)


@register_scorer("beta_shapley")
class BetaShapley(SampledValueScorer):
    """Score each row by its Beta(alpha, beta)-Shapley value (Kwon & Zou 2022), by permutation sampling.

    Parameters are those of :class:`TMCShapley` plus ``alpha`` and ``beta`` (Beta(16, 1),
    the paper's recommendation, weights small subsets most).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = BetaShapley(valid="v", estimator=KNeighborsClassifier(1), max_updates=64).score(t, seed=0)
    >>> v.shape
    (5,)
    """

    name = "beta_shapley"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        alpha: float = 16.0,
        beta: float = 1.0,
        truncation: float = 0.0,
        max_updates: int = 200,
        max_stderr: float | None = None,
        batch_size: int = 8,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.alpha = alpha
        self.beta = beta
        self.truncation = truncation
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        owner = type(self).__name__
        a = check_float(self.alpha, "alpha", owner, low=0.0, low_open=True)
        b = check_float(self.beta, "beta", owner, low=0.0, low_open=True)
        return compute_semivalues(
            utility, PermutationSampler(self.truncation), self._stopping(), weights="beta", alpha=a, beta=b,
            seed=rng, batch_size=self.batch_size, executor=self.executor,
        )

    @classmethod
    def make_example(cls) -> BetaShapley:
        return cls(estimator=example_estimator(), max_updates=8)

