"""The utility of a subset of training rows: a model fitted on it, scored on a validation set.

Semivalue estimators (:mod:`thresher.scores.semivalues`) and leave-one-out
(:mod:`thresher.scores.loo`) evaluate a utility on many subsets. :class:`Utility` fits
any scikit-learn classifier; :class:`KNNUtility` is the exact, cheap K-nearest-neighbour
utility whose Shapley values have a closed form (Jia et al., PVLDB 2019), so estimators
can be checked against :func:`thresher.scores.knn_shapley.knn_shapley`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.errors import LengthMismatchError
from thresher.scores.valuation import resolve_estimator

__all__ = ["UtilityLike", "Utility", "KNNUtility"]


class UtilityLike(Protocol):
    """Anything with ``n`` training rows that maps an index array to a float."""

    @property
    def n(self) -> int: ...

    def __call__(self, subset: np.ndarray) -> float: ...


def _subset_key(subset: np.ndarray, n: int) -> bytes:
    mask = np.zeros(n, dtype=bool)
    mask[subset] = True
    return np.packbits(mask).tobytes()


class Utility:
    """Score of ``estimator`` fitted on a subset of the training rows, on the validation set.

    Parameters
    ----------
    X_train, y_train
        The rows being valued (subsets are positions into them).
    X_valid, y_valid
        The validation set the fitted model is scored on.
    estimator
        Any scikit-learn classifier (cloned per fit), or ``"logreg"`` (the default: scaled
        logistic regression), ``"tree"``, ``"knn"``.
    metric
        ``"accuracy"`` or a scikit-learn scorer name (``sklearn.metrics.get_scorer``).
    empty_value
        Utility of the empty set (no model can be fitted).
    cache
        Remember utilities of subsets already evaluated (in this process).

    A subset holding a single class is scored with the constant classifier predicting it
    (``DummyClassifier``), since most estimators refuse to fit one class. A subset the
    estimator rejects with ``ValueError`` (e.g. fewer rows than ``n_neighbors``) scores
    ``empty_value``, like pyDVL's ``catch_errors``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> u = Utility(np.array([[0.0], [1.0]]), np.array([0, 1]), np.array([[0.1], [0.9]]), np.array([0, 1]),
    ...             estimator=KNeighborsClassifier(1))
    >>> u(np.array([0, 1])), u(np.array([0])), u(np.array([], dtype=int))
    (1.0, 0.5, 0.0)
    """

    def __init__(
        self,
        X_train: Any,
        y_train: Any,
        X_valid: Any,
        y_valid: Any,
        *,
        estimator: Any = None,
        metric: str = "accuracy",
        empty_value: float = 0.0,
        cache: bool = True,
    ) -> None:
        owner = "Utility"
        self.X_train = check_matrix(X_train, "X_train", owner)
        self.y_train = np.asarray(y_train)
        self.X_valid = check_matrix(X_valid, "X_valid", owner)
        self.y_valid = np.asarray(y_valid)
        if len(self.y_train) != len(self.X_train) or len(self.y_valid) != len(self.X_valid):
            raise LengthMismatchError("`y_train`/`y_valid` of Utility must have one label per row of X.")
        self.estimator = resolve_estimator(estimator, owner, "logreg")
        self.metric = metric
        self.empty_value = check_float(empty_value, "empty_value", owner)
        self.cache = cache
        self._memo: dict[bytes, float] = {}
        if metric != "accuracy":
            from sklearn.metrics import get_scorer

            try:
                get_scorer(metric)
            except ValueError:
                raise fail("metric", owner, "'accuracy' or a scikit-learn scorer name", metric) from None

    @property
    def n(self) -> int:
        return int(self.X_train.shape[0])

    def __call__(self, subset: np.ndarray) -> float:
        subset = np.asarray(subset, dtype=np.int64)
        if subset.size == 0:
            return self.empty_value
        key = _subset_key(subset, self.n) if self.cache else b""
        if self.cache and key in self._memo:
            return self._memo[key]
        value = self._evaluate(np.sort(subset))
        if self.cache:
            self._memo[key] = value
        return value

    def _evaluate(self, subset: np.ndarray) -> float:
        from sklearn.base import clone
        from sklearn.dummy import DummyClassifier

        X, y = self.X_train[subset], self.y_train[subset]
        model = DummyClassifier(strategy="most_frequent") if len(np.unique(y)) == 1 else clone(self.estimator)
        try:
            model.fit(X, y)
            if self.metric == "accuracy":
                return float(np.mean(model.predict(self.X_valid) == self.y_valid))
            from sklearn.metrics import get_scorer

            return float(get_scorer(self.metric)(model, self.X_valid, self.y_valid))
        except ValueError:
            # scikit-learn's signal that the subset is too small for this model (e.g. fewer
            # rows than n_neighbors): such a subset is worth as much as the empty set
            return self.empty_value


class KNNUtility:
    """The KNN-Shapley utility: mean over validation points of (1/K) * #same-label among the K nearest of S.

    Exact and cheap, so it is the utility of choice to check estimators against closed
    forms (:func:`thresher.scores.knn_shapley.knn_shapley` is its exact Shapley value).
    Ties in distance are broken by the smaller training index.

    Examples
    --------
    >>> import numpy as np
    >>> u = KNNUtility(np.array([[0.0], [1.0], [2.0]]), np.array([0, 1, 0]), np.array([[0.0]]), np.array([0]), k=2)
    >>> u(np.array([0, 1, 2])), u(np.array([0, 2]))
    (0.5, 1.0)
    """

    def __init__(self, X_train: Any, y_train: Any, X_valid: Any, y_valid: Any, *, k: int = 5) -> None:
        from thresher.neighbors import pairwise_sq_dists

        self.k = check_int(k, "k", "KNNUtility", low=1)
        Xt = check_matrix(X_train, "X_train", "KNNUtility")
        Xv = check_matrix(X_valid, "X_valid", "KNNUtility")
        self.y_train = np.asarray(y_train)
        self.y_valid = np.asarray(y_valid)
        d = pairwise_sq_dists(Xv, Xt)
        self._rank = np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1)  # rank of each train row per valid point
        self._match = (self.y_train[None, :] == self.y_valid[:, None]).astype(np.float64)
        self.n = int(Xt.shape[0])

    def __call__(self, subset: np.ndarray) -> float:
        subset = np.asarray(subset, dtype=np.int64)
        if subset.size == 0:
            return 0.0
        ranks = self._rank[:, subset]
        m = min(self.k, subset.size)
        nearest = np.argpartition(ranks, m - 1, axis=1)[:, :m] if m < subset.size else np.argsort(ranks, axis=1)
        hits = np.take_along_axis(self._match[:, subset], nearest, axis=1).sum(axis=1)
        return float(np.mean(hits / self.k))

