"""Approximate nearest neighbours at scale: a faiss IVF index trained on a sample.

:func:`build_ivf` trains an inverted-file index (Jégou et al., "Product quantization for
nearest neighbor search", TPAMI 2011, as implemented by faiss) on a random sample of the
dataset's embeddings and adds every row partition by partition with its ``row_id``.
Vectors are stored as float32 (``"flat"``), 8-bit scalar-quantised (``"sq8"``, 4x
smaller) or product-quantised (``"pq"``). :func:`knn_graph` then searches each partition
against the index and writes the kNN graph as partitioned Parquet (``row_id``,
``neighbors``, ``distances``) with completion markers, which :func:`read_knn_graph` turns
into the :class:`~thresher.select.graph.KNNGraph` the graph selectors and metrics take.

An approximation says how good it is: :func:`recall_at_k` measures recall@k against exact
search on a query sample (exact search streams the dataset once), and :func:`knn_graph`
records it and logs a warning when it misses ``min_recall``.
We use faiss rather than our own IVF: it is the reference implementation, multi-threaded
and far faster than anything NumPy-level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thresher._validation import check_choice, check_int
from thresher.data.dataset import FileDataset
from thresher.data.table import EMBEDDINGS, ROW_ID
from thresher.errors import InvalidParameterError, MissingDependencyError
from thresher.stream.partitions import PartitionStore, work_key

__all__ = ["IVFIndex", "build_ivf", "recall_at_k", "knn_graph", "read_knn_graph", "sample_rows"]

log = logging.getLogger(__name__)
GRAPH = "knn"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError(
            "approximate kNN needs faiss; install it with: pip install 'thresher[scale]' (faiss-cpu)"
        ) from None
    return faiss


def sample_rows(dataset: FileDataset, n: int, *, column: str = EMBEDDINGS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (row ids, rows of ``column``) of a uniform sample of ``n`` rows, read partition by partition."""
    rng = np.random.default_rng(seed)
    total = dataset.n_rows
    n = min(n, total)
    chosen = np.sort(rng.choice(total, size=n, replace=False))
    ids, rows = [], []
    start = 0
    for p in dataset.partitions:
        stop = start + p.n_rows
        lo, hi = np.searchsorted(chosen, [start, stop])
        if hi > lo:
            want = chosen[lo:hi] - start
            offset = 0
            for batch in dataset.iter_batches(p, columns=[column]):
                sel = want[(want >= offset) & (want < offset + batch.n_rows)] - offset
                if len(sel):
                    ids.append(batch.row_id[sel])
                    rows.append(np.asarray(batch.matrix(column), dtype=np.float32)[sel])
                offset += batch.n_rows
        start = stop
    return np.concatenate(ids), np.ascontiguousarray(np.concatenate(rows))


@dataclass
class IVFIndex:
    """A trained faiss IVF index over a dataset's rows, searched by ``row_id``."""

    index: Any
    metric: str
    n_lists: int
    n_probe: int
    quantizer: str
    coarse: Any = None  # faiss's coarse quantizer; held so it lives as long as the index

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, row ids) of the ``k`` nearest indexed rows of each query, nearest first."""
        Qf = _prepare(np.asarray(Q, dtype=np.float32), self.metric)
        self.index.nprobe = self.n_probe
        D, ids = self.index.search(Qf, k)
        return _distances(D, self.metric), ids


def _prepare(X: np.ndarray, metric: str) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1.0)
    return X


def _distances(D: np.ndarray, metric: str) -> np.ndarray:
    # faiss returns squared L2 (on unit vectors for cosine: |a-b|^2 = 2 - 2cos)
    D = np.maximum(D.astype(np.float64), 0.0)
    return D / 2.0 if metric == "cosine" else np.sqrt(D)


def build_ivf(
    dataset: FileDataset,
    *,
    n_lists: int | None = None,
    n_probe: int = 16,
    quantizer: str = "flat",
    pq_m: int = 16,
    metric: str = "euclidean",
    n_train: int = 100_000,
    seed: int = 0,
    column: str = EMBEDDINGS,
    batch_size: int = 262_144,
) -> IVFIndex:
    """Train an IVF index on a sample of ``n_train`` rows and add every row of ``dataset``.

    ``n_lists`` defaults to about ``4 sqrt(n)`` (faiss's guideline), capped so each list
    gets at least 39 training points. Memory: 4d bytes per row for ``"flat"``, d for
    ``"sq8"``, ``pq_m`` for ``"pq"``, plus 8 for the id.

    Examples
    --------
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> from thresher.data.dataset import open_dataset
    >>> d = tempfile.mkdtemp(); X = np.random.default_rng(0).normal(size=(400, 8)).astype("float32")
    >>> pq.write_table(pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8)}), f"{d}/a.parquet")
    >>> ds = open_dataset(d, embedding_columns="x")
    >>> idx = build_ivf(ds, n_lists=4, n_probe=4)
    >>> D, ids = idx.search(X[:2], 1)
    >>> (ids[:, 0] == ds.read_partition(ds.partitions[0]).row_id[:2]).tolist()
    [True, True]
    """
    faiss = _faiss()
    owner = "build_ivf"
    check_choice(quantizer, "quantizer", owner, ("flat", "sq8", "pq"))
    check_choice(metric, "metric", owner, ("euclidean", "cosine"))
    check_int(n_probe, "n_probe", owner, low=1)
    n = dataset.n_rows
    _, sample = sample_rows(dataset, check_int(n_train, "n_train", owner, low=1), column=column, seed=seed)
    sample = _prepare(sample, metric)
    d = sample.shape[1]
    lists = n_lists if n_lists is not None else int(max(1, min(4 * np.sqrt(n), len(sample) // 39)))
    check_int(lists, "n_lists", owner, low=1, high=len(sample))
    coarse = faiss.IndexFlatL2(d)
    if quantizer == "flat":
        index = faiss.IndexIVFFlat(coarse, d, lists)
    elif quantizer == "sq8":
        index = faiss.IndexIVFScalarQuantizer(coarse, d, lists, faiss.ScalarQuantizer.QT_8bit)
    else:
        if d % pq_m:
            raise InvalidParameterError(f"`pq_m` of build_ivf must divide the dimension {d}; got {pq_m}.")
        index = faiss.IndexIVFPQ(coarse, d, lists, pq_m, 8)
    index.cp.seed = seed
    index.train(sample)
    for p in dataset.partitions:
        for batch in dataset.iter_batches(p, batch_size=batch_size, columns=[column]):
            if batch.row_id.dtype == object:
                raise InvalidParameterError("approximate kNN needs integer row ids; open the dataset without a string "
                                            "`id_column` (file + offset ids are integers).")
            index.add_with_ids(_prepare(batch.matrix(column), metric), batch.row_id.astype(np.int64))
    return IVFIndex(index, metric, lists, n_probe, quantizer, coarse)


def exact_knn_of(dataset: FileDataset, Q: np.ndarray, k: int, *, metric: str = "euclidean",
                 column: str = EMBEDDINGS, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return exact (distances, row ids) of ``Q``'s ``k`` nearest rows, streaming the dataset once.

    ``exclude`` (one row id per query) drops each query's own row, as in a self-graph.
    """
    faiss = _faiss()
    Qf = _prepare(Q, metric)
    best_d = np.full((len(Qf), k), np.inf, dtype=np.float32)
    best_i = np.full((len(Qf), k), -1, dtype=np.int64)
    kk = k + (1 if exclude is not None else 0)
    for p in dataset.partitions:
        for batch in dataset.iter_batches(p, columns=[column]):
            Xb = _prepare(batch.matrix(column), metric)
            D, pos = faiss.knn(Qf, Xb, min(kk, len(Xb)))
            ids = batch.row_id.astype(np.int64)[pos]
            if exclude is not None:
                D = np.where(ids == exclude[:, None], np.inf, D)
            allD = np.concatenate([best_d, D], axis=1)
            allI = np.concatenate([best_i, ids], axis=1)
            order = np.lexsort((allI, allD), axis=1)[:, :k]
            best_d = np.take_along_axis(allD, order, axis=1)
            best_i = np.take_along_axis(allI, order, axis=1)
    return _distances(best_d, metric), best_i


def recall_at_k(index: IVFIndex, dataset: FileDataset, k: int = 10, *, n_queries: int = 10_000, seed: int = 1,
                column: str = EMBEDDINGS) -> float:
    """Return the mean recall@k of ``index`` against exact search for a sample of rows queried as themselves."""
    qids, Q = sample_rows(dataset, n_queries, column=column, seed=seed)
    _, exact = exact_knn_of(dataset, Q, k, metric=index.metric, column=column, exclude=qids)
    _, approx = _self_search(index, Q, qids, k)
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact)]
    return float(np.mean(hits) / k)


def _self_search(index: IVFIndex, Q: np.ndarray, qids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    D, ids = index.search(Q, k + 1)
    # drop the query's own id (or the last neighbour when the row itself was not found):
    # a stable sort of "is self" puts the other neighbours first, nearest first
    sel = np.argsort(ids == qids[:, None], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, sel, axis=1), np.take_along_axis(ids, sel, axis=1)


def knn_graph(
    dataset: FileDataset,
    index: IVFIndex,
    out: str | Path,
    *,
    k: int = 10,
    column: str = EMBEDDINGS,
    batch_size: int = 65_536,
    min_recall: float = 0.9,
    n_recall_queries: int = 2_000,
    seed: int = 1,
) -> dict[str, Any]:
    """Write each row's ``k`` approximate nearest neighbours (itself excluded) under ``<out>/knn/``.

    Returns a summary with the measured recall@k on ``n_recall_queries`` sampled rows; a
    recall below ``min_recall`` is logged as a warning (raise ``n_probe`` or use ``"flat"``).
    """
    check_int(k, "k", "knn_graph", low=1)
    store = PartitionStore(out, GRAPH)
    spec = work_key(dataset.fingerprint(), index.metric, index.n_lists, index.n_probe, index.quantizer, k, column)
    n_computed = 0
    for p in dataset.partitions:
        key = work_key(spec, p.fingerprint)
        if store.is_done(p.index, key):
            continue
        ids_parts, nb_parts, d_parts = [], [], []
        for batch in dataset.iter_batches(p, batch_size=batch_size, columns=[column]):
            D, nb = _self_search(index, batch.matrix(column), batch.row_id.astype(np.int64), k)
            ids_parts.append(batch.row_id.astype(np.int64))
            nb_parts.append(nb)
            d_parts.append(D.astype(np.float32))
        ids, nb, dd = np.concatenate(ids_parts), np.concatenate(nb_parts), np.concatenate(d_parts)
        at = pa.table({
            ROW_ID: ids,
            "neighbors": pa.FixedSizeListArray.from_arrays(pa.array(nb.reshape(-1)), k),
            "distances": pa.FixedSizeListArray.from_arrays(pa.array(dd.reshape(-1)), k),
        })
        store.write(p.index, at, key)
        n_computed += 1
    recall = recall_at_k(index, dataset, k, n_queries=n_recall_queries, seed=seed, column=column)
    if recall < min_recall:
        log.warning("approximate kNN recall@%d is %.3f, below the required %.2f; raise n_probe (now %d) or use "
                    "quantizer='flat'", k, recall, min_recall, index.n_probe)
    return {"recall_at_k": recall, "k": k, "n_partitions": dataset.n_partitions, "n_computed": n_computed,
            "min_recall": min_recall, "meets_min_recall": recall >= min_recall}


def read_knn_graph(out: str | Path, metric: str = "euclidean") -> Any:
    """Return the stored graph as a :class:`~thresher.select.graph.KNNGraph` (rows in stored order)."""
    from thresher.select.graph import KNNGraph

    at = PartitionStore(out, GRAPH).read()
    ids = at.column(ROW_ID).to_numpy()
    k = at.schema.field("neighbors").type.list_size
    nb = at.column("neighbors").combine_chunks().flatten().to_numpy().reshape(-1, k)
    dd = at.column("distances").combine_chunks().flatten().to_numpy().reshape(-1, k).astype(np.float64)
    from thresher.stream.reverse_graph import RowPositions

    return KNNGraph(RowPositions(ids)(nb), dd, metric, ids)  # raises when a neighbour is not a stored row
