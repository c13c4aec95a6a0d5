"""Herding: pick rows whose running mean (in feature or kernel space) tracks the data's mean.

* Feature herding (Welling, "Herding dynamical weights to learn", ICML 2009; used for
  data selection by Rebuffi et al., iCaRL, CVPR 2017): with features ``x`` and mean
  ``mu``, step ``t + 1`` adds ``argmax_x <w_t, x>`` where ``w_{t+1} = w_t + mu - x_{t+1}``
  and ``w_0 = mu``; equivalently it keeps ``|mu - mean(S)|`` shrinking like ``O(1/t)``.
* Kernel herding (Chen, Welling & Smola, "Super-Samples from Kernel Herding", UAI 2010):
  step ``T + 1`` adds ``argmax_x  E_{x'}[k(x, x')] - 1/(T + 1) sum_{t <= T} k(x, x_t)``,
  greedily minimising the maximum mean discrepancy between the chosen rows and all rows.

Selection is without replacement (a row is picked once) and ties go to the lowest
position. Feature herding costs ``O(n d)`` per step; kernel herding first computes the
kernel mean embedding of every row blockwise (``O(n^2 d)`` time, ``O(n)`` memory).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int
from thresher.data.table import Table
from thresher.neighbors import pairwise_sq_dists
from thresher.select.base import BaseSelector, Budget

__all__ = ["Herding", "feature_herding", "kernel_herding"]


def feature_herding(X: np.ndarray, k: int) -> np.ndarray:
    """Return ``k`` positions chosen by feature herding (Welling 2009).

    Examples
    --------
    >>> import numpy as np
    >>> feature_herding(np.array([[0.0], [1.0], [2.0], [10.0]]), 2).tolist()
    [3, 0]
    """
    n = X.shape[0]
    k = check_int(k, "k", "feature_herding", low=0, high=n)
    mu = X.mean(axis=0)
    w = mu.copy()
    alive = np.ones(n, dtype=bool)
    out = np.empty(k, dtype=np.int64)
    for t in range(k):
        score = np.where(alive, X @ w, -np.inf)
        j = int(np.argmax(score))
        out[t] = j
        alive[j] = False
        w += mu - X[j]
    return out


def _gaussian_rows(X: np.ndarray, Q: np.ndarray, bw: float, sq: np.ndarray) -> np.ndarray:
    return np.exp(-pairwise_sq_dists(Q, X, sq) / (2.0 * bw**2))


def kernel_herding(X: np.ndarray, k: int, bandwidth: float, block: int = 1024) -> np.ndarray:
    """Return ``k`` positions chosen by kernel herding with a Gaussian kernel (Chen et al. 2010).

    Examples
    --------
    >>> import numpy as np
    >>> kernel_herding(np.array([[0.0], [0.1], [0.2], [5.0]]), 2, bandwidth=1.0).tolist()
    [1, 3]
    """
    n = X.shape[0]
    k = check_int(k, "k", "kernel_herding", low=0, high=n)
    sq = np.einsum("ij,ij->i", X, X)
    mean_emb = np.empty(n)
    for a in range(0, n, block):  # E_{x'}[k(x, x')] for every row, one block of rows at a time
        mean_emb[a : a + block] = _gaussian_rows(X, X[a : a + block], bandwidth, sq).mean(axis=1)
    acc = np.zeros(n)  # sum over chosen x_t of k(x, x_t)
    alive = np.ones(n, dtype=bool)
    out = np.empty(k, dtype=np.int64)
    for t in range(k):
        score = np.where(alive, mean_emb - acc / (t + 1), -np.inf)
        j = int(np.argmax(score))
        out[t] = j
        alive[j] = False
        acc += _gaussian_rows(X, X[j : j + 1], bandwidth, sq)[0]
    return out


@register_selector("herding")
class Herding(BaseSelector):
    """Select rows whose running mean follows the mean of all rows (feature or kernel herding).

    Parameters
    ----------
    kernel
        ``"linear"`` (feature herding on the embeddings) or ``"gaussian"`` (kernel herding).
    bandwidth
        Gaussian bandwidth (default: median distance between rows of a 1,000-row subsample).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.array([[0.0], [1.0], [2.0], [10.0]])})
    >>> Herding().select(t, Budget(n=2)).row_ids.tolist()
    [3, 0]
    """

    name = "herding"
    requires = frozenset({"embeddings"})

    def __init__(self, kernel: str = "linear", bandwidth: float | None = None) -> None:
        self.kernel = kernel
        self.bandwidth = bandwidth

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> np.ndarray:
        owner = type(self).__name__
        check_choice(self.kernel, "kernel", owner, ("linear", "gaussian"))
        X = table.embeddings
        if self.kernel == "linear":
            return feature_herding(X, k)
        if self.bandwidth is not None:
            bw = check_float(self.bandwidth, "bandwidth", owner, low=0.0, low_open=True)
        else:
            sub = X[np.linspace(0, len(X) - 1, min(len(X), 1000)).astype(np.int64)]
            d = np.sqrt(pairwise_sq_dists(sub, sub))[np.triu_indices(len(sub), 1)]
            d = d[d > 0]
            bw = float(np.median(d)) if d.size else 1.0
        return kernel_herding(X, k, bw)
