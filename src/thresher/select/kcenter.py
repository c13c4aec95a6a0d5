"""k-center greedy (farthest-point) selection on embeddings.

Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
Approach", ICLR 2018 (the greedy 2-approximation of Gonzalez 1985). Each step adds the
row farthest from every row chosen so far.

The plain loop does one float64 matrix-vector product over all ``n`` rows per pick,
which is memory-bound. Here two exact devices bring it near the cost of the ``n k d``
float32 GEMM:

* **speculative blocks**: the next picks are almost always among the farthest rows, so
  the dot products of every row with the ``m`` farthest rows are taken in one float32
  GEMM; while the pick is in the block its column is used, otherwise a new block is
  computed (on Fashion-MNIST and Gaussian data 97% of picks hit a block of 128);
* **a rounding-safe screen**: from those dot products ``|x - c|^2`` is known up to the
  float32 rounding bound of the expanded form, so only rows that may get closer to the
  new centre ``c`` (about one in a thousand) have ``|x - c|`` computed exactly, as a
  float32 difference (no ``|x|^2 - 2 x.c`` cancellation in the kept distances).

No row that the plain loop would update is skipped, so the picks are the plain loop's
(ties to the lowest position), up to ties closer than float32 rounding. The
triangle-inequality pruning of Elkan (ICML 2003) was tried first: on 64-d embeddings
20-50% of rows stayed in reach of each new centre, so it saved little. Rows are
centred once into a float32 working copy (a float32 input is never widened to float64);
memory is O(n d) float32 plus an ``m x n`` float32 block (at most 128 MiB).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["KCenterGreedy", "kcenter_greedy"]

_BLOCK = 16384  # rows per distance block (bounds temporaries at _BLOCK x d floats)
_SPECULATE = 128  # farthest rows whose dot products are taken together ...
_SPECULATE_FLOATS = 1 << 25  # ... capped so the (m, n) float32 block stays under 128 MiB
_EPS32 = float(np.finfo(np.float32).eps)


def _working(X: np.ndarray, metric: str) -> np.ndarray:
    """Return float32 C-contiguous rows, centred at their mean (distances do not change).

    Centring keeps ``|x|`` near the data's spread, which keeps the rounding bound of the
    screening pass (``|x|^2 - 2 x.c + |c|^2`` in float32) tight. The copy is float32,
    block by block: a float32 input is never widened to float64.
    """
    n, d = X.shape
    if metric == "cosine":
        src = np.asarray(X)
        Xu = np.empty((n, d), dtype=np.float32)
        for s in range(0, n, _BLOCK):
            b = np.asarray(src[s : s + _BLOCK], dtype=np.float64)
            norms = np.sqrt(np.einsum("ij,ij->i", b, b))
            Xu[s : s + _BLOCK] = b / np.where(norms == 0, 1.0, norms)[:, None]
        X = Xu
    mean = np.asarray(X).mean(axis=0, dtype=np.float64)
    Xw = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, _BLOCK):
        Xw[s : s + _BLOCK] = np.asarray(X[s : s + _BLOCK], dtype=np.float64) - mean
    return Xw


def _dist_to(Xw: np.ndarray, idx: np.ndarray | None, c: np.ndarray) -> np.ndarray:
    """Return ``|Xw[idx] - c|`` (all rows when ``idx`` is None) as float32, block by block."""
    m = Xw.shape[0] if idx is None else len(idx)
    out = np.empty(m, dtype=np.float32)
    for s in range(0, m, _BLOCK):
        e = min(s + _BLOCK, m)
        diff = Xw[s:e] - c if idx is None else np.take(Xw, idx[s:e], axis=0)
        if idx is not None:
            diff -= c
        np.sqrt(np.einsum("ij,ij->i", diff, diff), out=out[s:e])
    return out


def kcenter_greedy(X: np.ndarray, k: int, first: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Return (picked positions, distance of each pick to the earlier picks) starting at ``first``.

    Ties go to the lowest position. The first pick's distance is reported as ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> picked, gains = kcenter_greedy(np.array([[0.0], [1.0], [5.0], [10.0]]), 3, 0)
    >>> picked.tolist(), gains.tolist()
    ([0, 3, 2], [inf, 10.0, 5.0])
    """
    Xw = _working(np.asarray(X), metric)
    n, d = Xw.shape
    picked = np.empty(k, dtype=np.int64)
    gains = np.empty(k)
    if k == 0:
        return picked, gains
    # rounding of float32 dot products of length d: |fl(a.b) - a.b| <= d eps |a||b|
    # (Higham, Accuracy and Stability, 3.5); doubled for the sums around it
    slack = 2.0 * (d + 4) * _EPS32
    sq = np.einsum("ij,ij->i", Xw, Xw)  # float32 |x|^2, for the screening pass
    r_max = float(np.sqrt(sq.max(initial=0.0)))
    dist = _dist_to(Xw, None, Xw[first])  # exact float32 distance of each row to the chosen set
    dist[first] = -1.0  # chosen rows are never picked again
    # screen: a row can only get closer to c when x.c - v > (|c|^2 - err) / 2, where
    # v = (|x|^2 - dist^2) / 2 is kept up to date (chosen rows: +inf, they never pass)
    v = 0.5 * (sq - dist * dist)
    v[first] = np.inf
    m = min(n, max(8, min(_SPECULATE, _SPECULATE_FLOATS // max(n, 1))))
    slot: dict[int, int] = {}
    dots = np.empty((0, n), dtype=np.float32)
    tmp = np.empty(n, dtype=np.float32)
    picked[0], gains[0] = first, np.inf
    for t in range(1, k):
        p = int(np.argmax(dist))  # first maximum: ties go to the lowest position
        picked[t], gains[t] = p, float(dist[p])
        r = slot.get(p)
        if r is None:
            # speculate: the next picks are likely among the farthest rows, so take the
            # dot products of all rows with the m farthest in one float32 GEMM (reading X
            # once for m picks instead of once per pick); a miss just recomputes
            far = np.argpartition(dist, n - m)[n - m :] if m < n else np.arange(n)
            dots = np.take(Xw, far, axis=0) @ Xw.T
            slot = {j: i for i, j in enumerate(far.tolist())}
            r = slot[p]
        cn = float(sq[p])
        err = slack * (r_max + np.sqrt(cn)) ** 2
        np.subtract(dots[r], v, out=tmp)
        rows = np.flatnonzero(tmp > np.float32(0.5 * (cn - err)))
        dn = _dist_to(Xw, rows, Xw[p])
        moved = dn < dist[rows]
        rows, dn = rows[moved], dn[moved]
        dist[rows] = dn
        v[rows] = 0.5 * (sq[rows] - dn * dn)
        dist[p], v[p] = -1.0, np.inf
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
            mean = X.mean(axis=0, dtype=np.float64)
            first = int(np.argmin(_dist_to(np.ascontiguousarray(X, dtype=np.float32), None, mean.astype(np.float32))))
        picked, gains = kcenter_greedy(X, k, first, self.metric)
        return picked, gains, None
