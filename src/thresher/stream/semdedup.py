"""SemDeDup out of core: k-means on a sample, assign every row, deduplicate cluster group by group.

The three passes, each resumable through :class:`~thresher.stream.partitions.PartitionStore`:

1. fit spherical k-means centroids on a uniform sample of ``n_train`` rows;
2. assign every row to its nearest centroid, partition by partition (``semdedup_assign/``);
3. pack clusters into groups of at most ``max_group_rows`` rows; for each group, stream the
   dataset once collecting that group's rows and run
   :func:`~thresher.scores.semdedup.semdedup_clusters` on them (``semdedup/``).

Peak memory is one group's embeddings (``max_group_rows x d`` float32), whatever ``n``.
Clusters larger than ``max_group_rows`` still go whole into a group of their own (the
within-cluster comparison needs all of a cluster's rows), and the summary says so.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thresher._validation import check_int
from thresher.data.dataset import FileDataset
from thresher.data.table import EMBEDDINGS, ROW_ID
from thresher.scores.semdedup import fit_centroids, kmeans_assign, semdedup_clusters
from thresher.stream.ann import sample_rows
from thresher.stream.partitions import PartitionStore, work_key

__all__ = ["stream_semdedup", "read_semdedup"]

log = logging.getLogger(__name__)
ASSIGN, RESULT = "semdedup_assign", "semdedup"


def _pack(sizes: np.ndarray, max_rows: int) -> list[np.ndarray]:
    """Pack cluster ids into consecutive groups of at most ``max_rows`` rows (a cluster is never split)."""
    groups: list[list[int]] = [[]]
    total = 0
    for c in np.argsort(-sizes, kind="stable").tolist():
        if sizes[c] == 0:
            continue
        if groups[-1] and total + sizes[c] > max_rows:
            groups.append([])
            total = 0
        groups[-1].append(c)
        total += int(sizes[c])
    return [np.array(sorted(g), dtype=np.int64) for g in groups if g]


def stream_semdedup(
    dataset: FileDataset,
    out: str | Path,
    *,
    n_clusters: int = 1000,
    eps: float = 0.05,
    which_to_keep: str = "hard",
    n_train: int = 100_000,
    max_group_rows: int = 2_000_000,
    seed: int = 0,
    column: str = EMBEDDINGS,
) -> dict[str, Any]:
    """Deduplicate ``dataset`` semantically into ``<out>/semdedup/``; return a summary.

    Examples
    --------
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> from thresher.data.dataset import open_dataset
    >>> d = tempfile.mkdtemp(); X = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
    >>> X[150:] = X[:150] + 1e-3  # every row of the second half duplicates one of the first
    >>> pq.write_table(pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8)}), f"{d}/a.parquet")
    >>> s = stream_semdedup(open_dataset(d, embedding_columns="x"), tempfile.mkdtemp(), n_clusters=5, eps=1e-4)
    >>> s["n_duplicates"], s["n_rows"]
    (150, 300)
    """
    owner = "stream_semdedup"
    check_int(max_group_rows, "max_group_rows", owner, low=1)
    _, sample = sample_rows(dataset, check_int(n_train, "n_train", owner, low=1), column=column, seed=seed)
    C = fit_centroids(sample, min(check_int(n_clusters, "n_clusters", owner, low=1), len(sample)), seed=seed)
    c_hash = hashlib.sha256(C.tobytes()).hexdigest()
    assign = PartitionStore(out, ASSIGN)
    sizes = np.zeros(len(C), dtype=np.int64)
    for p in dataset.partitions:
        key = work_key("assign", c_hash, p.fingerprint, column)
        if not assign.is_done(p.index, key):
            ids, cl = [], []
            for batch in dataset.iter_batches(p, columns=[column]):
                ids.append(batch.row_id)
                cl.append(kmeans_assign(batch.matrix(column), C))
            assign.write(p.index, pa.table({ROW_ID: np.concatenate(ids), "cluster": np.concatenate(cl)}), key)
        sizes += np.bincount(assign.read([p.index], columns=["cluster"]).column("cluster").to_numpy(), minlength=len(C))
    groups = _pack(sizes, max_group_rows)
    result = PartitionStore(out, RESULT)
    for g, members in enumerate(groups):
        key = work_key("dedup", c_hash, dataset.fingerprint(), members.tolist(), eps, which_to_keep, column)
        if result.is_done(g, key):
            continue
        wanted = np.zeros(len(C), dtype=bool)
        wanted[members] = True
        ids, cl, rows = [], [], []
        for p in dataset.partitions:
            a = assign.read([p.index]).column("cluster").to_numpy()
            offset = 0
            for batch in dataset.iter_batches(p, columns=[column]):
                ab = a[offset : offset + batch.n_rows]
                keep = wanted[ab]
                if keep.any():
                    ids.append(batch.row_id[keep])
                    cl.append(ab[keep])
                    rows.append(np.asarray(batch.matrix(column), dtype=np.float32)[keep])
                offset += batch.n_rows
        gid, gcl = np.concatenate(ids), np.concatenate(cl)
        res = semdedup_clusters(np.concatenate(rows), gcl, C, gid, eps=eps, which_to_keep=which_to_keep)
        result.write(g, pa.table({ROW_ID: gid, "cluster": gcl, "n_similar": res.n_similar,
                                  "is_duplicate": res.is_duplicate}), key)
    for stale in result.done_indices():
        if stale >= len(groups):
            result.marker_path(stale).unlink(missing_ok=True)
            result.part_path(stale).unlink(missing_ok=True)
    at = result.read(list(range(len(groups))), columns=["is_duplicate"])
    oversized = int(np.sum(sizes > max_group_rows))
    if oversized:
        log.warning("%d clusters hold more than max_group_rows=%d rows; each was processed whole", oversized, max_group_rows)
    return {"n_rows": int(sizes.sum()), "n_duplicates": int(np.sum(at.column("is_duplicate").to_numpy())),
            "n_clusters": len(C), "n_groups": len(groups), "largest_cluster": int(sizes.max()),
            "oversized_clusters": oversized}


def read_semdedup(out: str | Path) -> pa.Table:
    """Return ``row_id, cluster, n_similar, is_duplicate`` for every row (grouped by cluster group)."""
    return PartitionStore(out, RESULT).read()
