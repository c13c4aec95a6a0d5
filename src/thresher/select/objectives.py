"""Submodular set functions on a sparse similarity matrix, kept apart from the optimizers.

An objective is immutable: it holds the data (a sparse similarity ``W`` built from the
k-nearest-neighbour graph, see :mod:`thresher.select.graph`) and answers two questions:

* ``value(S)``: the objective of a set, computed from scratch (used by tests and by
  GreeDi to compare candidate solutions);
* ``new_state()``: a fresh :class:`GainState` that an optimizer owns and mutates. The
  state answers ``gains(candidates)`` (marginal gains of a batch) and ``add(j)``.

Every gain touches only the stored neighbours of the candidate, so one gain costs
``O(k)`` and memory stays ``O(n k)`` (log-determinant is the exception; see its class).
A candidate's gain is computed by the same code whether it is alone or in a batch, so
naive, lazy and stochastic greedy see bit-identical numbers and break ties alike.

Objectives (``W[i, j]`` = similarity of point ``i`` to candidate ``j``, zero when ``j`` is
not among ``i``'s neighbours):

* facility location ``f(S) = sum_i max_{j in S} W_ij`` (representativeness);
* graph cut ``f(S) = sum_{i in V, j in S} A_ij - lam * sum_{i, j in S} A_ij`` with
  ``A = (W + W^T) / 2`` (monotone for ``lam <= 0.5``);
* saturated coverage ``f(S) = sum_i min(sum_{j in S} W_ij, alpha * sum_{j in V} W_ij)``
  (Lin & Bilmes, ACL 2011);
* log-determinant ``f(S) = log det K_S`` with ``K = (1 + reg) I + D^-1/2 A D^-1/2``
  (positive definite, eigenvalues >= reg; monotone for ``reg >= 1``);
* ``ModularPlus``: ``g(S) + weight * sum_{j in S} q_j``, a quality score added to any of them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from thresher._validation import check_float, fail

__all__ = [
    "Objective",
    "GainState",
    "FacilityLocationObjective",
    "GraphCutObjective",
    "SaturatedCoverageObjective",
    "LogDeterminantObjective",
    "ModularPlus",
    "gather_segments",
]


class GainState(Protocol):
    """Mutable bookkeeping for one run of an optimizer over one objective."""

    def gains(self, candidates: np.ndarray) -> np.ndarray: ...

    def add(self, j: int) -> None: ...


class Objective(Protocol):
    """A normalised set function over ``n`` ground elements (positions ``0..n-1``)."""

    n: int

    def value(self, subset: np.ndarray) -> float: ...

    def new_state(self) -> GainState: ...


def _as_csc(W: sp.spmatrix, owner: str) -> sp.csc_matrix:
    if not sp.issparse(W) or W.shape[0] != W.shape[1]:
        raise fail("W", owner, "a square scipy sparse matrix", getattr(W, "shape", W))
    Wc = sp.csc_matrix(W, dtype=np.float64)
    Wc.sum_duplicates()
    Wc.sort_indices()
    if Wc.nnz and (not np.all(np.isfinite(Wc.data)) or Wc.data.min() < 0):
        raise fail("W", owner, "finite and non-negative", f"min {Wc.data.min()!r}")
    return Wc


def gather_segments(starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the concatenated ranges ``starts[c] .. starts[c] + lens[c]`` and each one's segment.

    Examples
    --------
    >>> at, seg = gather_segments(np.array([5, 0]), np.array([2, 1]))
    >>> at.tolist(), seg.tolist()
    ([5, 6, 0], [0, 0, 1])
    """
    seg = np.repeat(np.arange(len(starts)), lens)
    return starts[seg] + (np.arange(int(lens.sum())) - (np.cumsum(lens) - lens)[seg]), seg


def _segments(indptr: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (entry positions, segment id of each) for the columns ``cand`` of a CSC matrix."""
    return gather_segments(indptr[cand], indptr[cand + 1] - indptr[cand])


def _segment_sum(vals: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    # bincount adds each segment's entries in storage order, so a candidate's sum is the
    # same whichever batch it is evaluated in (naive and lazy greedy agree bit for bit)
    return np.bincount(seg, weights=vals, minlength=n_seg)


def _subset(subset: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(subset, dtype=np.int64))


# --------------------------------------------------------------------- facility location
class FacilityLocationObjective:
    """Facility location ``f(S) = sum_i max_{j in S} W_ij`` on a sparse non-negative ``W``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]]))
    >>> f = FacilityLocationObjective(W)
    >>> f.value(np.array([1])), f.new_state().gains(np.arange(3)).tolist()
    (1.7, [1.5, 1.7, 1.2])
    """

    def __init__(self, W: sp.spmatrix) -> None:
        self.W = _as_csc(W, "FacilityLocationObjective")
        self.n = int(self.W.shape[0])

    def value(self, subset: np.ndarray) -> float:
        S = _subset(subset)
        if S.size == 0:
            return 0.0
        best = self.W[:, S].max(axis=1).toarray().ravel()  # implicit zeros count as 0
        return float(np.maximum(best, 0.0).sum())

    def new_state(self) -> _FacilityLocationState:
        return _FacilityLocationState(self)


class _FacilityLocationState:
    def __init__(self, obj: FacilityLocationObjective) -> None:
        self.W = obj.W
        self.cur = np.zeros(obj.n)  # best similarity of each point to the chosen set

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        c = np.asarray(candidates, dtype=np.int64)
        idx, seg = _segments(self.W.indptr, c)
        vals = np.maximum(self.W.data[idx] - self.cur[self.W.indices[idx]], 0.0)
        return _segment_sum(vals, seg, len(c))

    def add(self, j: int) -> None:
        a, b = self.W.indptr[j], self.W.indptr[j + 1]
        rows = self.W.indices[a:b]
        self.cur[rows] = np.maximum(self.cur[rows], self.W.data[a:b])


# --------------------------------------------------------------------------- graph cut
class GraphCutObjective:
    """Graph cut ``f(S) = sum_{i in V, j in S} A_ij - lam * sum_{i, j in S} A_ij``, ``A = (W + W^T) / 2``.

    Monotone when ``lam <= 0.5``; ``lam`` trades representativeness against diversity.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[1.0, 0.5], [0.5, 1.0]]))
    >>> GraphCutObjective(W, lam=0.5).value(np.array([0, 1]))  # 3.0 - 0.5 * 3.0
    1.5
    """

    def __init__(self, W: sp.spmatrix, lam: float = 0.4) -> None:
        owner = "GraphCutObjective"
        Wc = _as_csc(W, owner)
        self.lam = check_float(lam, "lam", owner, low=0.0)
        self.A = sp.csc_matrix((Wc + Wc.T) * 0.5)
        self.A.sort_indices()
        self.n = int(self.A.shape[0])
        self.colsum = np.asarray(self.A.sum(axis=0)).ravel()
        self.diag = self.A.diagonal()

    def value(self, subset: np.ndarray) -> float:
        S = _subset(subset)
        if S.size == 0:
            return 0.0
        inner = float(self.A[S][:, S].sum())
        return float(self.colsum[S].sum()) - self.lam * inner

    def new_state(self) -> _GraphCutState:
        return _GraphCutState(self)


class _GraphCutState:
    def __init__(self, obj: GraphCutObjective) -> None:
        self.obj = obj
        self.inside = np.zeros(obj.n)  # sum over chosen i of A_ij, for every j

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        c = np.asarray(candidates, dtype=np.int64)
        o = self.obj
        return o.colsum[c] - o.lam * (2.0 * self.inside[c] + o.diag[c])

    def add(self, j: int) -> None:
        A = self.obj.A
        a, b = A.indptr[j], A.indptr[j + 1]
        self.inside[A.indices[a:b]] += A.data[a:b]


# ----------------------------------------------------------------- saturated coverage
class SaturatedCoverageObjective:
    """Saturated coverage ``f(S) = sum_i min(C_i(S), alpha * C_i(V))``, ``C_i(S) = sum_{j in S} W_ij``.

    Lin & Bilmes, "A Class of Submodular Functions for Document Summarization", ACL 2011.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 1.0]]))
    >>> SaturatedCoverageObjective(W, alpha=0.5).value(np.array([1]))
    1.5
    """

    def __init__(self, W: sp.spmatrix, alpha: float = 0.1) -> None:
        owner = "SaturatedCoverageObjective"
        self.W = _as_csc(W, owner)
        self.alpha = check_float(alpha, "alpha", owner, low=0.0, high=1.0, low_open=True)
        self.n = int(self.W.shape[0])
        self.cap = self.alpha * np.asarray(self.W.sum(axis=1)).ravel()

    def value(self, subset: np.ndarray) -> float:
        S = _subset(subset)
        if S.size == 0:
            return 0.0
        cov = np.asarray(self.W[:, S].sum(axis=1)).ravel()
        return float(np.minimum(cov, self.cap).sum())

    def new_state(self) -> _SaturatedCoverageState:
        return _SaturatedCoverageState(self)


class _SaturatedCoverageState:
    def __init__(self, obj: SaturatedCoverageObjective) -> None:
        self.obj = obj
        self.cov = np.zeros(obj.n)

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        c = np.asarray(candidates, dtype=np.int64)
        W, cap = self.obj.W, self.obj.cap
        idx, seg = _segments(W.indptr, c)
        rows = W.indices[idx]
        before = np.minimum(self.cov[rows], cap[rows])
        after = np.minimum(self.cov[rows] + W.data[idx], cap[rows])
        return _segment_sum(after - before, seg, len(c))

    def add(self, j: int) -> None:
        W = self.obj.W
        a, b = W.indptr[j], W.indptr[j + 1]
        self.cov[W.indices[a:b]] += W.data[a:b]


# ------------------------------------------------------------------- log-determinant
class LogDeterminantObjective:
    """Log-determinant ``f(S) = log det K_S`` with ``K = (1 + reg) I + D^-1/2 A D^-1/2``.

    ``A = (W + W^T) / 2`` and ``D`` its row sums, so the normalised adjacency has
    eigenvalues in [-1, 1] and ``K`` is positive definite with eigenvalues >= ``reg``;
    every gain ``log`` (Schur complement) is then >= ``log(reg)``, so ``f`` is monotone for
    ``reg >= 1``. Gains use the incremental Cholesky update of Chen, Zhang & Zhou,
    "Fast Greedy MAP Inference for Determinantal Point Process", NeurIPS 2018: adding a
    row costs ``O(|S| n)`` and the state holds ``|S| x n`` floats, so keep ``k * n`` moderate
    (2,000 x 20,000 is 320 MB).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    >>> f = LogDeterminantObjective(W, reg=1.0)
    >>> round(f.value(np.array([0, 1])), 6) == round(float(np.log(2.5**2 - 0.5**2)), 6)
    True
    """

    def __init__(self, W: sp.spmatrix, reg: float = 1.0) -> None:
        owner = "LogDeterminantObjective"
        Wc = _as_csc(W, owner)
        self.reg = check_float(reg, "reg", owner, low=0.0, low_open=True)
        A = sp.csr_matrix((Wc + Wc.T) * 0.5)
        deg = np.asarray(A.sum(axis=1)).ravel()
        inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
        Dm = sp.diags(inv)
        self.K = sp.csr_matrix(Dm @ A @ Dm + (1.0 + self.reg) * sp.identity(A.shape[0], format="csr"))
        self.K.sort_indices()
        self.n = int(self.K.shape[0])

    def value(self, subset: np.ndarray) -> float:
        S = _subset(subset)
        if S.size == 0:
            return 0.0
        sign, logdet = np.linalg.slogdet(self.K[S][:, S].toarray())
        return float(logdet) if sign > 0 else float("-inf")

    def new_state(self) -> _LogDetState:
        return _LogDetState(self)


class _LogDetState:
    def __init__(self, obj: LogDeterminantObjective) -> None:
        self.K = obj.K
        self.d2 = obj.K.diagonal().copy()  # Schur complement of each candidate given S
        self.rows: list[np.ndarray] = []  # rows of the incremental Cholesky factor, each (n,)

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        c = np.asarray(candidates, dtype=np.int64)
        with np.errstate(divide="ignore"):
            return np.log(np.maximum(self.d2[c], 0.0))

    def add(self, j: int) -> None:
        dj = np.sqrt(max(self.d2[j], 1e-300))
        kj = self.K[j].toarray().ravel()
        if self.rows:
            C = np.vstack(self.rows)
            e = (kj - C[:, j] @ C) / dj
        else:
            e = kj / dj
        self.d2 = self.d2 - e**2
        self.d2[j] = 0.0
        self.rows.append(e)


# ----------------------------------------------------------------- modular + submodular
class ModularPlus:
    """Add a modular quality term to any objective: ``g(S) + weight * sum_{j in S} q_j``.

    With non-negative ``q`` and ``weight`` the sum stays monotone submodular.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> g = FacilityLocationObjective(sp.identity(3, format="csr"))
    >>> ModularPlus(g, np.array([0.0, 1.0, 2.0]), weight=0.5).value(np.array([1, 2]))
    3.5
    """

    def __init__(self, base: Objective, quality: np.ndarray, weight: float = 1.0) -> None:
        owner = "ModularPlus"
        q = np.asarray(quality, dtype=np.float64)
        if q.shape != (base.n,) or not np.all(np.isfinite(q)):
            raise fail("quality", owner, f"a finite array of shape ({base.n},)", q)
        self.base = base
        self.quality = q
        self.weight = check_float(weight, "weight", owner)
        self.n = base.n

    def value(self, subset: np.ndarray) -> float:
        S = _subset(subset)
        return self.base.value(S) + self.weight * float(self.quality[S].sum())

    def new_state(self) -> _ModularPlusState:
        return _ModularPlusState(self)


class _ModularPlusState:
    def __init__(self, obj: ModularPlus) -> None:
        self.obj = obj
        self.inner = obj.base.new_state()

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        c = np.asarray(candidates, dtype=np.int64)
        return self.inner.gains(c) + self.obj.weight * self.obj.quality[c]

    def add(self, j: int) -> None:
        self.inner.add(j)
