"""Out-of-fold probabilities and the first scorers, against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors

from thresher.data import Table, from_numpy
from thresher.data.datasets import load_digits
from thresher.errors import InvalidParameterError
from thresher.scores.density import KNNDistance
from thresher.scores.uncertainty import Entropy, Margin, SelfConfidence
from thresher.signals.oof import out_of_fold_probs


def test_oof_probs_equal_sklearn_cross_val_predict() -> None:
    t = load_digits().take(range(400))
    est = LogisticRegression(max_iter=500)
    P, classes = out_of_fold_probs(t, est, n_splits=4, seed=3)
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    expected = cross_val_predict(LogisticRegression(max_iter=500), t.embeddings, t.labels, cv=cv, method="predict_proba")
    np.testing.assert_allclose(P, expected, atol=1e-10)
    assert classes.tolist() == list(range(10))


def test_oof_folds_too_many() -> None:
    t = from_numpy(np.random.default_rng(0).normal(size=(6, 2)), np.array([0, 0, 0, 1, 1, 1]))
    with pytest.raises(InvalidParameterError, match="smallest class \\(3\\)"):
        out_of_fold_probs(t, n_splits=4)


def test_uncertainty_scores_by_hand_with_string_labels() -> None:
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [1 / 3, 1 / 3, 1 / 3]])
    t = Table(columns={"label": np.array(["cat", "cat", "dog"], dtype=object)}, matrices={"probs": P}, meta={"classes": ["cat", "dog", "eel"]})
    np.testing.assert_allclose(SelfConfidence().score(t), [0.7, 0.1, 1 / 3])
    np.testing.assert_allclose(Margin().score(t), [0.5, -0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(Entropy().score(t), [-(P[i] * np.log(P[i])).sum() for i in range(3)])


@pytest.mark.parametrize("reduce", ["kth", "mean"])
def test_knn_distance_matches_sklearn(reduce: str) -> None:
    X = np.random.default_rng(4).normal(size=(80, 3))
    d, _ = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(X)  # includes self at distance 0
    expected = d[:, -1] if reduce == "kth" else d[:, 1:].mean(axis=1)
    np.testing.assert_allclose(KNNDistance(k=4, reduce=reduce).score(from_numpy(X)), expected, atol=1e-9)


def test_knn_distance_bad_k() -> None:
    with pytest.raises(InvalidParameterError, match="`k` of KNNDistance"):
        KNNDistance(k=10).score(from_numpy(np.zeros((5, 2))))
