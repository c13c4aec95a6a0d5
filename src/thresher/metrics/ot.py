"""Optimal-transport distance between two sets, optionally label-aware, with POT.

The distance is the optimal-transport cost between the empirical distributions of two
sets of rows (uniform masses unless given), solved by the POT library (Flamary et al.,
"POT: Python Optimal Transport", JMLR 2021): exactly by network simplex (``ot.emd2``)
when the cost matrix is small, otherwise by log-domain Sinkhorn (Cuturi, "Sinkhorn
Distances", NeurIPS 2013) with the entropic regularisation stated in the result.

Label-aware costs follow OTDD (Alvarez-Melis and Fusi, "Geometric Dataset Distances via
Optimal Transport", NeurIPS 2020), as LAVA uses them: the ground cost between labelled
points ``(x, y)`` and ``(x', y')`` is ``||x - x'||^2 + label_weight * W(y, y')`` where
``W(y, y')`` is the exact squared-Euclidean OT cost between the feature distributions of
class ``y`` in the first set and class ``y'`` in the second (each class subsampled to at
most ``max_per_class`` rows, so the class-to-class table stays cheap at any size).

POT is imported inside the functions (``pip install thresher[ot]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError, MissingDependencyError
from thresher.metrics.base import BaseMetric, MetricResult

__all__ = ["import_ot", "OTProblem", "ot_cost_matrix", "label_distances", "solve_ot", "ot_distance", "OTDistance"]

METHODS = ("auto", "exact", "sinkhorn")


def import_ot() -> Any:
    """Return the ``ot`` (POT) module or raise MissingDependencyError with the install hint."""
    try:
        import ot
    except ImportError:  # pragma: no cover - POT is installed in the dev environment
        raise MissingDependencyError(
            "optimal-transport tools need the POT library; install it with `pip install thresher[ot]`."
        ) from None
    return ot


@dataclass(frozen=True)
class OTProblem:
    """A solved transport problem: the value, the dual potentials and how it was solved.

    ``f`` and ``g`` are the dual potentials of the first and second set (defined up to
    a shared constant); ``reg`` is the absolute entropic regularisation (``None`` when
    exact) and ``reg_relative`` the same divided by the mean ground cost.
    """

    value: float
    f: np.ndarray
    g: np.ndarray
    method: str
    reg: float | None
    reg_relative: float | None


def _sq_dists(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    ot = import_ot()
    return np.maximum(np.asarray(ot.dist(X, Y, metric="sqeuclidean"), dtype=np.float64), 0.0)


def label_distances(
    X: np.ndarray, y: np.ndarray, Y: np.ndarray, yv: np.ndarray, *, max_per_class: int = 500, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (classes of the first set, classes of the second, exact OT cost between class pairs).

    Entry ``[a, b]`` is ``emd2`` with squared-Euclidean cost between the rows of class
    ``a`` in ``X`` and those of class ``b`` in ``Y`` (uniform masses; each class
    subsampled to ``max_per_class`` rows with ``seed``), the label distance of OTDD.

    Examples
    --------
    >>> X = np.array([[0.0], [0.0], [4.0]]); y = np.array([0, 0, 1])
    >>> _, _, W = label_distances(X, y, X, y)
    >>> W.tolist()
    [[0.0, 16.0], [16.0, 0.0]]
    """
    ot = import_ot()
    check_int(max_per_class, "max_per_class", "label_distances", low=1)
    rng = as_generator(seed)
    ca, cb = np.unique(y), np.unique(yv)

    def rows(Z: np.ndarray, lab: np.ndarray, c: Any) -> np.ndarray:
        idx = np.flatnonzero(lab == c)
        if len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
        return Z[idx]

    A = [rows(X, y, c) for c in ca]
    B = [rows(Y, yv, c) for c in cb]
    W = np.empty((len(ca), len(cb)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            M = _sq_dists(a, b)
            W[i, j] = float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), M, numItermax=10**7))
    return ca, cb, W


def ot_cost_matrix(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    y: np.ndarray | None = None,
    yv: np.ndarray | None = None,
    label_weight: float = 1.0,
    max_per_class: int = 500,
    seed: Seed = 0,
) -> np.ndarray:
    """Return the ground cost matrix ``||x_i - x'_j||^2 (+ label_weight * W(y_i, y'_j))``.

    Examples
    --------
    >>> ot_cost_matrix(np.array([[0.0], [1.0]]), np.array([[3.0]])).ravel().tolist()
    [9.0, 4.0]
    """
    M = _sq_dists(X, Y)
    if y is None and yv is None:
        return M
    if y is None or yv is None:
        raise fail("labels", "ot_cost_matrix", "given for both sets or neither", "only one set")
    ca, cb, W = label_distances(X, np.asarray(y), Y, np.asarray(yv), max_per_class=max_per_class, seed=seed)
    ia = np.searchsorted(ca, np.asarray(y))
    ib = np.searchsorted(cb, np.asarray(yv))
    M += label_weight * W[ia][:, ib]
    return M


def solve_ot(
    M: np.ndarray,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    *,
    method: str = "auto",
    reg: float = 0.05,
    max_exact_cells: int = 4_000_000,
    max_iter: int = 1000,
) -> OTProblem:
    """Solve the transport problem with ground cost ``M`` and masses ``a``, ``b`` with POT.

    ``method="exact"`` runs ``ot.emd`` (network simplex); ``"sinkhorn"`` runs
    ``ot.sinkhorn`` in the log domain with absolute regularisation ``reg * mean(M)``
    and reports the transport cost of the entropic plan, ``<P, M>``; ``"auto"`` is exact
    when ``M`` has at most ``max_exact_cells`` entries. Masses default to uniform.

    Examples
    --------
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> solve_ot(M).value
    0.0
    """
    ot = import_ot()
    owner = "solve_ot"
    check_choice(method, "method", owner, METHODS)
    check_float(reg, "reg", owner, low=0.0, low_open=True)
    n, m = M.shape
    a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64)
    if a.shape != (n,) or b.shape != (m,):
        raise fail("a", owner, f"masses of shapes ({n},) and ({m},)", f"{a.shape} and {b.shape}")
    if abs(a.sum() - b.sum()) > 1e-9 * max(1.0, a.sum()):
        raise fail("b", owner, f"masses with the same total as `a` ({a.sum():.12g})", float(b.sum()))
    if method == "auto":
        method = "exact" if n * m <= max_exact_cells else "sinkhorn"
    if method == "exact":
        P, log = ot.emd(a, b, M, numItermax=max(10**7, 50 * n * m), log=True)
        if log.get("warning"):
            raise InvalidParameterError(f"exact OT in {owner} did not converge: {log['warning']}")
        return OTProblem(float(np.sum(P * M)), np.asarray(log["u"]), np.asarray(log["v"]), "exact", None, None)
    scale = float(M.mean()) if M.size and M.mean() > 0 else 1.0
    eps = reg * scale
    if float(M.max()) / eps < 200.0:  # the kernel exp(-M / eps) cannot underflow: plain (faster) scaling
        P, log = ot.sinkhorn(a, b, M, eps, method="sinkhorn", numItermax=max_iter, stopThr=1e-9, log=True)
        with np.errstate(divide="ignore"):
            f, g = eps * np.log(np.asarray(log["u"])), eps * np.log(np.asarray(log["v"]))
        if np.all(np.isfinite(f)) and np.all(np.isfinite(g)) and np.all(np.isfinite(P)):
            return OTProblem(float(np.sum(P * M)), f, g, "sinkhorn", eps, reg)
    P, log = ot.sinkhorn(a, b, M, eps, method="sinkhorn_log", numItermax=max_iter, stopThr=1e-9, log=True)
    return OTProblem(float(np.sum(P * M)), eps * np.asarray(log["log_u"]), eps * np.asarray(log["log_v"]),
                     "sinkhorn", eps, reg)


def ot_distance(
    X: Any,
    Y: Any,
    *,
    y: Any = None,
    yv: Any = None,
    label_weight: float = 1.0,
    method: str = "auto",
    reg: float = 0.05,
    max_exact_cells: int = 4_000_000,
    max_per_class: int = 500,
    seed: Seed = 0,
) -> MetricResult:
    """Return the optimal-transport cost between the rows of ``X`` and ``Y`` (squared Euclidean).

    With labels ``y`` and ``yv`` the ground cost is OTDD's label-aware cost (see the
    module docstring). The result's ``params`` state how it was solved: ``method``
    (``"exact"`` or ``"sinkhorn"``) and, for Sinkhorn, the absolute ``reg`` and
    ``reg_relative`` (to the mean cost).

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> ot_distance(X, X).value, ot_distance(X, X + [0.0, 2.0]).value
    (0.0, 4.0)
    """
    owner = "ot_distance"
    Xa = check_matrix(X, "X", owner)
    Ya = check_matrix(Y, "Y", owner)
    if Xa.shape[1] != Ya.shape[1]:
        raise fail("Y", owner, f"an array with {Xa.shape[1]} columns like `X`", Ya)
    check_float(label_weight, "label_weight", owner, low=0.0)
    ya = None if y is None else np.asarray(y)
    yva = None if yv is None else np.asarray(yv)
    for name, lab, Z in (("y", ya, Xa), ("yv", yva, Ya)):
        if lab is not None and lab.shape != (len(Z),):
            raise fail(name, owner, f"one label per row ({len(Z)})", lab.shape)
    M = ot_cost_matrix(Xa, Ya, y=ya, yv=yva, label_weight=label_weight, max_per_class=max_per_class, seed=seed)
    res = solve_ot(M, method=method, reg=reg, max_exact_cells=max_exact_cells)
    params = {"method": res.method, "reg": res.reg, "reg_relative": res.reg_relative, "cost": "sqeuclidean",
              "label_aware": ya is not None, "label_weight": label_weight if ya is not None else None}
    return MetricResult("ot_distance", res.value, params, {"n": len(Xa), "m": len(Ya)})


@register_metric("ot_distance")
class OTDistance(BaseMetric):
    """Optimal-transport distance between a set and a reference set, optionally label-aware (OTDD).

    Exact (POT ``emd2``) for small sets, Sinkhorn otherwise with the regularisation in
    the result's ``params``. ``label_aware=True`` adds OTDD's class-to-class OT cost,
    read from the ``label`` column of both tables.

    Examples
    --------
    >>> a = Table(matrices={"embeddings": np.array([[0.0], [1.0]])})
    >>> b = Table(matrices={"embeddings": np.array([[1.0], [2.0]])})
    >>> OTDistance().compute(a, reference=b).value
    1.0
    """

    name = "ot_distance"
    requires = frozenset({"embeddings"})
    needs_reference = True

    def __init__(self, label_aware: bool = False, label_weight: float = 1.0, method: str = "auto",
                 reg: float = 0.05, max_exact_cells: int = 4_000_000) -> None:
        self.label_aware = label_aware
        self.label_weight = label_weight
        self.method = method
        self.reg = reg
        self.max_exact_cells = max_exact_cells

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        assert reference is not None
        owner = type(self).__name__
        y = yv = None
        if self.label_aware:
            table.require(["label"], owner)
            reference.require(["label"], owner)
            y, yv = table.labels, reference.labels
        return ot_distance(table.embeddings, reference.embeddings, y=y, yv=yv, label_weight=self.label_weight,
                           method=self.method, reg=self.reg, max_exact_cells=self.max_exact_cells,
                           seed=int(rng.integers(2**31)))
