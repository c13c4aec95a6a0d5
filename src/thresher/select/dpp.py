"""Determinantal point processes: greedy MAP and exact k-DPP sampling.

A DPP with kernel ``L`` (positive semi-definite, ``n x n``) gives a subset ``S``
probability proportional to ``det L_S``: sets of similar rows have small determinants,
so it favours diverse sets. Following Kulesza & Taskar ("Determinantal Point Processes
for Machine Learning", 2012) the kernel is a quality-diversity product
``L_ij = q_i S_ij q_j`` with a similarity ``S`` from the embeddings and an optional
quality ``q_i = exp(alpha * score_i)`` from a score column (score min-max scaled to [0, 1]).

* :func:`dpp_greedy_map`: Chen, Zhang & Zhou, "Fast Greedy MAP Inference for
  Determinantal Point Process to Improve Recommendation Diversity", NeurIPS 2018. The
  greedy rule adds ``argmax_j log det L_{S+j}``; an incremental Cholesky factor makes
  each step ``O(|S| n)`` and only one kernel row is computed per step, so the ``n x n``
  kernel is never formed (memory ``k x n`` for the factor).
* :class:`KDPP` / :func:`sample_k_dpp`: exact k-DPP sampling (Kulesza & Taskar 2012,
  Algorithm 8): eigendecompose ``L``, choose ``k`` eigenvectors with probabilities given
  by elementary symmetric polynomials, then sample the projection DPP they span. The
  eigendecomposition is ``O(n^3)``, so this is for moderate ``n`` (``max_rows``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.neighbors import pairwise_sq_dists
from thresher.select.base import BaseSelector, Budget

__all__ = ["dpp_greedy_map", "sample_k_dpp", "KDPPSampler", "DPPGreedyMAP", "KDPP", "dpp_kernel_rows"]


def dpp_greedy_map(
    kernel_row: Callable[[int], np.ndarray], diag: np.ndarray, k: int, *, eps: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """Greedily add the row that most increases ``log det L_S``; return (positions, log-gains).

    ``kernel_row(j)`` returns row ``j`` of ``L`` (length ``n``) and ``diag`` its diagonal.
    The gain of ``j`` is ``log d_j^2`` with ``d_j^2 = L_jj - L_jS L_SS^-1 L_Sj`` (the Schur
    complement), kept for all rows by the incremental Cholesky update of Chen et al. 2018.
    Ties go to the lowest position. When every remaining ``d_j^2`` is below ``eps`` (the
    kernel's rank is exhausted) the remaining picks continue by the same rule and report
    a gain of ``log(eps)``.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[2.0, 1.9, 0.0], [1.9, 2.0, 0.0], [0.0, 0.0, 1.0]])
    >>> pos, g = dpp_greedy_map(lambda j: L[j], np.diag(L), 2)
    >>> pos.tolist(), round(float(np.exp(g.sum())), 6)  # det of L[[0, 2]][:, [0, 2]]
    ([0, 2], 2.0)
    """
    owner = "dpp_greedy_map"
    d2 = np.array(diag, dtype=np.float64)
    n = d2.shape[0]
    k = check_int(k, "k", owner, low=0, high=n)
    C = np.zeros((k, n))
    picked = np.empty(k, dtype=np.int64)
    gains = np.empty(k)
    alive = np.ones(n, dtype=bool)
    for t in range(k):
        masked = np.where(alive, d2, -np.inf)
        j = int(np.argmax(masked))
        dj2 = float(d2[j])
        picked[t], gains[t] = j, np.log(max(dj2, eps))
        alive[j] = False
        if dj2 <= eps:
            continue  # rank exhausted: no update is defined; later picks follow d2 order
        row = np.asarray(kernel_row(j), dtype=np.float64)
        e = (row - C[:t, j] @ C[:t]) / np.sqrt(dj2)
        C[t] = e
        d2 = d2 - e**2
    return picked, gains


def _log_esp(lam: np.ndarray, k: int) -> np.ndarray:
    """Return ``logE[l, m]`` = log of the l-th elementary symmetric polynomial of ``lam[:m]``."""
    n = lam.shape[0]
    with np.errstate(divide="ignore"):
        loglam = np.log(np.maximum(lam, 0.0))
    logE = np.full((k + 1, n + 1), -np.inf)
    logE[0, :] = 0.0
    for m in range(1, n + 1):
        logE[1:, m] = np.logaddexp(logE[1:, m - 1], loglam[m - 1] + logE[:-1, m - 1])
    return logE


class KDPPSampler:
    """Exact sampler of the k-DPP with kernel ``L`` (eigendecomposition done once).

    Examples
    --------
    >>> import numpy as np
    >>> s = KDPPSampler(np.eye(4))
    >>> sorted(s.sample(4, np.random.default_rng(0)).tolist())
    [0, 1, 2, 3]
    """

    def __init__(self, L: np.ndarray) -> None:
        owner = "KDPPSampler"
        La = np.asarray(L, dtype=np.float64)
        if La.ndim != 2 or La.shape[0] != La.shape[1] or not np.all(np.isfinite(La)):
            raise fail("L", owner, "a finite square matrix", La)
        lam, V = np.linalg.eigh((La + La.T) / 2.0)
        self.lam = np.maximum(lam, 0.0)
        self.V = V
        self.n = La.shape[0]
        self._logE: np.ndarray | None = None
        self._k = -1

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one set of ``k`` positions (in the order the projection sampler chose them)."""
        owner = "KDPPSampler"
        rank = int(np.count_nonzero(self.lam > 1e-12 * max(float(self.lam.max(initial=0.0)), 1e-300)))
        k = check_int(k, "k", owner, low=0, high=rank)
        if self._k != k:
            self._logE, self._k = _log_esp(self.lam, k), k
        logE = self._logE
        assert logE is not None
        # phase 1: choose k eigenvectors (Kulesza & Taskar 2012, Algorithm 8)
        chosen: list[int] = []
        left = k
        with np.errstate(divide="ignore"):
            loglam = np.log(self.lam)
        for m in range(self.n, 0, -1):
            if left == 0:
                break
            if m == left:  # every remaining eigenvector must be taken
                chosen.extend(range(m - 1, -1, -1))
                break
            p = np.exp(loglam[m - 1] + logE[left - 1, m - 1] - logE[left, m])
            if rng.random() < p:
                chosen.append(m - 1)
                left -= 1
        # phase 2: sample the projection DPP spanned by the chosen eigenvectors
        V = self.V[:, chosen]
        out: list[int] = []
        while V.shape[1] > 0:
            p = np.sum(V**2, axis=1)
            p[out] = 0.0
            p = np.maximum(p, 0.0) / p.sum()
            i = int(rng.choice(self.n, p=p))
            out.append(i)
            j = int(np.argmax(np.abs(V[i])))
            Vj = V[:, j] / V[i, j]
            V = np.delete(V - np.outer(Vj, V[i]), j, axis=1)
            if V.shape[1] > 0:
                V, _ = np.linalg.qr(V)
        return np.asarray(out, dtype=np.int64)


def sample_k_dpp(L: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``k`` positions from the k-DPP with kernel ``L`` (exact; ``O(n^3)``).

    Examples
    --------
    >>> import numpy as np
    >>> len(sample_k_dpp(np.eye(5) + 0.1, 3, np.random.default_rng(0)))
    3
    """
    return KDPPSampler(L).sample(k, rng)


def dpp_kernel_rows(
    X: np.ndarray, kernel: str, bandwidth: float | None, quality: np.ndarray | None
) -> tuple[Callable[[int], np.ndarray], np.ndarray, float]:
    """Return (row function, diagonal, bandwidth used) of ``L = diag(q) S diag(q)``.

    ``S`` is ``exp(-|x_i - x_j|^2 / (2 bw^2))`` (``"gaussian"``, bandwidth default: median
    distance between rows of a 1,000-row evenly spaced subsample), ``x_i . x_j`` of
    unit-normalised rows (``"cosine"``) or of raw rows (``"linear"``).
    """
    n = X.shape[0]
    q = np.ones(n) if quality is None else quality
    sq = np.einsum("ij,ij->i", X, X)
    bw = 1.0
    if kernel == "gaussian":
        if bandwidth is None:
            sub = X[np.linspace(0, n - 1, min(n, 1000)).astype(np.int64)]
            d = np.sqrt(pairwise_sq_dists(sub, sub))
            off = d[np.triu_indices(len(sub), 1)]
            off = off[off > 0]
            bw = float(np.median(off)) if off.size else 1.0
        else:
            bw = float(bandwidth)
        diag = q**2

        def row(j: int) -> np.ndarray:
            d2 = np.maximum(sq - 2.0 * (X @ X[j]) + sq[j], 0.0)
            return q * np.exp(-d2 / (2.0 * bw**2)) * q[j]

        return row, diag, bw
    if kernel == "cosine":
        norms = np.sqrt(sq)
        Xn = X / np.where(norms == 0, 1.0, norms)[:, None]
        diag = q**2 * (norms > 0)

        def row_c(j: int) -> np.ndarray:
            return q * (Xn @ Xn[j]) * q[j]

        return row_c, diag, bw

    def row_l(j: int) -> np.ndarray:
        return q * (X @ X[j]) * q[j]

    return row_l, q**2 * sq, bw


class _DPPBase(BaseSelector):
    requires = frozenset({"embeddings"})

    def __init__(self, kernel: str = "gaussian", bandwidth: float | None = None, by: str | None = None, alpha: float = 1.0) -> None:
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.by = by
        self.alpha = alpha

    def required_columns(self) -> frozenset[str]:
        return self.requires | ({self.by} if self.by else frozenset())

    def _kernel(self, table: Table) -> tuple[Callable[[int], np.ndarray], np.ndarray]:
        owner = type(self).__name__
        check_choice(self.kernel, "kernel", owner, ("gaussian", "cosine", "linear"))
        if self.bandwidth is not None:
            check_float(self.bandwidth, "bandwidth", owner, low=0.0, low_open=True)
        alpha = check_float(self.alpha, "alpha", owner)
        quality = None
        if self.by:
            v = np.asarray(table.column(self.by), dtype=np.float64)
            if not np.all(np.isfinite(v)):
                raise fail(self.by, owner, "finite", "NaN or inf values")
            span = float(v.max() - v.min())
            quality = np.exp(alpha * ((v - v.min()) / span if span > 0 else np.zeros_like(v)))
        row, diag, _ = dpp_kernel_rows(table.embeddings, self.kernel, self.bandwidth, quality)
        return row, diag


@register_selector("dpp_map")
class DPPGreedyMAP(_DPPBase):
    """Select a diverse subset by greedy MAP inference of a DPP (Chen et al., NeurIPS 2018).

    Parameters
    ----------
    kernel
        Similarity ``S``: ``"gaussian"``, ``"cosine"`` or ``"linear"`` (rank <= dimension).
    bandwidth
        Gaussian bandwidth (default: median distance in a subsample).
    by
        Optional quality column; ``q = exp(alpha * scaled score)``.
    alpha
        Strength of the quality term.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.array([[0.0], [0.01], [5.0], [10.0]])})
    >>> sorted(DPPGreedyMAP(bandwidth=1.0).select(t, Budget(n=3)).row_ids.tolist())
    [0, 2, 3]
    """

    name = "dpp_map"

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        row, diag = self._kernel(table)
        pos, gains = dpp_greedy_map(row, diag, k)
        return pos, gains, None


@register_selector("kdpp")
class KDPP(_DPPBase):
    """Sample a diverse subset from the exact k-DPP of the embedding kernel (Kulesza & Taskar 2012).

    Builds the dense ``n x n`` kernel and its eigendecomposition, so ``n`` is limited to
    ``max_rows``; use ``dpp_map`` beyond that. Other parameters as :class:`DPPGreedyMAP`.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"embeddings": np.random.default_rng(0).normal(size=(20, 2))})
    >>> len(KDPP().select(t, Budget(n=5), seed=0))
    5
    """

    name = "kdpp"
    is_stochastic = True

    def __init__(
        self,
        kernel: str = "gaussian",
        bandwidth: float | None = None,
        by: str | None = None,
        alpha: float = 1.0,
        max_rows: int = 5000,
    ) -> None:
        super().__init__(kernel, bandwidth, by, alpha)
        self.max_rows = max_rows

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> np.ndarray:
        owner = type(self).__name__
        max_rows = check_int(self.max_rows, "max_rows", owner, low=1)
        if table.n_rows > max_rows:
            raise InvalidParameterError(
                f"`max_rows` of {owner} must be at least the number of rows ({table.n_rows}) for exact "
                f"sampling; got {max_rows}. Use the 'dpp_map' selector for large tables."
            )
        row, _ = self._kernel(table)
        L = np.vstack([row(j) for j in range(table.n_rows)])
        return KDPPSampler(L).sample(k, rng)
