"""Reference models the evaluation harness trains on each selection.

A reference model is anything with ``fit_score(X_train, y_train, X_test, y_test, *,
seed, sample_weight=None) -> accuracy``, registered under a name so recipes and the
CLI can ask for it. scikit-learn models are here; PyTorch models live in
``thresher.evaluate.torch_models``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from thresher._registry import MODELS, register_model
from thresher._validation import check_int

__all__ = ["ReferenceModel", "LogisticRegressionModel", "KNNModel", "get_model"]


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


def get_model(model: str | ReferenceModel = "logreg", **params: Any) -> ReferenceModel:
    """Return a reference model by registry name (or pass one through)."""
    if isinstance(model, str):
        return MODELS.create(model, **params)  # type: ignore[no-any-return]
    return model
