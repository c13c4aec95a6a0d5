"""Registered submodular selectors: an objective on the kNN graph plus an optimizer.

Each selector builds the sparse k-nearest-neighbour graph of ``table.embeddings`` (or
takes a prebuilt :class:`~thresher.select.graph.KNNGraph`, e.g. loaded from the run
directory), turns it into a sparse similarity with a kernel, wraps it in an objective
from :mod:`thresher.select.objectives` (optionally plus a quality score column ``by``
weighted by ``weight``) and maximises it with an optimizer from
:mod:`thresher.select.optimizers`:

* ``optimizer="lazy"`` (default), ``"naive"``, ``"stochastic"`` (with ``epsilon``);
* ``optimizer="greedi"``: two-round distributed greedy over ``n_shards`` random shards,
  each shard building its own graph, run on ``executor`` (``"local"`` or ``"ray"``);
* a budget with a ``cost`` column switches to the cost-aware (knapsack) greedy.

The quality term is the score column min-max scaled to [0, 1] and multiplied by the mean
singleton gain of the diversity objective, so ``weight=1`` puts the two on one footing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.execute.base import Executor, get_executor
from thresher.select.base import BaseSelector, Budget
from thresher.select.graph import KERNELS, KNNGraph, build_graph
from thresher.select.objectives import (
    FacilityLocationObjective,
    GraphCutObjective,
    LogDeterminantObjective,
    ModularPlus,
    Objective,
    SaturatedCoverageObjective,
)
from thresher.select.optimizers import (
    GreedyResult,
    cost_aware_greedy,
    greedi,
    lazy_greedy,
    naive_greedy,
    stochastic_greedy,
)

__all__ = ["FacilityLocation", "GraphCut", "SaturatedCoverage", "LogDeterminant", "SubmodularSelector"]


class _ObjectiveFactory:
    """Build the objective on any subset of rows (picklable, so GreeDi shards can run on Ray)."""

    def __init__(self, sel: SubmodularSelector, X: np.ndarray, quality: np.ndarray | None, graph: KNNGraph | None) -> None:
        self.sel = sel
        self.X = X
        self.quality = quality
        self.graph = graph
        self.executor: Executor | None = None  # where the graph's kNN search runs (driver-side builds only)

    def __call__(self, positions: np.ndarray) -> Objective:
        s = self.sel
        if self.graph is not None and len(positions) == self.graph.n_rows:
            g = self.graph
        else:
            g = build_graph(self.X[positions], s.n_neighbors, metric=s.metric, backend=s.backend, executor=self.executor)
        W = g.similarity(s.kernel, s.bandwidth)
        base = s._objective(W)
        if self.quality is None or s.weight == 0.0:
            return base
        scale = float(np.mean(base.new_state().gains(np.arange(base.n))))
        return ModularPlus(base, self.quality[positions] * scale, s.weight)


class SubmodularSelector(BaseSelector):
    """Shared machinery of the graph-based submodular selectors (not registered itself)."""

    requires: ClassVar[frozenset[str]] = frozenset({"embeddings"})
    supports_cost = True
    is_stochastic = True

    def __init__(
        self,
        n_neighbors: int = 20,
        metric: str = "euclidean",
        kernel: str = "gaussian",
        bandwidth: float | None = None,
        optimizer: str = "lazy",
        epsilon: float = 0.1,
        n_shards: int = 2,
        executor: str | Executor = "local",
        by: str | None = None,
        weight: float = 1.0,
        backend: str = "auto",
        graph: KNNGraph | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.optimizer = optimizer
        self.epsilon = epsilon
        self.n_shards = n_shards
        self.executor = executor
        self.by = by
        self.weight = weight
        self.backend = backend
        self.graph = graph

    def _objective(self, W: sp.csr_matrix) -> Objective:
        raise NotImplementedError

    def required_columns(self) -> frozenset[str]:
        return self.requires | ({self.by} if self.by else frozenset())

    def get_params(self) -> dict[str, Any]:
        p = super().get_params()
        if self.graph is not None:
            p["graph"] = f"KNNGraph(n_rows={self.graph.n_rows}, n_neighbors={self.graph.n_neighbors}, metric={self.graph.metric!r})"
        return p

    def _validate(self, owner: str) -> None:
        check_int(self.n_neighbors, "n_neighbors", owner, low=1)
        check_choice(self.metric, "metric", owner, ("euclidean", "cosine"))
        check_choice(self.kernel, "kernel", owner, KERNELS)
        check_choice(self.optimizer, "optimizer", owner, ("naive", "lazy", "stochastic", "greedi"))
        check_choice(self.backend, "backend", owner, ("auto", "numpy", "sklearn", "faiss"))
        check_float(self.weight, "weight", owner, low=0.0)
        if self.graph is not None and not isinstance(self.graph, KNNGraph):
            raise fail("graph", owner, "a KNNGraph or None", self.graph)

    def _quality(self, table: Table, owner: str) -> np.ndarray | None:
        if not self.by:
            return None
        v = np.asarray(table.column(self.by), dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise fail(self.by, owner, "finite", "NaN or inf values")
        span = float(v.max() - v.min())
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        self._validate(owner)
        X = table.embeddings
        graph = self.graph.aligned(table.row_id, owner) if self.graph is not None else None
        make = _ObjectiveFactory(self, X, self._quality(table, owner), graph)
        if self.optimizer != "greedi":  # GreeDi shards build their own graphs inside their tasks
            make.executor = get_executor(self.executor)
        n = table.n_rows
        res: GreedyResult
        if budget.cost is not None:
            costs = np.asarray(table.column(budget.cost), dtype=np.float64)
            res = cost_aware_greedy(make(np.arange(n)), costs, budget.capacity(costs))
        elif self.optimizer == "greedi":
            m = min(check_int(self.n_shards, "n_shards", owner, low=1), n)
            res = greedi(make, n, k, n_shards=m, seed=rng, executor=get_executor(self.executor), epsilon=self.epsilon)
        elif self.optimizer == "naive":
            res = naive_greedy(make(np.arange(n)), k)
        elif self.optimizer == "lazy":
            res = lazy_greedy(make(np.arange(n)), k)
        else:
            eps = check_float(self.epsilon, "epsilon", owner, low=0.0, high=1.0, low_open=True, high_open=True)
            res = stochastic_greedy(make(np.arange(n)), k, rng, epsilon=eps)
        return res.positions, res.gains, None


@register_selector("facility_location")
class FacilityLocation(SubmodularSelector):
    """Select a representative subset by maximising facility location on the kNN graph.

    ``f(S) = sum_i max_{j in S} sim(i, j)`` with similarities kept only between graph
    neighbours (Mirchandani & Francis 1990; as a data selection objective, Wei, Iyer &
    Bilmes, ICML 2015, and CRAIG, Mirzasoleiman et al., ICML 2020). Parameters are those
    of :class:`SubmodularSelector`: ``n_neighbors`` of the graph (clipped to n - 1),
    ``metric``, ``kernel`` (``"gaussian"``, ``"cosine"``, ``"sqdist"``), ``bandwidth``
    (default: median neighbour distance), ``optimizer``, ``epsilon``, ``n_shards``,
    ``executor``, ``by``/``weight`` (quality term), ``backend``, ``graph``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> t = Table(matrices={"embeddings": X})
    >>> FacilityLocation(n_neighbors=2).select(t, Budget(n=3)).row_ids.tolist()
    [1, 3, 5]
    """

    name = "facility_location"
    is_stochastic = False

    def _objective(self, W: sp.csr_matrix) -> Objective:
        return FacilityLocationObjective(W)


@register_selector("graph_cut")
class GraphCut(SubmodularSelector):
    """Select rows by maximising the graph-cut objective on the kNN graph.

    ``f(S) = sum_{i in V, j in S} A_ij - lam * sum_{i, j in S} A_ij`` (Lin & Bilmes 2011;
    Iyer et al., "Submodular combinatorial information measures", 2021): ``lam`` trades
    coverage (small) against diversity (large); monotone for ``lam <= 0.5``. Other
    parameters as :class:`FacilityLocation`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> t = Table(matrices={"embeddings": X})
    >>> sorted(GraphCut(n_neighbors=2, lam=0.5).select(t, Budget(n=2)).row_ids.tolist())
    [1, 3]
    """

    name = "graph_cut"
    is_stochastic = False

    def __init__(
        self,
        lam: float = 0.4,
        n_neighbors: int = 20,
        metric: str = "euclidean",
        kernel: str = "gaussian",
        bandwidth: float | None = None,
        optimizer: str = "lazy",
        epsilon: float = 0.1,
        n_shards: int = 2,
        executor: str | Executor = "local",
        by: str | None = None,
        weight: float = 1.0,
        backend: str = "auto",
        graph: KNNGraph | None = None,
    ) -> None:
        super().__init__(n_neighbors, metric, kernel, bandwidth, optimizer, epsilon, n_shards, executor, by, weight, backend, graph)
        self.lam = lam

    def _objective(self, W: sp.csr_matrix) -> Objective:
        return GraphCutObjective(W, self.lam)

    @classmethod
    def make_example(cls) -> GraphCut:
        # exercise the distributed optimizer in the conformance tests (local == Ray)
        return cls(n_neighbors=8, optimizer="greedi", n_shards=3)


@register_selector("saturated_coverage")
class SaturatedCoverage(SubmodularSelector):
    """Select rows by maximising saturated coverage on the kNN graph (Lin & Bilmes, ACL 2011).

    ``f(S) = sum_i min(sum_{j in S} W_ij, alpha * sum_{j in V} W_ij)``: each row counts as
    covered once an ``alpha`` share of its total similarity is chosen, so no region can
    soak up the budget. Other parameters as :class:`FacilityLocation`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> t = Table(matrices={"embeddings": X})
    >>> len(SaturatedCoverage(n_neighbors=2, alpha=0.3).select(t, Budget(n=3)))
    3
    """

    name = "saturated_coverage"
    is_stochastic = False

    def __init__(
        self,
        alpha: float = 0.1,
        n_neighbors: int = 20,
        metric: str = "euclidean",
        kernel: str = "gaussian",
        bandwidth: float | None = None,
        optimizer: str = "lazy",
        epsilon: float = 0.1,
        n_shards: int = 2,
        executor: str | Executor = "local",
        by: str | None = None,
        weight: float = 1.0,
        backend: str = "auto",
        graph: KNNGraph | None = None,
    ) -> None:
        super().__init__(n_neighbors, metric, kernel, bandwidth, optimizer, epsilon, n_shards, executor, by, weight, backend, graph)
        self.alpha = alpha

    def _objective(self, W: sp.csr_matrix) -> Objective:
        return SaturatedCoverageObjective(W, self.alpha)


@register_selector("log_determinant")
class LogDeterminant(SubmodularSelector):
    """Select a diverse subset by maximising ``log det K_S`` of a kernel built on the kNN graph.

    ``K = (1 + reg) I + D^-1/2 A D^-1/2`` (see
    :class:`~thresher.select.objectives.LogDeterminantObjective`); gains come from an
    incremental Cholesky factor (Chen et al., NeurIPS 2018), whose ``k x n`` state limits
    this selector to moderate ``k * n``. Other parameters as :class:`FacilityLocation`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> t = Table(matrices={"embeddings": X})
    >>> len(LogDeterminant(n_neighbors=2).select(t, Budget(n=3)))
    3
    """

    name = "log_determinant"
    is_stochastic = False

    def __init__(
        self,
        reg: float = 1.0,
        n_neighbors: int = 20,
        metric: str = "euclidean",
        kernel: str = "gaussian",
        bandwidth: float | None = None,
        optimizer: str = "lazy",
        epsilon: float = 0.1,
        n_shards: int = 2,
        executor: str | Executor = "local",
        by: str | None = None,
        weight: float = 1.0,
        backend: str = "auto",
        graph: KNNGraph | None = None,
    ) -> None:
        super().__init__(n_neighbors, metric, kernel, bandwidth, optimizer, epsilon, n_shards, executor, by, weight, backend, graph)
        self.reg = reg

    def _objective(self, W: sp.csr_matrix) -> Objective:
        return LogDeterminantObjective(W, self.reg)
