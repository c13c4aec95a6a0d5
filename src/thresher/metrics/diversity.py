"""Diversity of a set: the Vendi score and its order-q family, and intra-set diversity.

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
  time and O(d^2) memory.
* ``streaming``: the same d x d matrix accumulated shard by shard through an
  :class:`~thresher.execute.Executor` (local or Ray). Rows are read one shard at a time,
  so ``X`` may be a ``np.memmap`` or a :class:`NpyRows` file source (out of core).
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from thresher._registry import register_metric
from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.data.scales import warn_if_unscaled
from thresher.errors import DataError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.metrics.base import BaseMetric, MetricResult

__all__ = [
    "Vendi",
    "IntraSetDiversity",
    "VendiResult",
    "NpyRows",
    "vendi",
    "vendi_score",
    "vendi_from_eigenvalues",
    "kernel_matrix",
    "intra_set_diversity",
]

KernelFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Kernel = Union[str, KernelFn]

_ROUTES = ("auto", "exact", "covariance", "streaming", "nystrom", "rff")
_KERNELS = ("linear", "cosine", "rbf")
_EXACT_MAX_N = 2000
_EXACT_HARD_MAX_N = 20_000


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


# --------------------------------------------------------------------------- kernels
def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def _rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    a = np.einsum("ij,ij->i", A, A)
    b = np.einsum("ij,ij->i", B, B)
    d = np.maximum(a[:, None] - 2.0 * (A @ B.T) + b[None, :], 0.0)
    return np.exp(-gamma * d)


def _cross_kernel(A: np.ndarray, B: np.ndarray, kernel: Kernel, gamma: float | None) -> np.ndarray:
    """Return k(A, B) as an (len(A), len(B)) matrix for a named or callable kernel."""
    if callable(kernel):
        K = np.asarray(kernel(A, B), dtype=np.float64)
        if K.shape != (A.shape[0], B.shape[0]):
            raise DataError(
                f"`kernel` callable must return an array of shape {(A.shape[0], B.shape[0])}; got {K.shape}."
            )
        return K
    if kernel == "linear":
        return A @ B.T
    if kernel == "cosine":
        return _unit_rows(A) @ _unit_rows(B).T
    return _rbf(A, B, 1.0 / A.shape[1] if gamma is None else float(gamma))


def kernel_matrix(X: np.ndarray, kernel: Kernel = "cosine", gamma: float | None = None) -> np.ndarray:
    """Return the n x n kernel matrix of the rows of ``X``.

    ``kernel`` is ``"linear"``, ``"cosine"``, ``"rbf"`` (``exp(-gamma |x - y|^2)``, gamma
    default 1/d) or a callable ``k(A, B) -> (len(A), len(B))`` array.

    Examples
    --------
    >>> import numpy as np
    >>> kernel_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]), "linear").tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    >>> kernel_matrix(np.array([[0.0], [1.0]]), lambda a, b: np.exp(-abs(a - b.T))).round(4).tolist()
    [[1.0, 0.3679], [0.3679, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    return _cross_kernel(X, X, kernel, gamma)


# --------------------------------------------------------------------------- sources
class NpyRows:
    """Read rows of a 2-D ``.npy`` file lazily (memory-mapped), so shards load only their rows.

    Picklable by path, so Ray workers open the file themselves instead of receiving the
    whole array.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(path, np.eye(3))
    >>> src = NpyRows(path); src.shape, src[1:3].tolist()
    ((3, 3), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.shape: tuple[int, int] = tuple(np.load(self.path, mmap_mode="r").shape)  # type: ignore[assignment]
        if len(self.shape) != 2:
            raise DataError(f"`path` of NpyRows must hold a 2-D array; got shape {self.shape}.")

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r")[rows], dtype=np.float64)

    def __len__(self) -> int:
        return self.shape[0]


def _n_d(X: Any, owner: str) -> tuple[int, int]:
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise fail("X", owner, "a 2-D array or row source", X if shape is None else f"shape {shape}")
    if shape[0] == 0:
        raise fail("X", owner, "a non-empty array", f"shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _rows(X: Any, start: int, stop: int, owner: str) -> np.ndarray:
    block = check_matrix(np.asarray(X[start:stop]), "X", owner)
    return block


def _take_rows(X: Any, idx: np.ndarray, owner: str) -> np.ndarray:
    """Gather rows ``idx`` from an array (fancy indexing) or a slice-only row source."""
    if isinstance(X, np.ndarray):
        return check_matrix(X[idx], "X", owner)
    return check_matrix(np.concatenate([np.asarray(X[int(i) : int(i) + 1]) for i in idx]), "X", owner)


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


def _feature_gram(
    X: Any,
    feature_map: Callable[[np.ndarray], np.ndarray],
    n: int,
    owner: str,
    executor: Executor | None,
    shard_size: int,
) -> tuple[np.ndarray, float]:
    """Return (sum of Phi_b^T Phi_b over shards, sum of squared feature norms)."""

    def run(shard: Shard) -> tuple[np.ndarray, float]:
        F = feature_map(_rows(X, shard.start, shard.stop, owner))
        return F.T @ F, float(np.einsum("ij,ij->", F, F))

    shards = make_shards(n, shard_size=shard_size)
    G: np.ndarray | None = None
    diag = 0.0
    for g, s in (executor or LocalExecutor()).map(run, shards):  # summed in shard order: executor-independent
        G = g if G is None else G + g
        diag += s
    assert G is not None
    return G, diag


def _spectrum(G: np.ndarray) -> np.ndarray:
    return np.clip(np.linalg.eigvalsh((G + G.T) / 2.0), 0.0, None)


def _resolve_route(route: str, kernel: Kernel, n: int) -> str:
    if route != "auto":
        return route
    if kernel in ("linear", "cosine"):
        return "covariance"
    return "exact" if n <= _EXACT_MAX_N else "nystrom"


def vendi(
    X: Any,
    q: float = 1.0,
    *,
    kernel: Kernel = "cosine",
    route: str = "auto",
    gamma: float | None = None,
    rank: int = 500,
    check_size: int = 1000,
    shard_size: int = 8192,
    executor: Executor | None = None,
    seed: Seed = None,
) -> VendiResult:
    """Compute the Vendi score of order ``q`` of the rows of ``X`` with its diagnostics.

    Parameters
    ----------
    X
        Features (n, d): an array, a ``np.memmap`` or a :class:`NpyRows` (rows are read
        one shard at a time on the streaming, Nystrom and RFF routes).
    q
        Order, any value in [0, inf] (``np.inf`` allowed).
    kernel
        ``"cosine"`` (linear on unit rows), ``"linear"``, ``"rbf"`` or a callable
        ``k(A, B) -> (len(A), len(B))`` (exact and Nystrom routes).
    route
        ``"exact"``, ``"covariance"``, ``"streaming"``, ``"nystrom"``, ``"rff"`` or
        ``"auto"`` (covariance for linear/cosine; exact up to 2,000 rows, else Nystrom).
    gamma
        RBF bandwidth in ``exp(-gamma |x - y|^2)``; default 1/d.
    rank
        Landmarks (Nystrom) or random features (RFF).
    check_size
        Rows of the random sample on which approximate routes are checked against the
        exact kernel (0 to skip).
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
    n, d = _n_d(X, owner)
    if not (isinstance(kernel, str) and kernel in _KERNELS) and not callable(kernel):
        raise fail("kernel", owner, "one of 'linear', 'cosine', 'rbf' or a callable k(A, B)", kernel)
    check_choice(route, "route", owner, _ROUTES)
    qf = float(q)
    if not qf >= 0:
        raise fail("q", owner, "in [0, inf]", q)
    check_int(rank, "rank", owner, low=1)
    check_int(check_size, "check_size", owner, low=0)
    check_int(shard_size, "shard_size", owner, low=1)
    if gamma is not None and not float(gamma) > 0:
        raise fail("gamma", owner, "a positive number or None", gamma)
    route = _resolve_route(route, kernel, n)
    warn_if_unscaled(X, "vendi")
    rng = as_generator(seed)
    details: dict[str, Any] = {}
    if route in ("covariance", "streaming"):
        if callable(kernel) or kernel == "rbf":
            raise fail("route", owner, "'exact', 'nystrom' or 'rff' for this kernel (covariance needs a linear kernel)", route)
        fmap = _unit_rows if kernel == "cosine" else (lambda B: B)
        if route == "covariance":
            F = fmap(check_matrix(np.asarray(X[:n]), "X", owner))
            G = F.T @ F
        else:
            G, _ = _feature_gram(X, fmap, n, owner, executor, shard_size)
        lam = _spectrum(G)
    elif route == "exact":
        if n > _EXACT_HARD_MAX_N:
            raise fail("route", owner, f"an approximate route for n > {_EXACT_HARD_MAX_N:,} (exact holds an n x n matrix)", route)
        Xa = check_matrix(np.asarray(X[:n]), "X", owner)
        lam = np.clip(np.linalg.eigvalsh(kernel_matrix(Xa, kernel, gamma)), 0.0, None)
    else:
        if route == "rff" and kernel != "rbf":
            raise fail("kernel", owner, "'rbf' on the rff route", kernel)
        fmap, extra = _approx_feature_map(X, n, d, route, kernel, gamma, rank, rng, owner)
        details.update(extra)
        G, diag_sum = _feature_gram(X, fmap, n, owner, executor, shard_size)
        lam = _spectrum(G)
        if route == "nystrom":
            details["missing_kernel_mass"] = float(max(0.0, 1.0 - diag_sum / n)) if kernel == "rbf" else None
        if check_size > 0:
            details.update(_check_against_exact(X, n, fmap, kernel, gamma, qf, min(check_size, n), rng, owner))
    lam = lam / lam.sum() if lam.sum() > 0 else lam
    value = vendi_from_eigenvalues(lam, qf)
    return VendiResult(value, qf, route, n, lam, details)


def _approx_feature_map(
    X: Any, n: int, d: int, route: str, kernel: Kernel, gamma: float | None, rank: int, rng: np.random.Generator, owner: str
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    g = 1.0 / d if gamma is None else float(gamma)
    if route == "rff":
        # k(x, y) = exp(-g |x - y|^2) = E[2 cos(w.x + b) cos(w.y + b)], w ~ N(0, 2g I), b ~ U(0, 2 pi)
        W = rng.normal(scale=np.sqrt(2.0 * g), size=(d, rank))
        b = rng.uniform(0.0, 2.0 * np.pi, size=rank)
        scale = np.sqrt(2.0 / rank)

        def rff(B: np.ndarray) -> np.ndarray:
            return scale * np.cos(B @ W + b)

        return rff, {"n_features": rank}
    # Nystrom: landmarks are the first r rows of one random permutation, so the landmark
    # sets of increasing ranks are nested (the approximation can only improve with r).
    r = min(rank, n)
    idx = np.sort(rng.permutation(n)[:r])
    L = _take_rows(X, idx, owner)
    K_LL = _cross_kernel(L, L, kernel, g)
    w, V = np.linalg.eigh((K_LL + K_LL.T) / 2.0)
    keep = w > 1e-10 * max(float(w.max()), 1e-300)
    inv_sqrt = V[:, keep] / np.sqrt(w[keep])  # K_LL^{-1/2} restricted to its numerical range

    def nystrom(B: np.ndarray) -> np.ndarray:
        return _cross_kernel(B, L, kernel, g) @ inv_sqrt

    return nystrom, {"n_landmarks": int(r), "landmark_rank": int(keep.sum())}


def _check_against_exact(
    X: Any,
    n: int,
    fmap: Callable[[np.ndarray], np.ndarray],
    kernel: Kernel,
    gamma: float | None,
    q: float,
    m: int,
    rng: np.random.Generator,
    owner: str,
) -> dict[str, Any]:
    idx = np.sort(rng.choice(n, size=m, replace=False))
    S = _take_rows(X, idx, owner)
    F = fmap(S)
    approx = vendi_from_eigenvalues(_spectrum(F.T @ F), q)
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
    return vendi(X, q, kernel=kernel, route=route, gamma=gamma, rank=rank, executor=executor, seed=seed, check_size=0).value


# --------------------------------------------------------------------------- intra-set diversity
def intra_set_diversity(
    X: Any, q: int = 1, *, kernel: Kernel = "cosine", gamma: float | None = None, block: int = 2048
) -> float:
    """Return the intra-set diversity ``1 - mean_ij k(x_i, x_j)^q`` of the rows of ``X``.

    This is the "internal diversity" of Benhenda (2017) as defined in the Vendi-Score
    package (``intdiv_K`` with uniform weights). For linear/cosine kernels and ``q = 1``
    it is ``1 - |mean row|^2`` (O(n d)); otherwise the kernel is summed block by block,
    so memory stays ``block x n``.

    Examples
    --------
    >>> import numpy as np
    >>> intra_set_diversity(np.eye(2)), round(intra_set_diversity(np.ones((3, 2))), 12)
    (0.5, 0.0)
    """
    owner = "intra_set_diversity"
    Xa = check_matrix(X, "X", owner)
    if Xa.shape[0] == 0:
        raise fail("X", owner, "a non-empty array", Xa)
    check_int(q, "q", owner, low=1)
    check_int(block, "block", owner, low=1)
    n = Xa.shape[0]
    if q == 1 and kernel in ("linear", "cosine"):
        F = _unit_rows(Xa) if kernel == "cosine" else Xa
        mu = F.mean(axis=0)
        return float(1.0 - mu @ mu)
    total = 0.0
    for s in range(0, n, block):
        total += float(np.sum(_cross_kernel(Xa[s : s + block], Xa, kernel, gamma) ** q))
    return float(1.0 - total / (n * n))


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
    ) -> None:
        self.q = q
        self.kernel = kernel
        self.route = route
        self.gamma = gamma
        self.rank = rank
        self.check_size = check_size

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        r = vendi(
            table.embeddings,
            self.q,
            kernel=self.kernel,
            route=self.route,
            gamma=self.gamma,
            rank=self.rank,
            check_size=self.check_size,
            seed=rng,
        )
        kernel_name = self.kernel if isinstance(self.kernel, str) else getattr(self.kernel, "__name__", "callable")
        params = {"q": self.q, "kernel": kernel_name, "route": r.route, "gamma": self.gamma}
        if r.route in ("nystrom", "rff"):
            params.update(rank=self.rank, check_size=self.check_size)
        return MetricResult(self.name, r.value, params, {"n": table.n_rows, **r.details})


@register_metric("intdiv")
class IntraSetDiversity(BaseMetric):
    """Measure intra-set diversity: one minus the mean pairwise kernel similarity (to the power q).

    Examples
    --------
    >>> import numpy as np
    >>> IntraSetDiversity().compute(Table(matrices={"embeddings": np.eye(4)})).value
    0.75
    """

    name = "intdiv"
    requires = frozenset({"embeddings"})

    def __init__(self, q: int = 1, kernel: Kernel = "cosine", gamma: float | None = None) -> None:
        self.q = q
        self.kernel = kernel
        self.gamma = gamma

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        value = intra_set_diversity(table.embeddings, self.q, kernel=self.kernel, gamma=self.gamma)
        kernel_name = self.kernel if isinstance(self.kernel, str) else getattr(self.kernel, "__name__", "callable")
        return MetricResult(self.name, value, {"q": self.q, "kernel": kernel_name, "gamma": self.gamma}, {"n": table.n_rows})
