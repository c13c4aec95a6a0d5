"""Semantic deduplication (SemDeDup): near-duplicates by cosine similarity within k-means clusters.

Abbas, Tirumala, Simig, Ganguli & Morcos, "SemDeDup: Data-efficient learning at
web-scale through semantic deduplication" (2023), as run by NeMo Curator: cluster the
embeddings with k-means, then inside each cluster order the rows by which one to keep
and drop every row whose cosine similarity to an *earlier* row of that order is at
least ``1 - eps``. Comparing only within clusters makes the cost about ``n^2 / k``
instead of ``n^2``.

``which_to_keep="hard"`` (NeMo Curator's default) keeps the row farthest from its
cluster centroid first, ``"easy"`` the nearest; ties go to the smaller ``row_id``, so the
result is deterministic. :func:`semdedup_clusters` is the in-memory core used by the
scorer and selector here and, group by group, by the out-of-core driver
:func:`thresher.stream.semdedup.stream_semdedup`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_float, check_int
from thresher.data.table import Table
from thresher.scores.base import BaseScorer

__all__ = ["SemDeDupResult", "semdedup_clusters", "kmeans_assign", "SemDeDupCount"]


@dataclass(frozen=True)
class SemDeDupResult:
    """Per row: whether it is dropped as a near-duplicate and how many cluster-mates are that similar."""

    is_duplicate: np.ndarray  # bool (n,)
    n_similar: np.ndarray  # int64 (n,): other rows of the cluster with cos >= 1 - eps


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    nrm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(nrm > 0, nrm, 1.0)


def semdedup_clusters(
    X: np.ndarray,
    clusters: np.ndarray,
    centroids: np.ndarray,
    row_ids: np.ndarray,
    *,
    eps: float = 0.05,
    which_to_keep: str = "hard",
    block: int = 4096,
) -> SemDeDupResult:
    """Run SemDeDup's within-cluster step over rows with known cluster assignments.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.999, 0.04], [0.0, 1.0]])
    >>> r = semdedup_clusters(X, np.array([0, 0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([10, 11, 12]))
    >>> r.is_duplicate.tolist(), r.n_similar.tolist()
    ([True, False, False], [1, 1, 0])
    """
    owner = "semdedup"
    check_float(eps, "eps", owner, low=0.0, high=2.0)
    check_choice(which_to_keep, "which_to_keep", owner, ("hard", "easy"))
    U = _unit(X)
    C = _unit(centroids)
    n = len(U)
    dup = np.zeros(n, dtype=bool)
    count = np.zeros(n, dtype=np.int64)
    thr = np.float32(1.0 - eps)
    order_all = np.argsort(clusters, kind="stable")
    bounds = np.flatnonzero(np.diff(clusters[order_all])) + 1
    for members in np.split(order_all, bounds):
        if len(members) < 2:
            continue
        c = int(clusters[members[0]])
        to_centroid = U[members] @ C[c]
        # keep-first order: "hard" = least similar to the centroid first; ties by row id
        key = to_centroid if which_to_keep == "hard" else -to_centroid
        members = members[np.lexsort((row_ids[members], key))]
        Um = U[members]
        m = len(members)
        earlier = np.zeros(m, dtype=bool)
        for s in range(0, m, block):
            S = Um[s : s + block] @ Um.T  # (b, m)
            hit = S >= thr
            rows = np.arange(s, min(s + block, m))
            hit[rows - s, rows] = False
            count[members[rows]] += hit.sum(axis=1)
            # row j is a duplicate if some i < j (in keep order) is that similar
            cols = np.arange(m)
            earlier[rows] = np.any(hit & (cols[None, :] < rows[:, None]), axis=1)
        dup[members] = earlier
    return SemDeDupResult(dup, count)


def kmeans_assign(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Return the index of each row's most cosine-similar centroid (ties to the lower index)."""
    return np.argmax(_unit(X) @ _unit(centroids).T, axis=1).astype(np.int64)


def fit_centroids(X: np.ndarray, n_clusters: int, seed: int = 0, n_iter: int = 20) -> np.ndarray:
    """Return spherical k-means centroids of the rows of ``X`` (scikit-learn's KMeans on unit rows)."""
    from sklearn.cluster import KMeans

    U = _unit(X)
    k = check_int(n_clusters, "n_clusters", "semdedup", low=1, high=len(U))
    km = KMeans(n_clusters=k, n_init=1, max_iter=n_iter, random_state=seed).fit(U)
    return _unit(km.cluster_centers_.astype(np.float32))


@register_scorer("semdedup")
class SemDeDupCount(BaseScorer):
    """Score each row by how many rows of its k-means cluster are near-duplicates of it (SemDeDup).

    ``flag.semdedup`` (rows SemDeDup drops) comes with :meth:`flags`; select with the
    ``semdedup`` selector. Lower is better (more unique).

    Parameters
    ----------
    n_clusters
        k-means clusters (capped at the number of rows).
    eps
        Rows with cosine similarity ``>= 1 - eps`` are near-duplicates.
    which_to_keep
        ``"hard"`` keeps the row farthest from the centroid, ``"easy"`` the nearest.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [1.0, 0.001], [0.0, 1.0], [-1.0, 0.2]])
    >>> SemDeDupCount(n_clusters=2, eps=0.01).score(Table(matrices={"embeddings": X})).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """

    name = "semdedup"
    higher_is_better = False
    requires = frozenset({"embeddings"})

    def __init__(self, n_clusters: int = 100, eps: float = 0.05, which_to_keep: str = "hard") -> None:
        self.n_clusters = n_clusters
        self.eps = eps
        self.which_to_keep = which_to_keep

    def run(self, table: Table, seed: int = 0) -> SemDeDupResult:
        """Return the full SemDeDup result on ``table`` (rows in table order)."""
        X = table.embeddings
        check_int(self.n_clusters, "n_clusters", type(self).__name__, low=1)
        C = fit_centroids(X, min(self.n_clusters, table.n_rows), seed=seed)
        return semdedup_clusters(X, kmeans_assign(X, C), C, table.row_id, eps=self.eps,
                                 which_to_keep=self.which_to_keep)

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return self.run(table, seed=int(rng.integers(2**31))).n_similar.astype(np.float64)

    @classmethod
    def make_example(cls) -> SemDeDupCount:
        return cls(n_clusters=3, eps=0.3)
