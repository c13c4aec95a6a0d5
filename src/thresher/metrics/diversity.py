"""Diversity of a set: the Vendi score and its order-q family.

Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine
Learning", TMLR 2023; Pasarkar & Dieng, "Cousins of the Vendi Score", 2023.

For a kernel matrix K with unit diagonal over n items, let lambda be the eigenvalues of
K / n (they sum to 1). The Vendi score of order q is the exponential of the Renyi
entropy of lambda::

    VS_q = (sum_i lambda_i^q) ** (1 / (1 - q)),   VS_1 = exp(-sum_i lambda_i log lambda_i),
    VS_0 = #{lambda_i > 0},                        VS_inf = 1 / max_i lambda_i.

For a linear kernel K = X X^T (cosine: rows of X normalised), the non-zero eigenvalues
of X X^T / n equal those of the d x d covariance X^T X / n, so the score costs O(n d^2)
time and O(d^2) memory instead of O(n^3) and O(n^2) ("covariance route"). For kernels
without unit diagonal, eigenvalues are normalised by their sum (the trace).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._validation import check_choice, check_float, check_matrix, fail
from thresher.data.table import Table
from thresher.metrics.base import BaseMetric, MetricResult

__all__ = ["Vendi", "vendi_score", "vendi_from_eigenvalues", "kernel_matrix"]

_ROUTES = ("auto", "exact", "covariance")
_KERNELS = ("linear", "cosine", "rbf")
_EXACT_MAX_N = 2000


def vendi_from_eigenvalues(eigenvalues: Any, q: float = 1.0, *, tol: float = 1e-12) -> float:
    """Return the order-``q`` Vendi score of a spectrum (normalised to sum to 1).

    Examples
    --------
    >>> vendi_from_eigenvalues([0.5, 0.5]), vendi_from_eigenvalues([1.0, 0.0])
    (2.0, 1.0)
    >>> round(vendi_from_eigenvalues([0.5, 0.25, 0.25], q=2), 6)
    2.666667
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lam = np.where(lam > tol * max(float(lam.max(initial=0.0)), 1.0), lam, 0.0)
    total = lam.sum()
    if total <= 0:
        raise fail("eigenvalues", "vendi_from_eigenvalues", "a spectrum with positive sum", lam)
    p = lam / total
    nz = p[p > 0]
    q = float(q)
    if q < 0:
        raise fail("q", "vendi_from_eigenvalues", "in [0, inf]", q)
    if q == 0:
        return float(len(nz))
    if q == 1:
        return float(np.exp(-np.sum(nz * np.log(nz))))
    if np.isinf(q):
        return float(1.0 / nz.max())
    return float(np.sum(nz**q) ** (1.0 / (1.0 - q)))


def kernel_matrix(X: np.ndarray, kernel: str = "cosine", gamma: float | None = None) -> np.ndarray:
    """Return the n x n kernel matrix (``linear``, ``cosine`` or ``rbf`` with ``gamma``, default 1/d)."""
    if kernel == "linear":
        return X @ X.T
    if kernel == "cosine":
        U = _unit_rows(X)
        return U @ U.T
    g = 1.0 / X.shape[1] if gamma is None else gamma
    sq = np.einsum("ij,ij->i", X, X)
    d = np.maximum(sq[:, None] - 2.0 * (X @ X.T) + sq[None, :], 0.0)
    return np.exp(-g * d)


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def vendi_score(
    X: Any,
    q: float = 1.0,
    *,
    kernel: str = "cosine",
    route: str = "auto",
    gamma: float | None = None,
) -> float:
    """Return the Vendi score of order ``q`` of the rows of ``X``.

    Parameters
    ----------
    X
        Features (n, d).
    q
        Order, any value in [0, inf] (``np.inf`` allowed).
    kernel
        ``"cosine"`` (linear on unit rows), ``"linear"`` or ``"rbf"``.
    route
        ``"exact"`` (eigenvalues of the n x n kernel), ``"covariance"`` (d x d feature
        covariance; linear/cosine only) or ``"auto"`` (covariance when possible).

    Examples
    --------
    >>> import numpy as np
    >>> vendi_score(np.ones((5, 3))), round(vendi_score(np.eye(4)), 10)
    (1.0, 4.0)
    """
    owner = "vendi_score"
    Xa = check_matrix(X, "X", owner)
    if Xa.shape[0] == 0:
        raise fail("X", owner, "a non-empty array", Xa)
    check_choice(kernel, "kernel", owner, _KERNELS)
    check_choice(route, "route", owner, _ROUTES)
    qf = float(q)
    if not (qf >= 0):
        raise fail("q", owner, "in [0, inf]", q)
    if route == "auto":
        route = "covariance" if kernel in ("linear", "cosine") else "exact"
    if route == "covariance":
        if kernel == "rbf":
            raise fail("route", owner, "'exact' for the rbf kernel (covariance needs explicit features)", route)
        F = _unit_rows(Xa) if kernel == "cosine" else Xa
        lam = np.linalg.eigvalsh(F.T @ F / F.shape[0])
    else:
        if Xa.shape[0] > 20_000:
            raise fail("route", owner, "'covariance' for n > 20,000 (the exact route holds an n x n matrix)", route)
        lam = np.linalg.eigvalsh(kernel_matrix(Xa, kernel, gamma) / Xa.shape[0])
    return vendi_from_eigenvalues(np.clip(lam, 0.0, None), qf)


@register_metric("vendi")
class Vendi(BaseMetric):
    """Measure the diversity of a set as its Vendi score of order q (effective number of distinct items).

    Examples
    --------
    >>> import numpy as np
    >>> r = Vendi(q=1).compute(Table(matrices={"embeddings": np.eye(3)}))
    >>> round(r.value, 8), r.params["route"]
    (3.0, 'covariance')
    """

    name = "vendi"
    requires = frozenset({"embeddings"})

    def __init__(self, q: float = 1.0, kernel: str = "cosine", route: str = "auto", gamma: float | None = None) -> None:
        self.q = q
        self.kernel = kernel
        self.route = route
        self.gamma = gamma

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        check_float(float(self.q), "q", type(self).__name__, low=0.0) if np.isfinite(self.q) else None
        route = self.route
        if route == "auto":
            route = "covariance" if self.kernel in ("linear", "cosine") else "exact"
        value = vendi_score(table.embeddings, self.q, kernel=self.kernel, route=route, gamma=self.gamma)
        params = {"q": self.q, "kernel": self.kernel, "route": route, "gamma": self.gamma}
        return MetricResult(self.name, value, params, {"n": table.n_rows})
