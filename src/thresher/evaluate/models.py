"""Reference models the evaluation harness trains on each selection.

A reference model is anything with ``fit_score(X_train, y_train, X_test, y_test, *,
seed, sample_weight=None) -> accuracy``, registered under a name so recipes and the
CLI can ask for it. Models that also have ``fit_predict_proba(X_train, y_train, X_test,
*, n_classes, seed, sample_weight=None) -> (n_test, n_classes) probabilities`` (labels
are class codes 0..n_classes-1) let the harness store per-test-row predictions, which the
paired statistics, macro-F1, balanced accuracy and log-loss need. scikit-learn models are here; PyTorch models live in
``thresher.evaluate.torch_models``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from thresher._registry import MODELS, register_model
from thresher._validation import check_int

__all__ = ["ReferenceModel", "ProbabilisticModel", "LogisticRegressionModel", "KNNModel", "get_model", "full_proba"]


@runtime_checkable
class ReferenceModel(Protocol):
    """Train on a subset and return test accuracy."""

    name: str

    def fit_score(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> float: ...


@runtime_checkable
class ProbabilisticModel(Protocol):
    """A reference model that returns class probabilities for the test rows."""

    name: str

    def fit_predict_proba(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        *,
        n_classes: int,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> np.ndarray: ...


def full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Place the columns of a model's ``predict_proba`` (for ``classes``) into ``n_classes`` columns.

    Examples
    --------
    >>> full_proba(np.array([[0.2, 0.8]]), np.array([0, 2]), 3).tolist()
    [[0.2, 0.0, 0.8]]
    """
    out = np.zeros((proba.shape[0], int(n_classes)), dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return out


def _one_class(y_train: np.ndarray, n_test: int, n_classes: int) -> np.ndarray:
    # a one-class subset: the best any model can do is predict that class
    out = np.zeros((n_test, int(n_classes)))
    out[:, int(y_train[0])] = 1.0
    return out


@register_model("logreg")
class LogisticRegressionModel:
    """Standardised multinomial logistic regression (scikit-learn), trained to convergence.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> tr, te = split_table(load_digits())
    >>> acc = LogisticRegressionModel().fit_score(tr.embeddings, tr.labels, te.embeddings, te.labels, seed=0)
    >>> acc > 0.9
    True
    """

    name = "logreg"

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit_score(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        if len(np.unique(y_train)) < 2:
            # a one-class subset: the best any model can do is predict that class
            return float(np.mean(y_test == y_train[0]))
        scaler = StandardScaler().fit(X_train)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        model.fit(scaler.transform(X_train), y_train, sample_weight=sample_weight)
        return float(model.score(scaler.transform(X_test), y_test))

    def fit_predict_proba(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        *,
        n_classes: int,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> np.ndarray:
        """Train on class codes ``y_train`` and return test probabilities ``(n_test, n_classes)``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        if len(np.unique(y_train)) < 2:
            return _one_class(y_train, len(X_test), n_classes)
        scaler = StandardScaler().fit(X_train)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        model.fit(scaler.transform(X_train), y_train, sample_weight=sample_weight)
        return full_proba(model.predict_proba(scaler.transform(X_test)), model.classes_, n_classes)


@register_model("knn")
class KNNModel:
    """k-nearest-neighbour classifier (scikit-learn); ignores sample weights."""

    name = "knn"

    def __init__(self, k: int = 5) -> None:
        self.k = k

    def fit_score(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        from sklearn.neighbors import KNeighborsClassifier

        k = min(check_int(self.k, "k", "KNNModel", low=1), len(y_train))
        return float(KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train).score(X_test, y_test))

    def fit_predict_proba(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        *,
        n_classes: int,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return the neighbour-vote class frequencies of the test rows ``(n_test, n_classes)``."""
        from sklearn.neighbors import KNeighborsClassifier

        k = min(check_int(self.k, "k", "KNNModel", low=1), len(y_train))
        m = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train)
        return full_proba(m.predict_proba(X_test), m.classes_, n_classes)


def get_model(model: str | ReferenceModel = "logreg", **params: Any) -> ReferenceModel:
    """Return a reference model by registry name (or pass one through)."""
    if isinstance(model, str):
        return MODELS.create(model, **params)  # type: ignore[no-any-return]
    return model
