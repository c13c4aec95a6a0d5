"""Exact k-nearest-neighbour search, sharded so memory stays bounded and Ray can run it.

Three exact backends share one contract (neighbours nearest first, ties by index, each
point's own row excluded in self-queries):

* ``"sklearn"`` (the default above ~2e9 multiply-adds; NumPy below, where scikit-learn's
  first import would cost more than the search): scikit-learn's compiled brute-force
  arg-k-min, which streams distance chunks through a per-query heap (bounded working
  memory, OpenMP threads). About 1.5-4x faster than the NumPy route here; query shards
  go through our executors.
* ``"numpy"``: one BLAS product per (query block, reference block) pair ranking by
  ``|x|^2 - 2 q.x``, ``argpartition`` per block and a running top-k merged across
  reference blocks; peak memory ``block_queries x block_refs`` floats.
* ``"faiss"``: ``IndexFlatL2`` (float32) when faiss is installed.

This module is the kNN machinery shared by density scores, graph selectors, PRDC, drift
tests and near-duplicate detection. Float32 rows are searched in float32 and the kept
distances recomputed exactly (see :func:`knn`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._validation import check_choice, check_int, check_matrix
from thresher.data.scales import warn_if_unscaled
from thresher.errors import InvalidParameterError, MissingDependencyError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards

__all__ = ["knn", "KNNResult", "pairwise_sq_dists"]

_OWNER = "knn"
_AUTO_NUMPY_WORK = 2**31  # queries x references x dimensions below which "auto" uses NumPy
_RERANK_FLOATS = 1 << 22  # float64 temporaries of the exact re-ranking, per block


@dataclass(frozen=True)
class KNNResult:
    """Neighbours of each query: ``indices`` into the reference set and ``distances``, nearest first."""

    distances: np.ndarray  # (n_queries, k) float64
    indices: np.ndarray  # (n_queries, k) int64
    metric: str


def pairwise_sq_dists(Q: np.ndarray, X: np.ndarray, x_sq: np.ndarray | None = None) -> np.ndarray:
    """Return squared Euclidean distances between rows of ``Q`` and ``X`` (clamped at 0)."""
    q_sq = np.einsum("ij,ij->i", Q, Q)
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", X, X)
    d = q_sq[:, None] - 2.0 * (Q @ X.T) + x_sq[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def _topk_rows(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, columns) of the k smallest per row, sorted ascending, ties by column."""
    if k < d.shape[1]:
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(d.shape[1]), d.shape).copy()
    vals = np.take_along_axis(d, part, axis=1)
    order = np.lexsort((part, vals), axis=1) if vals.size else np.zeros_like(part)
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(part, order, axis=1)


def knn(
    X: Any,
    k: int,
    *,
    queries: Any = None,
    metric: str = "euclidean",
    exclude_self: bool | None = None,
    block_queries: int = 1024,
    block_refs: int = 16384,
    executor: Executor | None = None,
    backend: str = "auto",
) -> KNNResult:
    """Find the ``k`` nearest rows of ``X`` for each query row (exact).

    Parameters
    ----------
    X
        Reference points (n, d).
    k
        Neighbours per query.
    queries
        Query points (m, d); ``None`` means ``X`` itself, in which case each point's own
        row is excluded unless ``exclude_self=False``.
    metric
        ``"euclidean"`` (distance) or ``"cosine"`` (1 - cosine similarity).
    backend
        ``"auto"`` (``"numpy"`` up to ``2**31`` query x reference x dimension
        multiply-adds, where scikit-learn's 1-4 s first import would dominate, else
        ``"sklearn"``), ``"sklearn"`` (exact; scikit-learn's compiled
        chunked arg-k-min inside each query shard, about 4x faster than the pure NumPy
        route), ``"numpy"`` (exact, blocked BLAS with ``argpartition``; ties broken by the
        lower index) or ``"faiss"`` (exact ``IndexFlatL2`` in float32; needs faiss).

    Float32 inputs (both ``X`` and ``queries``) are searched in float32, never copied to
    float64; the ``k`` distances kept are then recomputed exactly as float64 differences
    of the float32 rows and re-sorted, so they match the float64 search to about 1e-7
    relative, and the neighbours are the same up to ties closer than float32 rounding.

    Examples
    --------
    >>> import numpy as np
    >>> r = knn(np.array([[0.0], [1.0], [3.0]]), 1)
    >>> r.indices.ravel().tolist(), r.distances.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    Xa = check_matrix(X, "X", _OWNER, keep_float32=True)
    warn_if_unscaled(Xa, "kNN search")
    self_query = queries is None
    Qa = Xa if self_query else check_matrix(queries, "queries", _OWNER, keep_float32=True)
    if Xa.dtype != Qa.dtype:  # float32 only when both are
        Xa, Qa = Xa.astype(np.float64, copy=False), Qa.astype(np.float64, copy=False)
    is_f32 = Xa.dtype == np.float32
    if Qa.shape[1] != Xa.shape[1]:
        raise InvalidParameterError(
            f"`queries` of knn must have {Xa.shape[1]} columns like `X`; got {Qa.shape[1]}."
        )
    check_choice(metric, "metric", _OWNER, ("euclidean", "cosine"))
    check_choice(backend, "backend", _OWNER, ("auto", "numpy", "sklearn", "faiss"))
    if exclude_self is None:
        exclude_self = self_query
    n_ref = Xa.shape[0] - (1 if exclude_self else 0)
    check_int(k, "k", _OWNER, low=1, high=max(n_ref, 1))
    if metric == "cosine":
        Xa = _unit_rows(Xa)
        Qa = Xa if self_query else _unit_rows(Qa)
    if backend == "auto":
        # scikit-learn's first import costs 1.3-4.6 s here (pandas, scipy.stats); below
        # ~2e9 multiply-adds the NumPy route finishes well inside that
        work = Qa.shape[0] * Xa.shape[0] * Xa.shape[1]
        backend = "numpy" if work <= _AUTO_NUMPY_WORK else "sklearn"
    if backend == "faiss":
        dist_sq, idx = _knn_faiss(Xa, Qa, k, exclude_self)
    elif backend == "sklearn":
        dist_sq, idx = _knn_sklearn(Xa, Qa, k, exclude_self, block_queries, executor)
    else:
        dist_sq, idx = _knn_numpy(Xa, Qa, k, exclude_self, block_queries, block_refs, executor)
    if is_f32:
        dist_sq, idx = _exact_rerank(Xa, Qa, idx)
    if metric == "cosine":
        dist = dist_sq / 2.0  # |a-b|^2 = 2 - 2cos for unit vectors
    else:
        dist = np.sqrt(dist_sq)
    return KNNResult(dist, idx, metric)


def _unit_rows(A: np.ndarray) -> np.ndarray:
    if A.dtype == np.float32:  # norms accumulated in float64, rows kept float32
        norms32 = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))[:, None]
        norms32[norms32 == 0] = 1.0
        return (A / norms32).astype(np.float32)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return A / norms


def _exact_rerank(X: np.ndarray, Q: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the kept neighbours' squared distances as float64 differences; re-sort (ties by index).

    A float32 search ranks by float32 products; the k distances it keeps are then taken
    exactly from the float32 rows (m k d work, small next to the m n d search).
    """
    m, k = idx.shape
    out = np.empty((m, k))
    step = max(1, _RERANK_FLOATS // max(1, k * X.shape[1]))
    for a in range(0, m, step):
        b = min(a + step, m)
        diff = X[idx[a:b]].astype(np.float64) - Q[a:b, None, :].astype(np.float64)
        out[a:b] = np.einsum("ijk,ijk->ij", diff, diff)
    order = np.lexsort((idx, out), axis=1)
    return np.take_along_axis(out, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _knn_numpy(
    X: np.ndarray,
    Q: np.ndarray,
    k: int,
    exclude_self: bool,
    block_queries: int,
    block_refs: int,
    executor: Executor | None,
) -> tuple[np.ndarray, np.ndarray]:
    x_sq = np.einsum("ij,ij->i", X, X)
    kk = k + 1 if exclude_self else k

    def run(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        qb = Q[shard.start : shard.stop]
        q_sq = np.einsum("ij,ij->i", qb, qb)
        best_d = np.full((qb.shape[0], 0), np.inf, dtype=X.dtype)
        best_i = np.zeros((qb.shape[0], 0), dtype=np.int64)
        for r0 in range(0, X.shape[0], block_refs):
            r1 = min(r0 + block_refs, X.shape[0])
            # rank by |x|^2 - 2 q.x (|q|^2 is the same along a row): one GEMM and two
            # in-place passes, no n-sized temporaries; |q|^2 is added to the k kept.
            d = qb @ X[r0:r1].T
            d *= -2.0
            d += x_sq[None, r0:r1]
            if exclude_self:
                rows = np.arange(shard.start, shard.stop)
                inside = (rows >= r0) & (rows < r1)
                d[np.flatnonzero(inside), rows[inside] - r0] = np.inf
            vals, cols = _topk_rows(d, min(kk, r1 - r0))
            best_d = np.concatenate([best_d, vals], axis=1)
            best_i = np.concatenate([best_i, cols + r0], axis=1)
            if best_d.shape[1] > kk:
                best_d, best_i = _topk_rows_by(best_d, best_i, kk)
        best_d = np.maximum(best_d + q_sq[:, None], 0.0)
        return best_d[:, :k], best_i[:, :k]

    shards = make_shards(Q.shape[0], shard_size=max(1, block_queries))
    parts = list((executor or LocalExecutor()).map(run, shards))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]).astype(np.int64)


def _drop_self(d: np.ndarray, i: np.ndarray, start: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From k+1 neighbours of queries ``start..``, drop each query's own row (else the farthest)."""
    own = i == (start + np.arange(len(i)))[:, None]
    keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(k + 1)[None, :] < k)
    return d[keep].reshape(len(i), k), i[keep].reshape(len(i), k)


def _knn_sklearn(
    X: np.ndarray, Q: np.ndarray, k: int, exclude_self: bool, block_queries: int, executor: Executor | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN with scikit-learn's compiled brute-force search, one call per query shard.

    scikit-learn's ``ArgKmin`` reduction keeps a heap per query while it streams distance
    chunks (bounded working memory), which beats ``argpartition`` over whole blocks; the
    query shards still go through our executors so the search runs on Ray too.
    """
    from sklearn.neighbors import NearestNeighbors

    kk = k + 1 if exclude_self else k
    nn = NearestNeighbors(n_neighbors=kk, algorithm="brute").fit(X)

    def run(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        d, i = nn.kneighbors(Q[shard.start : shard.stop], kk)
        d, i = d.astype(np.float64) ** 2, i.astype(np.int64)
        # order ties by index so results do not depend on the chunking
        order = np.lexsort((i, d), axis=1)
        d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
        if exclude_self:
            d, i = _drop_self(d, i, shard.start, k)
        return d, i

    # locally one shard (scikit-learn chunks and threads internally); on another executor
    # query blocks become shards
    size = Q.shape[0] if executor is None else max(1, block_queries)
    parts = list((executor or LocalExecutor()).map(run, make_shards(Q.shape[0], shard_size=max(1, size))))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _topk_rows_by(vals: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the k smallest ``vals`` per row (ties broken by smaller id); return (vals, ids)."""
    order = np.lexsort((ids, vals), axis=1)[:, :k]
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(ids, order, axis=1)


def _knn_faiss(X: np.ndarray, Q: np.ndarray, k: int, exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError(
            "`backend='faiss'` of knn needs faiss; install it with: pip install faiss-cpu"
        ) from None
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(np.ascontiguousarray(X, dtype=np.float32))
    kk = k + 1 if exclude_self else k
    d, i = index.search(np.ascontiguousarray(Q, dtype=np.float32), kk)
    d = d.astype(np.float64)
    i = i.astype(np.int64)
    if exclude_self:
        own = i == np.arange(len(Q))[:, None]
        # drop the query's own row where found, else the farthest of the k+1
        keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(kk)[None, :] < k)
        d = d[keep].reshape(len(Q), k)
        i = i[keep].reshape(len(Q), k)
    return np.maximum(d, 0.0), i
