"""Cluster-balanced selection: k-means strata with equal, proportional or score-weighted budgets.

Rows are clustered by k-means on the embeddings (scikit-learn ``KMeans``, seeded), the
budget is split across clusters, and each cluster fills its share. This is the
"cluster then sample" baseline of self-supervised pruning (Sorscher et al., "Beyond
neural scaling laws", NeurIPS 2022) and of SemDeDup-style balancing (Abbas et al. 2023).

Allocation (:func:`allocate`) gives cluster ``c`` a share proportional to a weight
``w_c`` (1 for ``"equal"``, its size for ``"proportional"``, the sum of a non-negative
score over its rows for ``"score"``), never more than its size: shares that would exceed
a cluster's size are capped and the excess redistributed (water-filling), then rounded
by largest remainder so they sum exactly to the budget.

Within a cluster rows are taken at random (``within="random"``), by the largest score
(``"top"``), or nearest the centroid first (``"centroid"``).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_int, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import BaseSelector, Budget

__all__ = ["ClusterBalanced", "allocate"]


def _waterfill(sizes: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Return real shares proportional to ``w``, capped at ``sizes``, summing to ``k`` (excess redistributed)."""
    share = np.zeros(len(sizes))
    free = w > 0
    left = float(k)
    while free.any() and left > 0:
        s = left * w * free / w[free].sum()
        over = free & (s > sizes)
        if not over.any():
            share[free] = s[free]
            break
        share[over] = sizes[over]
        left -= float(sizes[over].sum())
        free &= ~over
    return share


def allocate(sizes: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` across groups in proportion to ``weights``, capped by ``sizes``; sum is exactly ``k``.

    Groups with zero weight get rows only when the others cannot absorb the budget.

    Examples
    --------
    >>> allocate(np.array([2, 50, 50]), np.array([1.0, 1.0, 1.0]), 30).tolist()
    [2, 14, 14]
    >>> allocate(np.array([10, 30]), np.array([10.0, 30.0]), 6).tolist()
    [2, 4]
    """
    owner = "allocate"
    sizes = np.asarray(sizes, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != sizes.shape or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise fail("weights", owner, "finite, non-negative and shaped like sizes", w)
    k = check_int(k, "k", owner, low=0, high=int(sizes.sum()))
    w = np.where(sizes > 0, w, 0.0)
    room = int(sizes[w > 0].sum())
    share = _waterfill(sizes, w, min(k, room))
    if k > room:  # weighted groups are full: the rest goes to zero-weight groups by size
        zero = (w == 0) & (sizes > 0)
        share += _waterfill(sizes, np.where(zero, sizes, 0).astype(np.float64), k - room)
    alloc = np.minimum(np.floor(share + 1e-9).astype(np.int64), sizes)
    rest = k - int(alloc.sum())
    frac = share - alloc
    order = np.lexsort((np.arange(len(sizes)), -frac))  # largest remainder, ties by index
    for i in order:
        if rest == 0:
            break
        if alloc[i] < sizes[i]:
            alloc[i] += 1
            rest -= 1
    return alloc


@register_selector("cluster_balanced")
class ClusterBalanced(BaseSelector):
    """Cluster the embeddings with k-means and spread the budget over clusters.

    Parameters
    ----------
    n_clusters
        Number of k-means clusters (clipped to the number of rows).
    allocation
        ``"equal"``, ``"proportional"`` (to cluster size) or ``"score"`` (to the sum of ``by``).
    within
        How a cluster fills its share: ``"random"``, ``"top"`` (largest ``by``) or
        ``"centroid"`` (nearest the cluster centre first).
    by
        Score column for ``allocation="score"`` or ``within="top"`` (non-negative for ``"score"``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.concatenate([np.zeros((8, 1)), np.ones((2, 1)) * 10]) + np.arange(10)[:, None] * 0.01
    >>> t = Table(matrices={"embeddings": X})
    >>> s = ClusterBalanced(n_clusters=2, within="centroid").select(t, Budget(n=4), seed=0)
    >>> sorted(s.row_ids.tolist())
    [3, 4, 8, 9]
    """

    name = "cluster_balanced"
    requires = frozenset({"embeddings"})
    is_stochastic = True

    def __init__(self, n_clusters: int = 10, allocation: str = "equal", within: str = "random", by: str | None = None) -> None:
        self.n_clusters = n_clusters
        self.allocation = allocation
        self.within = within
        self.by = by

    def required_columns(self) -> frozenset[str]:
        return self.requires | ({self.by} if self.by else frozenset())

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, None, None]:
        from sklearn.cluster import KMeans

        owner = type(self).__name__
        n_clusters = min(check_int(self.n_clusters, "n_clusters", owner, low=1), table.n_rows)
        check_choice(self.allocation, "allocation", owner, ("equal", "proportional", "score"))
        check_choice(self.within, "within", owner, ("random", "top", "centroid"))
        needs_score = self.allocation == "score" or self.within == "top"
        if needs_score and not self.by:
            raise InvalidParameterError(
                f"`by` of {owner} must name a score column when allocation='score' or within='top'; got None."
            )
        score = np.asarray(table.column(self.by), dtype=np.float64) if self.by else None
        if score is not None and not np.all(np.isfinite(score)):
            raise fail(self.by or "by", owner, "finite", "NaN or inf values")
        X = table.embeddings
        km = KMeans(n_clusters=n_clusters, n_init=3, random_state=int(rng.integers(2**31 - 1)))
        labels = km.fit_predict(X)
        sizes = np.bincount(labels, minlength=n_clusters)
        if self.allocation == "equal":
            weights = np.ones(n_clusters)
        elif self.allocation == "proportional":
            weights = sizes.astype(np.float64)
        else:
            assert score is not None
            if np.any(score < 0):
                raise fail(self.by or "by", owner, "non-negative for allocation='score'", f"min {score.min()!r}")
            weights = np.bincount(labels, weights=score, minlength=n_clusters).astype(np.float64)
        quota = allocate(sizes, weights, k)
        picked: list[np.ndarray] = []
        for c in range(n_clusters):
            rows = np.flatnonzero(labels == c)
            if quota[c] == 0:
                continue
            if self.within == "random":
                take = rng.choice(rows, size=quota[c], replace=False)
            elif self.within == "top":
                assert score is not None
                take = rows[np.argsort(-score[rows], kind="stable")[: quota[c]]]
            else:
                d = np.linalg.norm(X[rows] - km.cluster_centers_[c], axis=1)
                take = rows[np.argsort(d, kind="stable")[: quota[c]]]
            picked.append(take)
        return np.concatenate(picked).astype(np.int64), None, None
