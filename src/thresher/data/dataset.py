"""A dataset handle that is not in memory: Parquet or JSONL files read batch by batch.

:func:`open_dataset` takes a directory, a glob or a list of files and returns a
:class:`FileDataset`. Nothing is read up front except each file's row count (from the
Parquet footer; JSONL files are counted once). Work is done per :class:`Partition` (one
file) and, inside a partition, per batch; each batch arrives as an ordinary in-memory
:class:`~thresher.data.Table`, so every per-row scorer works on it unchanged.

Row ids are stable across files: the ``id_column`` when given, otherwise a 64-bit id
built from the file's path relative to the dataset root and the row's offset inside the
file (``hash32(relative path) << 31 | offset``), so adding or removing other files never
changes a row's id. Two files whose paths hash alike are refused at open time (pass an
``id_column`` then).

Reading uses ``pyarrow.dataset`` (local) — the scheduling of partitions onto workers
lives in :mod:`thresher.stream`, which also runs them through Ray Data.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq

from thresher.data.table import EMBEDDINGS, GROUP, LABEL, TEXT, Table
from thresher.errors import DataError, InvalidParameterError, MissingColumnError

__all__ = ["FileDataset", "Partition", "open_dataset", "file_row_ids", "arrow_to_table", "concat_tables"]

_OFFSET_BITS = 31
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def _path_hash(rel: str) -> int:
    return int.from_bytes(hashlib.blake2b(rel.encode(), digest_size=4).digest(), "big")


def file_row_ids(rel_path: str, start: int, stop: int) -> np.ndarray:
    """Return the default row ids of rows ``[start, stop)`` of the file at ``rel_path``.

    Examples
    --------
    >>> ids = file_row_ids("part-0.parquet", 0, 3)
    >>> (ids - ids[0]).tolist(), bool(ids[0] >> 31 == file_row_ids("part-0.parquet", 5, 6)[0] >> 31)
    ([0, 1, 2], True)
    """
    if stop > 2**_OFFSET_BITS:
        raise DataError(
            f"file {rel_path!r} has more than 2**31 rows; give the dataset an `id_column` for stable row ids."
        )
    return (np.int64(_path_hash(rel_path)) << np.int64(_OFFSET_BITS)) + np.arange(start, stop, dtype=np.int64)


@dataclass(frozen=True)
class Partition:
    """One file of a dataset: where its rows are, how many, and what identifies its content."""

    index: int
    path: str
    rel_path: str
    n_rows: int
    format: str
    size: int
    mtime_ns: int

    @property
    def fingerprint(self) -> str:
        """Identity of this partition's content as input (path, size, modification time, rows)."""
        return f"{self.rel_path}|{self.size}|{self.mtime_ns}|{self.n_rows}"


def _roles_used(roles: dict[str, Any]) -> set[str]:
    used = {v for k, v in roles.items() if k != "embedding_columns" and v is not None}
    return used


@dataclass(frozen=True)
class FileDataset:
    """A lazily read dataset of Parquet or JSONL files (see :func:`open_dataset`)."""

    root: str
    partitions: tuple[Partition, ...]
    id_column: str | None = None
    label_column: str | None = None
    group_column: str | None = None
    text_column: str | None = None
    embedding_columns: tuple[str, ...] | str | None = None
    schema_names: tuple[str, ...] = field(default=())
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_rows(self) -> int:
        return sum(p.n_rows for p in self.partitions)

    @property
    def n_partitions(self) -> int:
        return len(self.partitions)

    def roles(self) -> dict[str, Any]:
        return {
            "id_column": self.id_column,
            "label_column": self.label_column,
            "group_column": self.group_column,
            "text_column": self.text_column,
            "embedding_columns": self.embedding_columns,
        }

    def fingerprint(self) -> str:
        """SHA-256 of every partition's fingerprint and the column roles."""
        h = hashlib.sha256(repr(sorted(self.roles().items(), key=lambda kv: kv[0])).encode())
        for p in self.partitions:
            h.update(p.fingerprint.encode())
        return h.hexdigest()

    def iter_batches(self, partition: Partition, batch_size: int = 65536, columns: Sequence[str] | None = None) -> Iterator[Table]:
        """Yield the rows of ``partition`` as Tables of at most ``batch_size`` rows, in file order."""
        if batch_size < 1:
            raise InvalidParameterError(f"`batch_size` of iter_batches must be >= 1; got {batch_size}.")
        cols = None if columns is None else self._arrow_columns(columns)
        roles = self.roles()
        if cols is not None:  # roles of columns not read are dropped for this read
            roles = {k: v for k, v in roles.items() if k == "embedding_columns" or v is None or v in cols}
            if EMBEDDINGS not in (columns or ()):
                roles["embedding_columns"] = None
        offset = 0
        if partition.format == "parquet":
            pf = pq.ParquetFile(partition.path)
            batches: Any = pf.iter_batches(batch_size=batch_size, columns=cols)
        else:
            batches = pds.dataset(partition.path, format="json").to_batches(columns=cols, batch_size=batch_size)
        for rb in batches:
            if rb.num_rows == 0:
                continue
            at = pa.Table.from_batches([rb])
            ids = None if self.id_column else file_row_ids(partition.rel_path, offset, offset + rb.num_rows)
            t = arrow_to_table(at, row_ids=ids, **roles)
            t.meta.update(self.meta)
            yield t
            offset += rb.num_rows
        if offset != partition.n_rows:
            raise DataError(
                f"file {partition.path!r} yielded {offset} rows but held {partition.n_rows} when the dataset was "
                "opened; it changed while being read."
            )

    def label_classes(self) -> list[Any]:
        """Return the sorted distinct labels over every file (reads the label column only)."""
        if self.label_column is None and "label" not in self.schema_names:
            raise MissingColumnError("the dataset has no label column; pass `label_column` to open_dataset.")
        col = self.label_column or "label"
        values: set[Any] = set()
        for p in self.partitions:
            if p.format == "parquet":
                at = pq.read_table(p.path, columns=[col])
            else:
                at = pds.dataset(p.path, format="json").to_table(columns=[col])
            values.update(pc.unique(at.column(col)).to_pylist())
        if None in values:
            raise DataError(f"label column {col!r} holds nulls; every row needs a label.")
        return sorted(values)

    def with_meta(self, **meta: Any) -> FileDataset:
        """Return this dataset with ``meta`` attached to every batch it yields (e.g. ``classes``)."""
        from dataclasses import replace

        return replace(self, meta={**self.meta, **meta})

    def read_partition(self, partition: Partition, columns: Sequence[str] | None = None) -> Table:
        """Return one partition as a single Table."""
        parts = list(self.iter_batches(partition, batch_size=max(1, partition.n_rows), columns=columns))
        return concat_tables(parts)

    def to_table(self, columns: Sequence[str] | None = None) -> Table:
        """Return the whole dataset in memory (only when it fits)."""
        return concat_tables([self.read_partition(p, columns) for p in self.partitions])

    def _arrow_columns(self, columns: Sequence[str]) -> list[str]:
        """Map table-level names (``label``, ``embeddings``, ...) to the file columns to read."""
        out: list[str] = []
        role_of = {LABEL: self.label_column, GROUP: self.group_column, TEXT: self.text_column}
        for c in columns:
            if c == EMBEDDINGS and self.embedding_columns is not None:
                out.extend(_expand_embedding_columns(self.embedding_columns, list(self.schema_names)))
            elif c in role_of and role_of[c] is not None:
                out.append(str(role_of[c]))
            elif c in self.schema_names:
                out.append(c)
            elif f"matrix.{c}" in self.schema_names:
                out.append(f"matrix.{c}")
            else:
                raise MissingColumnError(
                    f"`columns` must name columns of the dataset; got {c!r}; the files have {list(self.schema_names)}."
                )
        if self.id_column is not None:
            out.append(self.id_column)
        return list(dict.fromkeys(out))


def concat_tables(tables: Sequence[Table]) -> Table:
    """Stack tables with the same columns and matrices row-wise (ids must stay unique)."""
    if not tables:
        raise DataError("`tables` of concat_tables must hold at least one table; got none.")
    if len(tables) == 1:
        return tables[0]
    first = tables[0]
    for t in tables[1:]:
        if t.column_names != first.column_names or t.matrix_names != first.matrix_names:
            raise DataError("tables to concatenate must have the same columns and matrices; got "
                            f"{first.column_names + first.matrix_names} and {t.column_names + t.matrix_names}.")
    return Table(
        np.concatenate([t.row_id for t in tables]),
        columns={c: np.concatenate([t.column(c) for t in tables]) for c in first.column_names},
        matrices={m: np.concatenate([t.matrix(m) for t in tables]) for m in first.matrix_names},
        meta=dict(first.meta),
    )


def _expand_embedding_columns(spec: Sequence[str] | str, names: list[str]) -> list[str]:
    if isinstance(spec, str) and spec.endswith("*"):
        got = [n for n in names if n.startswith(spec[:-1])]
        if not got:
            raise MissingColumnError(f"`embedding_columns` matched no column with prefix {spec[:-1]!r}; columns are {names}.")
        return got
    cols = [spec] if isinstance(spec, str) else list(spec)
    for c in cols:
        if c not in names:
            raise MissingColumnError(f"`embedding_columns` must name columns of the data; got {c!r}; columns are {names}.")
    return cols


def _matrix_of(col: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(arr.type):
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths.min() != lengths.max()):
            raise DataError(f"column {name!r} must hold equal-length vectors to be a matrix; lengths range "
                            f"{int(lengths.min())}..{int(lengths.max())}.")
        width = int(lengths[0]) if len(lengths) else 0
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), width)
    raise DataError(f"column {name!r} must be a list column to be a matrix; got type {arr.type}.")


def arrow_to_table(
    at: pa.Table,
    *,
    row_ids: np.ndarray | None = None,
    id_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    text_column: str | None = None,
    embedding_columns: Sequence[str] | str | None = None,
) -> Table:
    """Build a Table from an Arrow batch, keeping dtypes (float32 embeddings stay float32).

    ``embedding_columns`` is one list column, a list of numeric columns, or a prefix
    ending in ``*``; list columns ``matrix.<name>`` (as :meth:`Table.to_arrow` writes)
    become matrices. Other columns are kept as 1-D columns.

    Examples
    --------
    >>> import pyarrow as pa
    >>> at = pa.table({"y": [0, 1], "f0": [0.5, 1.5], "f1": [2.0, 3.0]})
    >>> t = arrow_to_table(at, row_ids=np.array([7, 8]), label_column="y", embedding_columns="f*")
    >>> t.row_id.tolist(), t.labels.tolist(), t.embeddings.tolist()
    ([7, 8], [0, 1], [[0.5, 2.0], [1.5, 3.0]])
    """
    names = at.column_names
    roles = {"id_column": id_column, "label_column": label_column, "group_column": group_column, "text_column": text_column}
    for param, col in roles.items():
        if col is not None and col not in names:
            raise MissingColumnError(f"`{param}` must name a column of the data; got {col!r}; columns are {names}.")
    cols: dict[str, Any] = {}
    mats: dict[str, Any] = {}
    used = _roles_used(roles)
    if embedding_columns is not None:
        emb = _expand_embedding_columns(embedding_columns, names)
        if len(emb) == 1 and pa.types.is_list(at.schema.field(emb[0]).type) | pa.types.is_fixed_size_list(
            at.schema.field(emb[0]).type
        ):
            mats[EMBEDDINGS] = _matrix_of(at.column(emb[0]), emb[0])
        else:
            mats[EMBEDDINGS] = np.column_stack([at.column(c).to_numpy() for c in emb])
        used.update(emb)
    for col, role in ((label_column, LABEL), (group_column, GROUP), (text_column, TEXT)):
        if col is not None:
            cols[role] = at.column(col).to_numpy()
    ids = row_ids
    if id_column is not None:
        idc = at.column(id_column)
        if idc.null_count:
            raise DataError(f"`id_column` {id_column!r} must not hold nulls; got {idc.null_count} null ids.")
        ids = idc.to_numpy()
    for c in names:
        if c in used:
            continue
        typ = at.schema.field(c).type
        if c.startswith("matrix.") or pa.types.is_list(typ) or pa.types.is_fixed_size_list(typ):
            mats[c[len("matrix."):] if c.startswith("matrix.") else c] = _matrix_of(at.column(c), c)
        elif c == "row_id" and ids is None:
            ids = at.column(c).to_numpy()
        elif c != "row_id":
            cols[c] = at.column(c).to_numpy()
    return Table(ids, columns=cols, matrices=mats)


def _list_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> tuple[str, list[Path]]:
    if isinstance(source, (list, tuple)):
        files = [Path(s) for s in source]
        root = os.path.commonpath([str(f.parent.resolve()) for f in files]) if files else "."
    else:
        p = Path(source)  # type: ignore[arg-type]  # a str or PathLike here: sequences were handled above
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _FORMATS and not f.name.startswith((".", "_")))
            root = str(p.resolve())
        else:
            files = sorted(Path(f) for f in _glob.glob(str(source), recursive=True))
            root = os.path.commonpath([str(f.parent.resolve()) for f in files]) if files else "."
    if not files:
        raise DataError(f"`source` of open_dataset must name Parquet/JSONL files, a directory or a glob; got {str(source)!r}, "
                        "which matches no file.")
    return root, files


def open_dataset(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    id_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    text_column: str | None = None,
    embedding_columns: Sequence[str] | str | None = None,
) -> FileDataset:
    """Open a directory, glob or list of Parquet/JSONL files without reading their rows.

    Examples
    --------
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> d = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     pq.write_table(pa.table({"y": [0, 1, 1], "x": [0.1, 0.2, 0.3]}), f"{d}/part-{i}.parquet")
    >>> ds = open_dataset(d, label_column="y", embedding_columns=["x"])
    >>> ds.n_partitions, ds.n_rows, next(ds.iter_batches(ds.partitions[1], batch_size=2)).n_rows
    (2, 6, 2)
    """
    root, files = _list_files(source)
    parts: list[Partition] = []
    names: tuple[str, ...] = ()
    seen: dict[int, str] = {}
    for i, f in enumerate(files):
        fmt = _FORMATS.get(f.suffix.lower())
        if fmt is None:
            raise InvalidParameterError(f"`source` files must end in .parquet, .pq, .jsonl, .ndjson or .json; got {str(f)!r}.")
        try:
            if fmt == "parquet":
                meta = pq.ParquetFile(f).metadata
                n, schema = meta.num_rows, meta.schema.to_arrow_schema()
            else:
                d = pds.dataset(str(f), format="json")
                n, schema = d.count_rows(), d.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"file {str(f)!r} could not be read as {fmt}: {exc}") from None
        if not names:
            names = tuple(schema.names)
        elif set(schema.names) != set(names):
            raise DataError(f"every file of a dataset must have the same columns; {str(f)!r} has {schema.names}, "
                            f"the first file has {list(names)}.")
        rel = os.path.relpath(str(f.resolve()), root)
        if id_column is None:
            h = _path_hash(rel)
            if h in seen:
                raise DataError(f"files {seen[h]!r} and {rel!r} get the same default row-id prefix; pass `id_column`.")
            seen[h] = rel
        st = f.stat()
        parts.append(Partition(i, str(f), rel, int(n), fmt, st.st_size, st.st_mtime_ns))
    if id_column is not None and id_column not in names:
        raise MissingColumnError(f"`id_column` of open_dataset must name a column; got {id_column!r}; columns are {list(names)}.")
    emb: tuple[str, ...] | str | None = (tuple(embedding_columns) if isinstance(embedding_columns, (list, tuple))
                                         else embedding_columns)  # type: ignore[assignment]
    return FileDataset(root, tuple(parts), id_column, label_column, group_column, text_column, emb, names)
