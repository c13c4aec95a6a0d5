"""k-center greedy (farthest-point) selection on embeddings.

Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
Approach", ICLR 2018 (the greedy 2-approximation of Gonzalez 1985). Each step adds the
row farthest from every row chosen so far. Memory is O(n): one running min-distance
vector updated with one matrix-vector product per pick, never an n x k matrix.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["KCenterGreedy", "kcenter_greedy"]


def kcenter_greedy(X: np.ndarray, k: int, first: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Return (picked positions, distance of each pick to the earlier picks) starting at ``first``.

    Ties go to the lowest position. The first pick's distance is reported as ``inf``.
    """
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms == 0, 1.0, norms)
    sq = np.einsum("ij,ij->i", X, X)
    picked = np.empty(k, dtype=np.int64)
    gains = np.empty(k)
    picked[0], gains[0] = first, np.inf
    min_d = np.maximum(sq - 2.0 * (X @ X[first]) + sq[first], 0.0)
    min_d[first] = -1.0
    for i in range(1, k):
        j = int(np.argmax(min_d))
        picked[i], gains[i] = j, float(np.sqrt(max(min_d[j], 0.0)))
        d = np.maximum(sq - 2.0 * (X @ X[j]) + sq[j], 0.0)
        np.minimum(min_d, d, out=min_d)
        min_d[picked[: i + 1]] = -1.0
    return picked, gains


@register_selector("kcenter")
class KCenterGreedy(BaseSelector):
    """Select rows by k-center greedy: repeatedly add the row farthest from those chosen.

    Parameters
    ----------
    metric
        ``"euclidean"`` or ``"cosine"``.
    start
        ``"random"`` (seeded) or ``"medoid"`` (the row nearest the mean, deterministic).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.array([[0.0], [0.1], [5.0], [10.0]])})
    >>> KCenterGreedy(start="medoid").select(t, Budget(n=3)).row_ids.tolist()
    [2, 0, 3]
    """

    name = "kcenter"
    requires = frozenset({"embeddings"})
    is_stochastic = True

    def __init__(self, metric: str = "euclidean", start: str = "random") -> None:
        self.metric = metric
        self.start = start

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        check_choice(self.metric, "metric", owner, ("euclidean", "cosine"))
        check_choice(self.start, "start", owner, ("random", "medoid"))
        X = table.embeddings
        if self.start == "random":
            first = int(rng.integers(table.n_rows))
        else:
            first = int(np.argmin(np.linalg.norm(X - X.mean(axis=0), axis=1)))
        picked, gains = kcenter_greedy(X, k, first, self.metric)
        return picked, gains, None
