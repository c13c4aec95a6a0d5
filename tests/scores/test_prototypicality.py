"""Prototypicality (Sorscher et al. 2022): distances checked against brute force with the fitted centroids."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from thresher.data.table import Table
from thresher.errors import DataError, InvalidParameterError
from thresher.scores.prototypicality import Prototypicality, prototype_distances
from thresher.select.base import Budget
from thresher.select.topk import TopK


def _blobs(n: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(4, 6))
    return centers[np.arange(n) % 4] + rng.normal(size=(n, 6))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_prototype_distances_equal_brute_force_with_fixed_centroids(metric: str) -> None:
    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(50, 4)), rng.normal(size=(5, 4))
    d, j = prototype_distances(X, C, metric)
    D = cdist(X, C, metric=metric)  # scipy's cosine distance normalises both sides itself
    np.testing.assert_allclose(d, D.min(axis=1), atol=1e-12)
    np.testing.assert_array_equal(j, D.argmin(axis=1))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_scores_are_distance_to_nearest_fitted_centroid(metric: str) -> None:
    X = _blobs()
    scorer = Prototypicality(n_clusters=4, metric=metric)
    s = scorer.score(Table(matrices={"embeddings": X}), seed=0)
    Xf = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else X
    D = cdist(Xf, scorer.cluster_centers_, metric=metric)
    np.testing.assert_allclose(s, D.min(axis=1), atol=1e-12)
    # a k-means fixed point: every centroid is the mean of the rows nearest it (before normalising)
    for c in range(4):
        members = Xf[scorer.cluster_ == c]
        centre = members.mean(axis=0)
        if metric == "cosine":
            centre /= np.linalg.norm(centre)
        np.testing.assert_allclose(scorer.cluster_centers_[c], centre, atol=1e-6)


def test_easy_end_is_near_the_centres_and_hard_end_far() -> None:
    X = np.concatenate([_blobs(80), np.array([[40.0, -40, 40, -40, 40, -40]])])  # one outlying direction
    t = Table(matrices={"embeddings": X}, columns={})
    t = t.with_column("score.prototypicality", Prototypicality(n_clusters=4).score(t, seed=0))
    hard = TopK(by="score.prototypicality").select(t, Budget(n=1)).row_ids
    assert hard.tolist() == [80]
    easy = TopK(by="score.prototypicality", largest=False).select(t, Budget(n=10)).row_ids
    assert 80 not in easy.tolist()


def test_cosine_ignores_row_scale_euclidean_does_not() -> None:
    X = _blobs(60)
    scaled = X * np.random.default_rng(2).uniform(0.5, 3.0, size=(60, 1))
    a = Prototypicality(n_clusters=3).score(Table(matrices={"embeddings": X}), seed=4)
    b = Prototypicality(n_clusters=3).score(Table(matrices={"embeddings": scaled}), seed=4)
    np.testing.assert_allclose(a, b, atol=1e-9)
    e = Prototypicality(n_clusters=3, metric="euclidean")
    assert not np.allclose(e.score(Table(matrices={"embeddings": X}), seed=4),
                           e.score(Table(matrices={"embeddings": scaled}), seed=4))


def test_errors_name_the_parameter() -> None:
    t = Table(matrices={"embeddings": np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])})
    with pytest.raises(DataError, match="all-zero rows"):
        Prototypicality(n_clusters=2).score(t, seed=0)
    with pytest.raises(InvalidParameterError, match="`metric` of Prototypicality must be one of"):
        Prototypicality(metric="l1").score(t, seed=0)
    with pytest.raises(InvalidParameterError, match="`n_clusters` of Prototypicality"):
        Prototypicality(n_clusters=0).score(t, seed=0)
