"""Data issues on embeddings: near-duplicate pairs and clusters, kNN-distance outliers.

* **Near-duplicates**: every pair of rows within distance ``threshold`` of each other
  (found with the exact blocked kNN of :func:`thresher.neighbors.knn`, widening ``k``
  until no row has all its neighbours inside the threshold, so no pair is missed), and
  the clusters they form (connected components of the pair graph). When ``threshold`` is
  not given it is ``relative * median nearest-neighbour distance`` (cleanlab Datalab's
  rule, relative 0.13 by default).
* **Outliers**: the mean distance to the ``k`` nearest neighbours (Angiulli & Pizzuti
  2002); a row is flagged when its score is above the upper Tukey fence of the scores,
  ``Q3 + iqr_factor * (Q3 - Q1)`` (threshold chosen from the data).

Each has a function returning a typed result with a boolean ``.flags`` (and
``.columns()`` giving ``flag.<name>`` as 0.0/1.0 floats plus the continuous score, ready
for :meth:`thresher.store.RunDir.write_scores`), and a registered scorer writing the flag
as ``score.<name>`` (0.0/1.0, lower is better) so selectors can drop flagged rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_float, check_int, check_matrix
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.execute.base import Executor
from thresher.neighbors import knn
from thresher.scores.base import BaseScorer

__all__ = [
    "NearDuplicates",
    "Outliers",
    "find_near_duplicates",
    "find_outliers",
    "NearDuplicate",
    "Outlier",
]


@dataclass(frozen=True)
class NearDuplicates:
    """Result of :func:`find_near_duplicates`."""

    flags: np.ndarray  # bool (n,): row has at least one near-duplicate
    cluster: np.ndarray  # int (n,): cluster id for flagged rows (0, 1, ...), -1 otherwise
    pairs: np.ndarray  # (n_pairs, 2) positions i < j, sorted
    distances: np.ndarray  # (n_pairs,) distance of each pair
    nn_distance: np.ndarray  # (n,) distance to the nearest other row
    threshold: float

    @property
    def n_clusters(self) -> int:
        return int(self.cluster.max() + 1) if self.cluster.size and self.cluster.max() >= 0 else 0

    def clusters(self) -> list[np.ndarray]:
        """Return the positions of each cluster's rows, largest cluster first."""
        member = np.flatnonzero(self.cluster >= 0)
        if member.size == 0:
            return []
        # one stable sort by cluster id keeps rows ascending inside each cluster
        order = member[np.argsort(self.cluster[member], kind="stable")]
        counts = np.bincount(self.cluster[order])
        groups = np.split(order, np.cumsum(counts)[:-1])
        firsts = order[np.cumsum(counts) - counts]
        rank = np.lexsort((firsts, -counts))  # largest first, then by first row
        return [groups[c] for c in rank.tolist()]

    def columns(self) -> dict[str, np.ndarray]:
        """Return ``flag.near_duplicate`` (0/1), ``near_duplicate_cluster`` (-1 = none) and the NN distance."""
        return {
            "flag.near_duplicate": self.flags.astype(np.float64),
            "near_duplicate_cluster": self.cluster.astype(np.float64),
            "score.nn_distance": self.nn_distance,
        }


def find_near_duplicates(
    X: Any,
    *,
    threshold: float | None = None,
    relative: float = 0.13,
    metric: str = "euclidean",
    k: int = 10,
    executor: Executor | None = None,
) -> NearDuplicates:
    """Find all pairs of rows within ``threshold`` of each other and the clusters they form.

    Parameters
    ----------
    X
        Embeddings (n, d).
    threshold
        Distance at or below which two rows are near-duplicates; ``None``: ``relative``
        times the median nearest-neighbour distance.
    metric
        ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).
    k
        Neighbours fetched first; doubled while some row has all of them within the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 0.001], [5.0, 5.0], [9.0, 1.0], [9.0, 1.0005]])
    >>> r = find_near_duplicates(X, threshold=0.01)
    >>> r.pairs.tolist(), r.cluster.tolist()
    ([[0, 1], [3, 4]], [0, 0, -1, 1, 1])
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    owner = "find_near_duplicates"
    Xa = check_matrix(X, "X", owner, keep_float32=True)
    n = Xa.shape[0]
    if n < 2:
        raise DataError(f"{owner} needs at least two rows; got {n}.")
    check_choice(metric, "metric", owner, ("euclidean", "cosine"))
    check_int(k, "k", owner, low=1)
    check_float(relative, "relative", owner, low=0.0)
    kk = min(k, n - 1)
    res = knn(Xa, kk, metric=metric, executor=executor)
    nn = res.distances[:, 0].copy()
    thr = float(relative * np.median(nn)) if threshold is None else check_float(threshold, "threshold", owner, low=0.0)
    while kk < n - 1 and np.any(res.distances[:, -1] <= thr):  # some row may have more near-duplicates
        kk = min(2 * kk, n - 1)
        res = knn(Xa, kk, metric=metric, executor=executor)
    within = res.distances <= thr
    rows = np.repeat(np.arange(n), kk)[within.ravel()]
    cols = res.indices.ravel()[within.ravel()]
    dist = res.distances.ravel()[within.ravel()]
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    key = lo * n + hi
    _, first = np.unique(key, return_index=True)  # each pair once (found from both ends)
    pairs = np.stack([lo[first], hi[first]], axis=1) if first.size else np.zeros((0, 2), dtype=np.int64)
    pdist = dist[first]
    flags = np.zeros(n, dtype=bool)
    flags[pairs.ravel()] = True
    cluster = np.full(n, -1, dtype=np.int64)
    if pairs.size:
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        # renumber the components that have a pair as 0, 1, ... in order of their first row
        member = np.flatnonzero(flags)
        # a component's first row is where its label first appears in ascending rows, so
        # numbering labels by first appearance is one unique + one argsort (no per-cluster scan)
        labels, first_seen, ids = np.unique(comp[member], return_index=True, return_inverse=True)
        rank = np.empty(len(labels), dtype=np.int64)
        rank[np.argsort(first_seen, kind="stable")] = np.arange(len(labels))
        cluster[member] = rank[ids]
    return NearDuplicates(flags, cluster, pairs.astype(np.int64), pdist, nn, thr)


@dataclass(frozen=True)
class Outliers:
    """Result of :func:`find_outliers`."""

    flags: np.ndarray  # bool (n,)
    scores: np.ndarray  # mean distance to the k nearest neighbours
    threshold: float

    def columns(self) -> dict[str, np.ndarray]:
        """Return ``flag.outlier`` (0/1) and ``score.outlier_distance``."""
        return {"flag.outlier": self.flags.astype(np.float64), "score.outlier_distance": self.scores}


def find_outliers(
    X: Any,
    *,
    k: int = 10,
    iqr_factor: float = 1.5,
    metric: str = "euclidean",
    executor: Executor | None = None,
) -> Outliers:
    """Flag rows whose mean distance to their ``k`` nearest neighbours is above the upper Tukey fence.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.random.default_rng(0).normal(size=(50, 2)), [[30.0, 30.0]]]
    >>> r = find_outliers(X, k=5, iqr_factor=3.0)
    >>> np.flatnonzero(r.flags).tolist()
    [50]
    """
    owner = "find_outliers"
    Xa = check_matrix(X, "X", owner, keep_float32=True)
    n = Xa.shape[0]
    if n < 2:
        raise DataError(f"{owner} needs at least two rows; got {n}.")
    check_int(k, "k", owner, low=1)
    check_float(iqr_factor, "iqr_factor", owner, low=0.0)
    res = knn(Xa, min(k, n - 1), metric=metric, executor=executor)
    scores = res.distances.mean(axis=1)
    q1, q3 = np.percentile(scores, [25, 75])
    thr = float(q3 + iqr_factor * (q3 - q1))
    return Outliers(scores > thr, scores, thr)


@register_scorer("near_duplicate")
class NearDuplicate(BaseScorer):
    """Flag rows that have a near-duplicate within a distance threshold (1.0 = flagged).

    Parameters are those of :func:`find_near_duplicates`. Both rows of a pair are flagged;
    use :func:`find_near_duplicates` for the pairs and clusters.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.array([[0.0], [0.001], [5.0], [9.0]])})
    >>> NearDuplicate(threshold=0.01).score(t).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """

    name = "near_duplicate"
    higher_is_better = False
    requires = frozenset({"embeddings"})

    def __init__(
        self, threshold: float | None = None, relative: float = 0.13, metric: str = "euclidean", k: int = 10
    ) -> None:
        self.threshold = threshold
        self.relative = relative
        self.metric = metric
        self.k = k

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        r = find_near_duplicates(
            table.embeddings, threshold=self.threshold, relative=self.relative, metric=self.metric, k=self.k
        )
        return r.flags.astype(np.float64)


@register_scorer("outlier")
class Outlier(BaseScorer):
    """Flag rows whose kNN distance is above the data's upper Tukey fence (1.0 = outlier).

    The continuous score is ``knn_distance`` with ``reduce="mean"``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.random.default_rng(0).normal(size=(50, 2)), [[30.0, 30.0]]]
    >>> Outlier(k=5, iqr_factor=3.0).score(Table(matrices={"embeddings": X}))[-3:].tolist()
    [0.0, 0.0, 1.0]
    """

    name = "outlier"
    higher_is_better = False
    requires = frozenset({"embeddings"})

    def __init__(self, k: int = 10, iqr_factor: float = 1.5, metric: str = "euclidean") -> None:
        self.k = k
        self.iqr_factor = iqr_factor
        self.metric = metric

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        r = find_outliers(table.embeddings, k=self.k, iqr_factor=self.iqr_factor, metric=self.metric)
        return r.flags.astype(np.float64)
