"""Per-row scores over datasets that do not fit in memory, partition by partition.

:func:`stream_scores` runs scorers whose value for a row depends on that row alone (and
on fitted state such as a reference language model) over a
:class:`~thresher.data.dataset.FileDataset`: each partition (file) is read in batches,
every batch is scored as an ordinary :class:`~thresher.data.Table`, and the partition's
scores are written as ``part-NNNNN.parquet`` keyed by ``row_id`` with a completion marker
(:class:`~thresher.stream.partitions.PartitionStore`). Memory is bounded by one batch plus
one partition's score columns, whatever the dataset's size.

Locally partitions run through an executor (``"local"`` by default). With
``executor="ray"`` (or a :class:`~thresher.execute.ray_executor.RayExecutor`) they run on
Ray Data: a dataset of partition indices is mapped by a pool of actors
(``map_batches`` with a callable class), each actor building its scorers once — so an
expensive model is loaded once per worker, not once per batch — and reading its own
partitions from storage; the driver only sees row counts. Both paths call the same
:func:`score_partition`, so their outputs are byte-identical.

Which scorers qualify is declared by each scorer's ``is_rowwise()``; the conformance suite
checks, for every scorer that says so, that scoring in batches equals scoring at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.dataset import FileDataset, Partition
from thresher.data.table import ROW_ID
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, Shard, get_executor, spawn_seeds
from thresher.scores.base import BaseScorer
from thresher.stream.partitions import PartitionStore, work_key

__all__ = ["StreamReport", "stream_scores", "score_partition", "read_stream_scores"]

log = logging.getLogger(__name__)
OUTPUT = "scores"


@dataclass(frozen=True)
class StreamReport:
    """What one :func:`stream_scores` call did."""

    n_partitions: int
    n_computed: int
    n_skipped: int
    n_rows: int
    columns: tuple[str, ...]
    seconds: float


def _scorer_spec(scorer: BaseScorer) -> dict[str, Any]:
    return {"class": f"{type(scorer).__module__}.{type(scorer).__qualname__}", "params": scorer.get_params()}


def _check_scorers(scorers: Sequence[BaseScorer]) -> list[BaseScorer]:
    if not scorers:
        raise InvalidParameterError("`scorers` of stream_scores must hold at least one scorer; got none.")
    out = []
    for s in scorers:
        if not isinstance(s, BaseScorer):
            raise InvalidParameterError(f"`scorers` of stream_scores must be scorer objects; got {s!r}.")
        if not s.is_rowwise():
            raise InvalidParameterError(
                f"`scorers` of stream_scores must score each row on its own (is_rowwise()); {type(s).__name__} "
                "depends on other rows of the table, so scoring it in batches would change its values; "
                "score it in memory (thresher score) or on a sample."
            )
        out.append(s)
    columns = [s.column for s in out]
    if len(set(columns)) != len(columns):
        raise InvalidParameterError(f"`scorers` of stream_scores must write distinct columns; got {columns}.")
    return out


def partition_key(dataset: FileDataset, partition: Partition, scorers: Sequence[BaseScorer]) -> str:
    """Return the key of one partition's work: its content, the column roles, every scorer parameter, the version.

    The batch size is not part of it: a row-wise scorer's values do not depend on batching.
    """
    from thresher import __version__

    return work_key(partition.fingerprint, dataset.roles(), dataset.meta, [_scorer_spec(s) for s in scorers], __version__)


def score_partition(
    dataset: FileDataset,
    partition: Partition,
    scorers: Sequence[BaseScorer],
    out: str | Path,
    *,
    batch_size: int,
    seed: np.random.SeedSequence,
) -> int:
    """Score one partition batch by batch and write it with its marker; return its row count."""
    store = PartitionStore(out, OUTPUT)
    key = partition_key(dataset, partition, scorers)
    if store.is_done(partition.index, key):
        return 0
    needed = sorted({c for s in scorers for c in s.requires})
    ids: list[np.ndarray] = []
    values: dict[str, list[np.ndarray]] = {s.column: [] for s in scorers}
    rngs = [np.random.default_rng(c) for c in seed.spawn(len(scorers))]
    for batch in dataset.iter_batches(partition, batch_size=batch_size, columns=needed):
        ids.append(batch.row_id)
        for s, rng in zip(scorers, rngs):
            values[s.column].append(s.score(batch, seed=rng))
    row_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    arrays = [pa.array(row_ids.tolist() if row_ids.dtype == object else row_ids)]
    arrays += [pa.array(np.concatenate(v) if v else np.zeros(0)) for v in values.values()]
    at = pa.Table.from_arrays(arrays, names=[ROW_ID, *values])
    store.write(partition.index, at, key, {"partition": partition.fingerprint})
    return len(row_ids)


class _PartitionWorker:
    """A Ray Data actor: builds its scorers once, then scores the partitions it is handed."""

    def __init__(self, dataset: FileDataset, scorers: list[BaseScorer], out: str, batch_size: int, seeds: list[Any]) -> None:
        self.dataset = dataset
        self.scorers = scorers
        self.out = out
        self.batch_size = batch_size
        self.seeds = seeds

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for i in batch["index"].tolist():
            p = self.dataset.partitions[int(i)]
            rows.append(score_partition(self.dataset, p, self.scorers, self.out, batch_size=self.batch_size,
                                        seed=self.seeds[int(i)]))
        return {"index": batch["index"], "n_rows": np.asarray(rows, dtype=np.int64)}


def _is_ray(executor: Any) -> bool:
    return executor == "ray" or getattr(executor, "name", None) == "ray"


def stream_scores(
    dataset: FileDataset,
    scorers: Sequence[BaseScorer],
    out: str | Path,
    *,
    executor: str | Executor | None = None,
    batch_size: int = 65536,
    seed: int = 0,
    n_workers: int | None = None,
    on_partition: Callable[[int, int], None] | None = None,
) -> StreamReport:
    """Score every row of ``dataset`` partition by partition into ``<out>/scores/``.

    Finished partitions with the same key are skipped (resume; a re-run is a no-op).
    Read the result with :func:`read_stream_scores`.

    Examples
    --------
    >>> import tempfile, numpy as np, pyarrow as pa, pyarrow.parquet as pq
    >>> from thresher.data.dataset import open_dataset
    >>> from thresher.scores.uncertainty import Entropy
    >>> d = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     pq.write_table(pa.table({"probs": [[0.5, 0.5], [1.0, 0.0]]}), f"{d}/part-{i}.parquet")
    >>> ds, out = open_dataset(d), tempfile.mkdtemp()
    >>> r = stream_scores(ds, [Entropy()], out, batch_size=1)
    >>> r.n_computed, r.n_rows, stream_scores(ds, [Entropy()], out).n_skipped
    (3, 6, 3)
    >>> np.round(read_stream_scores(out)["score.entropy"].to_numpy(), 4).tolist()
    [0.6931, 0.0, 0.6931, 0.0, 0.6931, 0.0]
    """
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidParameterError(f"`batch_size` of stream_scores must be an integer >= 1; got {batch_size!r}.")
    chosen = _check_scorers(scorers)
    t0 = time.perf_counter()
    if any("label" in s.requires for s in chosen) and "classes" not in dataset.meta:
        # label codes must index the same classes in every batch (as they do in memory)
        dataset = dataset.with_meta(classes=dataset.label_classes())
    seeds = spawn_seeds(seed, dataset.n_partitions)
    store = PartitionStore(out, OUTPUT)
    pending = [p for p in dataset.partitions
               if not store.is_done(p.index, partition_key(dataset, p, chosen))]
    n_done = dataset.n_partitions - len(pending)
    if n_done:
        log.info("resuming: %d of %d partitions already stored", n_done, dataset.n_partitions)
    n_rows = 0
    if pending and _is_ray(executor):
        n_rows = _run_on_ray(dataset, chosen, out, pending, batch_size, seeds, executor, n_workers, on_partition, n_done)
    elif pending:
        ex = get_executor(executor)
        shards = [Shard(k, p.index, p.index + 1, seeds[p.index]) for k, p in enumerate(pending)]

        def fn(shard: Shard) -> int:
            p = dataset.partitions[shard.start]
            return score_partition(dataset, p, chosen, out, batch_size=batch_size, seed=shard.seed)

        for k, n in enumerate(ex.map(fn, shards)):
            n_rows += n
            if on_partition:
                on_partition(n_done + k + 1, dataset.n_partitions)
    _drop_stale(store, dataset.n_partitions)
    return StreamReport(dataset.n_partitions, len(pending), n_done, n_rows, tuple(s.column for s in chosen),
                        time.perf_counter() - t0)


def _drop_stale(store: PartitionStore, n_partitions: int) -> None:
    """Remove partitions left by an earlier version of the dataset that had more files."""
    for i in store.done_indices():
        if i >= n_partitions:
            store.marker_path(i).unlink(missing_ok=True)
            store.part_path(i).unlink(missing_ok=True)


def _run_on_ray(
    dataset: FileDataset,
    scorers: list[BaseScorer],
    out: str | Path,
    pending: list[Partition],
    batch_size: int,
    seeds: list[Any],
    executor: Any,
    n_workers: int | None,
    on_partition: Callable[[int, int], None] | None,
    n_done: int,
) -> int:
    from thresher.execute.ray_executor import RayExecutor

    rex = executor if isinstance(executor, RayExecutor) else RayExecutor()
    ray = rex._ensure_ray()
    workers = n_workers or max(1, int(ray.available_resources().get("CPU", 1)))
    ds = ray.data.from_items([{"index": p.index} for p in pending], override_num_blocks=len(pending))
    mapped = ds.map_batches(
        _PartitionWorker,
        fn_constructor_kwargs={"dataset": dataset, "scorers": scorers, "out": str(out), "batch_size": batch_size,
                               "seeds": seeds},
        batch_size=1,
        concurrency=min(workers, len(pending)),
        num_cpus=1,
    )
    n_rows = 0
    for k, row in enumerate(mapped.iter_rows()):
        n_rows += int(row["n_rows"])
        if on_partition:
            on_partition(n_done + k + 1, dataset.n_partitions)
    return n_rows


def read_stream_scores(out: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Return the streamed scores under ``out`` (``row_id`` + one column per scorer), in partition order."""
    return PartitionStore(out, OUTPUT).read(columns=columns)
