"""Self-supervised prototypicality: distance to the nearest k-means centroid in embedding space.

Sorscher, Geirhos, Shekhar, Ganguli & Morcos, "Beyond neural scaling laws: beating power
law scaling via data pruning" (NeurIPS 2022), Section 5: cluster the (self-supervised)
embeddings with k-means and score each example by its distance to the nearest cluster
centroid. No labels are needed. As in the paper the default is the *cosine* distance on
L2-normalised embeddings: rows are normalised, k-means runs on the unit vectors, and the
score is ``1 - cos(x, c)`` to the nearest (normalised) centroid ``c``. ``metric="euclidean"``
clusters the raw embeddings and scores the Euclidean distance instead.

Which end to keep depends on the budget (the paper's main finding): **small distance =
easy / prototypical**, large distance = hard / atypical. Keep the easy rows when data is
scarce (small keep fractions) and the hard rows when it is abundant. Following the other
difficulty scores here (``el2n``, ``forgetting``, ``entropy``), ``higher_is_better`` is
``True``: the default orientation keeps the *hard* end; selectors take the other end
explicitly, e.g. ``TopK(by="score.prototypicality", largest=False)`` keeps the easy rows.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_int, check_matrix
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.scores.base import BaseScorer

__all__ = ["Prototypicality", "prototype_distances"]


def _unit_rows(X: np.ndarray, param: str, owner: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1)
    if np.any(norms == 0):
        raise DataError(
            f"`{param}` of {owner} must have no all-zero rows for the cosine metric; got {int(np.sum(norms == 0))}."
        )
    return np.asarray(X / norms[:, None])


def prototype_distances(X: np.ndarray, centroids: np.ndarray, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Return each row's distance to its nearest centroid and that centroid's index.

    For ``"cosine"`` the distance is ``1 - cos(x, c)`` (rows and centroids normalised);
    for ``"euclidean"`` it is ``||x - c||``. Ties go to the lowest centroid index.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> C = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> d, j = prototype_distances(X, C)
    >>> np.round(d, 4).tolist(), j.tolist()
    ([0.0, 0.2929, 0.0], [0, 0, 1])
    """
    owner = "prototype_distances"
    X = check_matrix(X, "X", owner)
    C = check_matrix(centroids, "centroids", owner)
    check_choice(metric, "metric", owner, ("cosine", "euclidean"))
    if metric == "cosine":
        sim = _unit_rows(X, "X", owner) @ _unit_rows(C, "centroids", owner).T
        nearest = np.argmax(sim, axis=1)
        d = 1.0 - sim[np.arange(len(X)), nearest]
        return np.maximum(d, 0.0), nearest
    sq = (X * X).sum(axis=1)[:, None] - 2.0 * (X @ C.T) + (C * C).sum(axis=1)[None, :]
    nearest = np.argmin(sq, axis=1)
    return np.sqrt(np.maximum(sq[np.arange(len(X)), nearest], 0.0)), nearest


@register_scorer("prototypicality")
class Prototypicality(BaseScorer):
    """Score each row by its distance to the nearest k-means centroid (Sorscher et al. 2022).

    Low = easy / prototypical, high = hard / atypical (see the module notes for which end
    to keep at which budget). After scoring, ``cluster_centers_`` holds the centroids
    (normalised for ``metric="cosine"``) and ``cluster_`` each row's nearest centroid.

    Parameters
    ----------
    n_clusters
        Number of k-means clusters (clipped to the number of rows). The paper finds the
        metric robust to this choice; an order of magnitude around the number of classes works.
    metric
        ``"cosine"`` (normalised embeddings, as in the paper) or ``"euclidean"``.
    n_init
        k-means restarts (scikit-learn ``KMeans``), seeded from ``seed``.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    >>> s = Prototypicality(n_clusters=2).score(Table(matrices={"embeddings": X}), seed=0)
    >>> int(np.argmax(s))  # the row between both clusters is the least prototypical
    4
    """

    name = "prototypicality"
    higher_is_better = True
    requires = frozenset({"embeddings"})

    def __init__(self, n_clusters: int = 10, metric: str = "cosine", n_init: int = 3) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.n_init = n_init

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from sklearn.cluster import KMeans

        owner = type(self).__name__
        k = min(check_int(self.n_clusters, "n_clusters", owner, low=1), table.n_rows)
        check_choice(self.metric, "metric", owner, ("cosine", "euclidean"))
        check_int(self.n_init, "n_init", owner, low=1)
        X = check_matrix(table.embeddings, "embeddings", owner)
        Xf = _unit_rows(X, "embeddings", owner) if self.metric == "cosine" else X
        km = KMeans(n_clusters=k, n_init=self.n_init, random_state=int(rng.integers(2**31 - 1)))
        km.fit(Xf)
        C = np.asarray(km.cluster_centers_, dtype=np.float64)
        if self.metric == "cosine":
            C = _unit_rows(C, "cluster_centers_", owner)
        d, nearest = prototype_distances(Xf, C, self.metric)
        self.cluster_centers_ = C
        self.cluster_ = nearest
        return d

    @classmethod
    def make_example(cls) -> Prototypicality:
        return cls(n_clusters=3)
