"""The Vendi score of a set and its order-q family, by exact, covariance, streaming, Nystrom or RFF routes.

Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine
Learning", TMLR 2023; Pasarkar & Dieng, "Cousins of the Vendi Score: A Family of
Similarity-Based Diversity Metrics for Science and Machine Learning", AISTATS 2024.

For a kernel matrix K with unit diagonal over n items, let lambda be the eigenvalues of
K / n (they sum to 1). The Vendi score of order q is the exponential of the Renyi
entropy of lambda::

    VS_q = (sum_i lambda_i^q) ** (1 / (1 - q)),   VS_1 = exp(-sum_i lambda_i log lambda_i),
    VS_0 = #{lambda_i > 0},                        VS_inf = 1 / max_i lambda_i.

Routes (all give the spectrum of K / trace(K), hence the same score when exact):

* ``exact``: eigenvalues of the n x n kernel (any kernel, O(n^3); small n).
* ``covariance``: for a linear kernel K = F F^T (cosine: unit rows) the non-zero
  eigenvalues of F F^T equal those of the d x d matrix F^T F, so the cost is O(n d^2)
  time and O(d^2) memory. F^T F is summed over blocks of rows scaled in place of a
  copy (no full copy of X; float32 rows stay float32 in each block, the sum is float64).
* ``streaming``: the same d x d matrix accumulated shard by shard through an
  :class:`~thresher.execute.Executor` (local or Ray). Rows are read one shard at a time,
  so ``X`` may be a ``np.memmap`` or a :class:`~thresher.metrics.row_sources.NpyRows` file source (out of core).
* ``nystrom``: for any kernel (RBF by default), ``r`` landmark rows give features
  Phi = K_nL K_LL^{-1/2} with Phi Phi^T ~= K (Williams & Seeger 2001); the r x r matrix
  Phi^T Phi is accumulated shard by shard like the streaming route.
* ``rff``: random Fourier features for the RBF kernel (Rahimi & Recht 2007),
  z(x) = sqrt(2/D) cos(W x + b), accumulated the same way.

The approximate routes report, in :class:`VendiResult.details`, the relative error of the
score against the exact value on a random check sample of the rows (features of the
sample rows against the exact kernel of those rows), and the mean missing kernel mass
``1 - mean(diag(Phi Phi^T))`` (Nystrom) or mean ``|diag(Z Z^T) - 1|`` (RFF).
For kernels without unit diagonal, eigenvalues are normalised by their sum (the trace).

Kernels live in :mod:`thresher.metrics.kernels`, row sources in
:mod:`thresher.metrics.row_sources`, the Nystrom/RFF feature maps in
:mod:`thresher.metrics.kernel_approx`; intra-set diversity in
:mod:`thresher.metrics.diversity`.
"""


from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_int, check_matrix, fail
from thresher.data.scales import warn_if_unscaled
from thresher.data.table import Table
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.metrics.base import BaseMetric, MetricResult
from thresher.metrics.kernel_approx import approx_feature_map, feature_gram, gram_spectrum
from thresher.metrics.kernels import KERNELS, Kernel, kernel_matrix, kernel_name
from thresher.metrics.row_sources import row_shape, take_rows

__all__ = [
    "Vendi",
    "VendiResult",
    "vendi",
    "vendi_score",
    "vendi_from_eigenvalues",
]

_ROUTES = ("auto", "exact", "covariance", "streaming", "nystrom", "rff")
_EXACT_MAX_N = 10_000  # `auto` takes the exact route for non-linear kernels up to here (about 3 n^2 floats: 2.4 GB)
_EXACT_HARD_MAX_N = 20_000
_GRAM_BLOCK = 4096  # rows per block of the covariance Gram
TOLERANCE = 0.05  # default relative error an approximate route must meet on its check
_AUTO_RANKS = 3  # `auto` beyond _EXACT_MAX_N tries rank, 2 rank, 4 rank landmarks
_CHECK_MAX = 4000  # rows of the check sample at most (an exact eigendecomposition)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- spectra
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
    if not q >= 0:
        raise fail("q", "vendi_from_eigenvalues", "in [0, inf]", q)
    if q == 0:
        return float(len(nz))
    if q == 1:
        return float(np.exp(-np.sum(nz * np.log(nz))))
    if np.isinf(q):
        return float(1.0 / nz.max())
    # log-sum-exp form: sum p^q can under/overflow for large or tiny q
    log_s = np.log(nz) * q
    m = float(log_s.max())
    return float(np.exp((m + np.log(np.sum(np.exp(log_s - m)))) / (1.0 - q)))


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class VendiResult:
    """A Vendi score with the route that produced it and the approximation diagnostics."""

    value: float
    q: float
    route: str
    n: int
    eigenvalues: np.ndarray = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)


def _resolve_route(route: str, kernel: Kernel, n: int) -> str:
    if route != "auto":
        return route
    if kernel in ("linear", "cosine"):
        return "covariance"
    return "exact" if n <= _EXACT_MAX_N else "nystrom"


def _check_rows(n: int, rank: int, check_size: int) -> int:
    # the check must hold clearly more rows than landmarks/features, or the approximation
    # is near exact on those rows and the check flatters it
    return min(n, max(check_size, 2 * rank), max(check_size, _CHECK_MAX))


def vendi(
    X: Any,
    q: float = 1.0,
    *,
    kernel: Kernel = "cosine",
    route: str = "auto",
    gamma: float | None = None,
    rank: int = 500,
    check_size: int = 1000,
    tolerance: float = TOLERANCE,
    shard_size: int = 8192,
    executor: Executor | None = None,
    seed: Seed = None,
) -> VendiResult:
    """Compute the Vendi score of order ``q`` of the rows of ``X`` with its diagnostics.

    Parameters
    ----------
    X
        Features (n, d): an array, a ``np.memmap`` or a :class:`~thresher.metrics.row_sources.NpyRows` (rows are read
        one shard at a time on the streaming, Nystrom and RFF routes).
    q
        Order, any value in [0, inf] (``np.inf`` allowed).
    kernel
        ``"cosine"`` (linear on unit rows), ``"linear"``, ``"rbf"`` or a callable
        ``k(A, B) -> (len(A), len(B))`` (exact and Nystrom routes).
    route
        ``"exact"``, ``"covariance"``, ``"streaming"``, ``"nystrom"``, ``"rff"`` or
        ``"auto"``: covariance for linear/cosine kernels; for other kernels exact up to
        10,000 rows, else Nystrom with ``rank``, ``2 rank``, ``4 rank`` landmarks, the first
        that meets ``tolerance`` on the check.
    gamma
        RBF bandwidth in ``exp(-gamma |x - y|^2)``; default 1/d.
    rank
        Landmarks (Nystrom) or random features (RFF).
    check_size
        Rows of the random sample on which approximate routes are checked against the
        exact kernel (at least ``2 rank``, at most 4,000 unless larger; 0 skips the check,
        with a warning).
    tolerance
        Relative error an approximate route must meet on its check; when it does not, a
        warning is logged. ``details`` carries ``approx_error``, ``tolerance`` and
        ``within_tolerance`` either way.
    shard_size
        Rows per shard on the streaming, Nystrom and RFF routes.
    executor
        Runs the shards (default local); ``get_executor("ray")`` spreads them over Ray.
    seed
        Landmarks, random features and the check sample.

    Examples
    --------
    >>> import numpy as np
    >>> r = vendi(np.eye(4), q=2, route="streaming", shard_size=3)
    >>> round(r.value, 10), r.route
    (4.0, 'streaming')
    """
    owner = "vendi"
    n, d = row_shape(X, owner)
    if not (isinstance(kernel, str) and kernel in KERNELS) and not callable(kernel):
        raise fail("kernel", owner, "one of 'linear', 'cosine', 'rbf' or a callable k(A, B)", kernel)
    check_choice(route, "route", owner, _ROUTES)
    qf = float(q)
    if not qf >= 0:
        raise fail("q", owner, "in [0, inf]", q)
    check_int(rank, "rank", owner, low=1)
    check_int(check_size, "check_size", owner, low=0)
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and tolerance > 0):
        raise fail("tolerance", owner, "a relative error > 0", tolerance)
    check_int(shard_size, "shard_size", owner, low=1)
    if gamma is not None and not float(gamma) > 0:
        raise fail("gamma", owner, "a positive number or None", gamma)
    adaptive = route == "auto"  # only reaches the approximate branch for a non-linear kernel beyond 10,000 rows
    route = _resolve_route(route, kernel, n)
    warn_if_unscaled(X, "vendi")
    rng = as_generator(seed)
    details: dict[str, Any] = {}
    if route in ("covariance", "streaming"):
        if callable(kernel) or kernel == "rbf":
            raise fail("route", owner, "'exact', 'nystrom' or 'rff' for this kernel (covariance needs a linear kernel)", route)
        cosine = kernel == "cosine"
        if route == "covariance":
            G = _linear_gram(X, 0, n, cosine, owner)
        else:
            G = _streamed_gram(X, n, cosine, owner, executor, shard_size)
        lam = gram_spectrum(G)
    elif route == "exact":
        if n > _EXACT_HARD_MAX_N:
            raise fail("route", owner, f"an approximate route for n > {_EXACT_HARD_MAX_N:,} (exact holds an n x n matrix)", route)
        Xa = check_matrix(np.asarray(X[:n]), "X", owner)
        lam = np.clip(np.linalg.eigvalsh(kernel_matrix(Xa, kernel, gamma)), 0.0, None)
    else:
        if route == "rff" and kernel != "rbf":
            raise fail("kernel", owner, "'rbf' on the rff route", kernel)
        fmap, extra, check = _approximate(X, n, d, route, kernel, gamma, rank, qf, check_size, tolerance, adaptive, rng, owner)
        details.update(extra)
        G, diag_sum = feature_gram(X, fmap, n, owner, executor, shard_size)
        lam = gram_spectrum(G)
        if route == "nystrom":
            details["missing_kernel_mass"] = float(max(0.0, 1.0 - diag_sum / n)) if kernel == "rbf" else None
        details.update(check)
        _report(route, details, n)
    lam = lam / lam.sum() if lam.sum() > 0 else lam
    value = vendi_from_eigenvalues(lam, qf)
    return VendiResult(value, qf, route, n, lam, details)


def _approximate(
    X: Any, n: int, d: int, route: str, kernel: Kernel, gamma: float | None, rank: int, q: float, check_size: int,
    tolerance: float, adaptive: bool, rng: np.random.Generator, owner: str,
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any], dict[str, Any]]:
    """Return the feature map, its facts and its check; ``adaptive`` grows the rank until the check passes."""
    order = rng.permutation(n)  # check rows: a prefix of one permutation, so checks of growing ranks nest
    ranks = [rank * 2**i for i in range(_AUTO_RANKS)] if adaptive else [rank]
    ranks = sorted({min(r, n) for r in ranks})
    seed = int(rng.integers(2**63))  # the same landmarks (nested prefixes) for every rank tried
    tried: list[dict[str, Any]] = []
    for r in ranks:
        fmap, extra = approx_feature_map(X, n, d, route, kernel, gamma, r, np.random.default_rng(seed), owner)
        check: dict[str, Any] = {"tolerance": float(tolerance), "approx_error": None, "within_tolerance": None}
        if check_size > 0:
            m = _check_rows(n, r, check_size)
            check.update(_check_against_exact(X, np.sort(order[:m]), fmap, kernel, gamma, q, owner))
            check["within_tolerance"] = bool(check["approx_error"] <= tolerance)
        tried.append({"rank": r, "approx_error": check["approx_error"]})
        if check_size == 0 or check["within_tolerance"]:
            break
    if adaptive:
        check["ranks_tried"] = tried
    return fmap, {**extra, "rank": r}, check


def _report(route: str, details: dict[str, Any], n: int) -> None:
    """Warn when an approximate route missed its tolerance or was not checked (never silently)."""
    err, tol = details.get("approx_error"), details["tolerance"]
    if err is None:
        log.warning(
            "vendi: the %s route (rank %d, n = %d) ran without its check against the exact score "
            "(check_size=0), so its error is unknown; the Nystrom estimate is biased low.",
            route, details["rank"], n,
        )
    elif err > tol:
        log.warning(
            "vendi: the %s route (rank %d, n = %d) is off by %.1f%% against the exact score on a %d-row check "
            "sample, above the tolerance of %.1f%%; the value is approximate (Nystrom: biased low). Use "
            "route='exact' (n <= %d), a larger `rank`, or read details['approx_error'].",
            route, details["rank"], n, 100 * err, details["check_n"], 100 * tol, _EXACT_HARD_MAX_N,
        )


def _linear_gram(X: Any, start: int, stop: int, cosine: bool, owner: str) -> np.ndarray:
    """Return ``F^T F`` (float64, d x d) of rows ``start:stop``, ``F`` = the rows (unit rows if ``cosine``).

    Rows are read in blocks of ``_GRAM_BLOCK`` (views of an array, never a whole copy);
    float32 rows stay float32 inside a block's product, whose sum over blocks is float64
    (each block's float32 sum has ``_GRAM_BLOCK`` terms at most). NaN or inf anywhere makes
    the Gram non-finite, and only then are the rows scanned to name the first bad entry.
    """
    d = int(X.shape[1])
    G = np.zeros((d, d))
    for a in range(start, stop, _GRAM_BLOCK):
        B = np.asarray(X[a : min(a + _GRAM_BLOCK, stop)])
        if B.dtype not in (np.float32, np.float64):
            B = check_matrix(B, "X", owner)
        if cosine:
            norms = np.sqrt(np.einsum("ij,ij->i", B, B, dtype=np.float64))
            B = B * (1.0 / np.where(norms == 0, 1.0, norms)).astype(B.dtype)[:, None]
        G += B.T @ B  # syrk: NumPy detects the transposed pair
    if not np.all(np.isfinite(G)):  # the error path only: find and name the bad entry
        check_matrix(np.asarray(X[start:stop]), "X", owner)
    return G


def _streamed_gram(X: Any, n: int, cosine: bool, owner: str, executor: Executor | None, shard_size: int) -> np.ndarray:
    """Sum :func:`_linear_gram` over shards of ``shard_size`` rows through ``executor``, in shard order."""

    def run(shard: Shard) -> np.ndarray:
        return _linear_gram(X, shard.start, shard.stop, cosine, owner)

    G = np.zeros((int(X.shape[1]),) * 2)
    for g in get_executor(executor).map(run, make_shards(n, shard_size=shard_size)):
        G += g  # shard order: the same sum on every executor
    return G


def _check_against_exact(
    X: Any,
    idx: np.ndarray,
    fmap: Callable[[np.ndarray], np.ndarray],
    kernel: Kernel,
    gamma: float | None,
    q: float,
    owner: str,
) -> dict[str, Any]:
    m = len(idx)
    S = take_rows(X, idx, owner)
    F = fmap(S)
    approx = vendi_from_eigenvalues(gram_spectrum(F.T @ F), q)
    exact = vendi_from_eigenvalues(np.clip(np.linalg.eigvalsh(kernel_matrix(S, kernel, gamma)), 0.0, None), q)
    return {"check_n": int(m), "check_exact": exact, "check_approx": approx, "approx_error": abs(approx - exact) / exact}


def vendi_score(
    X: Any,
    q: float = 1.0,
    *,
    kernel: Kernel = "cosine",
    route: str = "auto",
    gamma: float | None = None,
    rank: int = 500,
    executor: Executor | None = None,
    seed: Seed = None,
) -> float:
    """Return the Vendi score of order ``q`` of the rows of ``X`` (see :func:`vendi` for diagnostics).

    Parameters
    ----------
    X
        Features (n, d).
    q
        Order, any value in [0, inf] (``np.inf`` allowed).
    kernel
        ``"cosine"`` (linear on unit rows), ``"linear"``, ``"rbf"`` or a callable.
    route
        ``"exact"``, ``"covariance"`` (linear/cosine), ``"streaming"``, ``"nystrom"``,
        ``"rff"`` or ``"auto"``.

    Examples
    --------
    >>> import numpy as np
    >>> vendi_score(np.ones((5, 3))), round(vendi_score(np.eye(4)), 10)
    (1.0, 4.0)
    """
    return vendi(X, q, kernel=kernel, route=route, gamma=gamma, rank=rank, executor=executor, seed=seed).value


# --------------------------------------------------------------------------- registered metrics
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

    def __init__(
        self,
        q: float = 1.0,
        kernel: Kernel = "cosine",
        route: str = "auto",
        gamma: float | None = None,
        rank: int = 500,
        check_size: int = 1000,
        tolerance: float = TOLERANCE,
    ) -> None:
        self.q = q
        self.kernel = kernel
        self.route = route
        self.gamma = gamma
        self.rank = rank
        self.check_size = check_size
        self.tolerance = tolerance

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        r = vendi(
            table.embeddings,
            self.q,
            kernel=self.kernel,
            route=self.route,
            gamma=self.gamma,
            rank=self.rank,
            check_size=self.check_size,
            tolerance=self.tolerance,
            seed=rng,
        )
        params = {"q": self.q, "kernel": kernel_name(self.kernel), "route": r.route, "gamma": self.gamma}
        if r.route in ("nystrom", "rff"):
            params.update(rank=r.details["rank"], check_size=self.check_size, tolerance=self.tolerance)
        return MetricResult(self.name, r.value, params, {"n": table.n_rows, **r.details})

