"""kNN density and outlier scores on embeddings.

The kNN distance outlier score (Ramaswamy et al., "Efficient Algorithms for Mining
Outliers from Large Data Sets", SIGMOD 2000) is the distance to the k-th nearest
neighbour, or the mean distance to the k nearest (Angiulli & Pizzuti 2002).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_int
from thresher.data.table import Table
from thresher.neighbors import knn
from thresher.scores.base import BaseScorer

__all__ = ["KNNDistance"]


@register_scorer("knn_distance")
class KNNDistance(BaseScorer):
    """Score each row by its distance to its k nearest neighbours (higher = more outlying).

    Parameters
    ----------
    k
        Neighbours considered (the row itself excluded).
    reduce
        ``"kth"`` (distance to the k-th neighbour) or ``"mean"`` (mean of the k distances).
    metric
        ``"euclidean"`` or ``"cosine"``.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.array([[0.0], [1.0], [10.0]])})
    >>> KNNDistance(k=1).score(t).tolist()
    [1.0, 1.0, 9.0]
    """

    name = "knn_distance"
    higher_is_better = False
    requires = frozenset({"embeddings"})

    def __init__(self, k: int = 5, reduce: str = "kth", metric: str = "euclidean") -> None:
        self.k = k
        self.reduce = reduce
        self.metric = metric

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        check_int(self.k, "k", owner, low=1, high=max(1, table.n_rows - 1))
        check_choice(self.reduce, "reduce", owner, ("kth", "mean"))
        res = knn(table.embeddings, self.k, metric=self.metric)
        return res.distances[:, -1] if self.reduce == "kth" else res.distances.mean(axis=1)

    @classmethod
    def make_example(cls) -> KNNDistance:
        return cls(k=3)
