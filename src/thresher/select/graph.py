"""The k-nearest-neighbour graph shared by graph-based selectors and metrics.

Dense similarity selectors (apricot, DeepCore) hold an ``n x n`` matrix: 3.4 GB at
n = 20,000 and far beyond memory at millions of rows. Here every row keeps only its
``k`` nearest neighbours, found once by the exact blocked search of
:func:`thresher.neighbors.knn` (faiss optional through ``backend``), so memory is
``n * k``. The graph stores distances; a kernel turns them into a sparse similarity
matrix (SciPy CSR, one row per point, its neighbours and itself as columns) on demand.

A graph carries the ``row_id`` of each node so it can be saved in the run directory
(``<run>/graph/<name>/``, written atomically), loaded again and aligned with a table
whose rows arrive in another order.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from thresher._validation import check_choice, check_float, check_int, check_matrix, fail
from thresher.errors import DataError, RunDirError
from thresher.execute.base import Executor
from thresher.neighbors import knn
from thresher.store.atomic import atomic_path, write_json

__all__ = ["KNNGraph", "build_graph", "KERNELS"]

KERNELS = ("gaussian", "cosine", "sqdist")
"""Similarity kernels: ``gaussian`` exp(-d^2 / 2 bw^2); ``cosine`` max(0, 1 - d) (cosine
metric only: the cosine similarity, clipped at 0); ``sqdist`` D - d^2 with D the largest
squared neighbour distance of the graph (the sparse counterpart of apricot's Euclidean
similarity ``max(d^2) - d^2``)."""


def kernel_values(d: np.ndarray, kernel: str, bandwidth: float | None, metric: str,
                  owner: str) -> tuple[np.ndarray, float]:
    """Return the similarities of neighbour distances ``d`` and the self-similarity (distance 0).

    ``"gaussian"``: ``exp(-d^2 / (2 bandwidth^2))``; ``"cosine"`` (cosine graphs only):
    ``max(1 - d, 0)``. (``"sqdist"`` needs the graph's largest distance and is done by
    :meth:`KNNGraph.similarity`.)

    Examples
    --------
    >>> kernel_values(np.array([0.0, 1.0]), "gaussian", 1.0, "euclidean", "f")[0].round(4).tolist()
    [1.0, 0.6065]
    """
    if kernel == "gaussian":
        bw = check_float(bandwidth, "bandwidth", owner, low=0.0, low_open=True)
        return np.exp(-(d**2) / (2.0 * bw**2)), 1.0
    if kernel == "cosine" and metric == "cosine":
        return np.maximum(1.0 - d, 0.0), 1.0
    expected = "'gaussian' or 'cosine'" if metric == "cosine" else "'gaussian' or 'sqdist' for a Euclidean graph"
    raise fail("kernel", owner, expected, kernel)


@dataclass(frozen=True)
class KNNGraph:
    """Each row's ``k`` nearest neighbours (positions into the same rows), nearest first.

    Attributes
    ----------
    indices
        ``(n, k)`` int64 neighbour positions (a row never lists itself).
    distances
        ``(n, k)`` float64 distances (Euclidean, or ``1 - cos`` for ``metric="cosine"``).
    metric
        ``"euclidean"`` or ``"cosine"``.
    row_ids
        Row id of each node, so a stored graph can be matched to a table.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    row_ids: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_neighbors(self) -> int:
        return int(self.indices.shape[1])

    def default_bandwidth(self) -> float:
        """Return the median neighbour distance (1.0 if the graph has none that are positive)."""
        d = self.distances[self.distances > 0]
        return float(np.median(d)) if d.size else 1.0

    def similarity(self, kernel: str = "gaussian", bandwidth: float | None = None) -> sp.csr_matrix:
        """Return the sparse similarity ``W`` (CSR): ``W[i, j]`` for ``j`` a neighbour of ``i`` or ``i`` itself.

        Rows are points being represented, columns are candidate representatives. The
        diagonal holds each point's self-similarity (the kernel at distance 0); entries
        that the kernel makes 0 are kept explicitly, so the pattern is always ``k + 1``
        entries per row.

        Examples
        --------
        >>> import numpy as np
        >>> g = build_graph(np.array([[0.0], [1.0], [3.0]]), n_neighbors=1)
        >>> g.similarity("sqdist").toarray().tolist()
        [[4.0, 3.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 4.0]]
        """
        owner = "KNNGraph.similarity"
        check_choice(kernel, "kernel", owner, KERNELS)
        n, k = self.indices.shape
        d = self.distances
        if kernel == "gaussian" and bandwidth is None:
            bandwidth = self.default_bandwidth()
        if kernel == "sqdist":
            top = float(np.max(d**2)) if d.size else 0.0
            vals, self_val = top - d**2, top
        else:
            vals, self_val = kernel_values(d, kernel, bandwidth, self.metric, owner)
        data = np.concatenate([np.full((n, 1), self_val), vals], axis=1).ravel()
        cols = np.concatenate([np.arange(n)[:, None], self.indices], axis=1).ravel()
        indptr = np.arange(0, n * (k + 1) + 1, k + 1, dtype=np.int64)
        W = sp.csr_matrix((data, cols, indptr), shape=(n, n))
        W.sort_indices()
        return W

    def aligned(self, row_ids: np.ndarray, owner: str = "KNNGraph") -> KNNGraph:
        """Return this graph with nodes reordered to follow ``row_ids`` (the same set of ids).

        Examples
        --------
        >>> import numpy as np
        >>> g = build_graph(np.array([[0.0], [1.0], [3.0]]), n_neighbors=1, row_ids=np.array([7, 8, 9]))
        >>> g.aligned(np.array([9, 7, 8])).indices.ravel().tolist()
        [2, 2, 1]
        """
        ids = np.asarray(row_ids)
        if len(ids) == self.n_rows and np.array_equal(ids, self.row_ids):
            return self
        if len(ids) != self.n_rows or set(ids.tolist()) != set(self.row_ids.tolist()):
            raise DataError(
                f"`graph` of {owner} must be built on the same rows as the table; "
                f"got a graph of {self.n_rows} rows for a table of {len(ids)}."
            )
        old_pos = {v: i for i, v in enumerate(self.row_ids.tolist())}
        perm = np.array([old_pos[v] for v in ids.tolist()], dtype=np.int64)  # new -> old
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))  # old -> new
        idx, dist = inv[self.indices[perm]], self.distances[perm]
        # keep "nearest first, ties by lower position" under the new numbering
        order = np.lexsort((idx, dist), axis=1) if idx.size else np.zeros_like(idx)
        return KNNGraph(
            np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1), self.metric, ids.copy()
        )

    def save(self, run: Any, name: str = "default") -> Path:
        """Write the graph under ``<run>/graph/<name>/`` atomically; return that folder.

        ``run`` is a :class:`~thresher.store.RunDir` or a path to a run directory.

        Examples
        --------
        >>> import numpy as np, tempfile
        >>> g = build_graph(np.array([[0.0], [1.0], [3.0]]), n_neighbors=1)
        >>> d = tempfile.mkdtemp()
        >>> _ = g.save(d)
        >>> KNNGraph.load(d).indices.ravel().tolist()
        [1, 0, 1]
        """
        folder = _graph_dir(run, name)
        folder.mkdir(parents=True, exist_ok=True)
        for fname, arr in (("indices.npy", self.indices), ("distances.npy", self.distances), ("row_ids.npy", self.row_ids)):
            with atomic_path(folder / fname) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
        # the meta file is written last: its presence marks a complete graph
        write_json(folder / "meta.json", {"metric": self.metric, "n_rows": self.n_rows, "n_neighbors": self.n_neighbors})
        return folder

    @classmethod
    def load(cls, run: Any, name: str = "default", *, mmap: bool = False) -> KNNGraph:
        """Read a graph written by :meth:`save` (memory-mapped with ``mmap=True``)."""
        folder = _graph_dir(run, name)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise RunDirError(f"`name` of KNNGraph.load must name a saved graph; got {name!r} (no {meta_path}).")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        mode: Literal["r"] | None = "r" if mmap else None
        idx = np.load(folder / "indices.npy", mmap_mode=mode)
        dist = np.load(folder / "distances.npy", mmap_mode=mode)
        ids = np.load(folder / "row_ids.npy", allow_pickle=False)
        if idx.shape != (meta["n_rows"], meta["n_neighbors"]) or dist.shape != idx.shape:
            raise RunDirError(f"graph {name!r} in {folder} is inconsistent with its meta.json; rebuild it.")
        return cls(idx, dist, str(meta["metric"]), ids)


def _graph_dir(run: Any, name: str) -> Path:
    base = Path(run.path) if hasattr(run, "path") else Path(os.fspath(run))
    return base / "graph" / name


def build_graph(
    X: Any,
    n_neighbors: int = 20,
    *,
    metric: str = "euclidean",
    row_ids: np.ndarray | None = None,
    backend: str = "auto",
    executor: Executor | None = None,
    block_queries: int = 1024,
    block_refs: int = 16384,
) -> KNNGraph:
    """Build the exact k-nearest-neighbour graph of the rows of ``X``.

    ``n_neighbors`` is clipped to ``n - 1`` so small tables always work. The search is
    :func:`thresher.neighbors.knn` (blocked BLAS; ``backend="faiss"`` uses faiss), its
    query blocks mapped over ``executor``.

    Parameters
    ----------
    X
        ``(n, d)`` points.
    n_neighbors
        Neighbours kept per row.
    metric
        ``"euclidean"`` or ``"cosine"``.
    row_ids
        Ids of the rows (default ``0..n-1``).

    Examples
    --------
    >>> import numpy as np
    >>> g = build_graph(np.array([[0.0], [1.0], [3.0]]), n_neighbors=5)
    >>> g.n_neighbors, g.indices.tolist()
    (2, [[1, 2], [0, 2], [1, 0]])
    """
    owner = "build_graph"
    # row-major rows make every distance block one contiguous BLAS product (PCA output is column-major)
    Xa = np.ascontiguousarray(check_matrix(X, "X", owner, keep_float32=True))
    n = Xa.shape[0]
    k = min(check_int(n_neighbors, "n_neighbors", owner, low=1), max(n - 1, 0))
    ids = np.arange(n, dtype=np.int64) if row_ids is None else np.asarray(row_ids)
    if len(ids) != n:
        raise fail("row_ids", owner, f"of length {n}", ids)
    if k == 0:
        return KNNGraph(np.zeros((n, 0), np.int64), np.zeros((n, 0)), metric, ids)
    r = knn(Xa, k, metric=metric, backend=backend, executor=executor, block_queries=block_queries, block_refs=block_refs)
    return KNNGraph(r.indices, r.distances, metric, ids)
