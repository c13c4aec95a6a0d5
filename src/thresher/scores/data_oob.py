"""Data-OOB: a row's value is the out-of-bag accuracy of bootstrap models on it (Kwon & Zou, ICML 2023).

Kwon & Zou, "Data-OOB: Out-of-bag Estimate as a Simple and Efficient Data Value",
ICML 2023: fit B models on bootstrap samples; a row's value is the mean correctness of
the models that did not see it (out of bag).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed
from thresher._validation import check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import LengthMismatchError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.scores.base import BaseScorer
from thresher.scores.valuation import resolve_estimator

__all__ = ["data_oob", "DataOOB"]


def data_oob(
    X: Any,
    y: Any,
    estimator: Any = None,
    *,
    n_estimators: int = 100,
    max_samples: float = 1.0,
    seed: Seed = None,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's Data-OOB value and how many models had it out of bag.

    Fits ``n_estimators`` clones of ``estimator`` on bootstrap samples (size
    ``max_samples * n``, drawn with replacement); the value of row i is the mean of
    ``1[model(x_i) == y_i]`` over the models whose sample missed i (Kwon & Zou 2023,
    eq. 3, with the 0-1 correctness as the score). Rows never out of bag get NaN. Each
    model is one shard with its own seed, so results do not depend on the executor.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))]; y = np.r_[np.zeros(30), np.ones(30)]
    >>> y[0] = 1  # a flipped label
    >>> v, n_oob = data_oob(X, y, n_estimators=50, seed=0)
    >>> bool(v[0] < v[1:].min()), int(n_oob.min()) > 0
    (True, True)
    """
    from sklearn.base import clone

    from thresher.signals.oof import _set_random_state

    owner = "data_oob"
    Xa = check_matrix(X, "X", owner)
    ya = np.asarray(y)
    n = Xa.shape[0]
    if len(ya) != n:
        raise LengthMismatchError(f"`y` of data_oob must have {n} entries; got {len(ya)}.")
    check_int(n_estimators, "n_estimators", owner, low=1)
    if not (isinstance(max_samples, (int, float)) and 0 < max_samples <= 1):
        raise fail("max_samples", owner, "a fraction in (0, 1]", max_samples)
    est = resolve_estimator(estimator, owner, "tree")
    m = max(1, int(round(max_samples * n)))

    def fit_one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        rng = shard.rng()
        sample = rng.integers(0, n, size=m)
        oob = np.ones(n, dtype=bool)
        oob[sample] = False
        correct = np.zeros(n)
        if oob.any():
            ys = ya[sample]
            if len(np.unique(ys)) == 1:  # a one-class bootstrap: the model is that constant
                pred = np.full(int(oob.sum()), ys[0])
            else:
                model = clone(est)
                _set_random_state(model, int(rng.integers(2**31 - 1)))
                model.fit(Xa[sample], ys)
                pred = model.predict(Xa[oob])
            correct[oob] = pred == ya[oob]
        return correct, oob

    shards = make_shards(n_estimators, shard_size=1, seed=seed)
    total = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for correct, oob in (executor or LocalExecutor()).map(fit_one, shards):
        total += correct
        count += oob
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return values, count


@register_scorer("data_oob")
class DataOOB(BaseScorer):
    """Score each row by its Data-OOB value (Kwon & Zou 2023): out-of-bag accuracy on it.

    Parameters
    ----------
    estimator
        Any scikit-learn classifier (cloned per bootstrap); ``None``: a decision tree, which
        makes the ensemble a random forest without feature subsampling, as in the paper.
    n_estimators
        Bootstrap models.
    max_samples
        Bootstrap sample size as a fraction of the rows.
    executor
        Where the model fits run.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = Table(columns={"label": np.r_[np.zeros(20), np.ones(20)]},
    ...           matrices={"embeddings": np.r_[rng.normal(0, 1, (20, 2)), rng.normal(5, 1, (20, 2))]})
    >>> v = DataOOB(n_estimators=30).score(t, seed=0)
    >>> v.shape, bool(np.nanmean(v) > 0.9)
    ((40,), True)
    """

    name = "data_oob"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})
    is_stochastic = True

    def __init__(
        self,
        estimator: Any = None,
        n_estimators: int = 100,
        max_samples: float = 1.0,
        executor: Executor | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        values, _ = data_oob(
            table.embeddings, table.labels, self.estimator, n_estimators=self.n_estimators,
            max_samples=self.max_samples, seed=rng, executor=self.executor,
        )
        return values

    @classmethod
    def make_example(cls) -> DataOOB:
        return cls(n_estimators=40)

