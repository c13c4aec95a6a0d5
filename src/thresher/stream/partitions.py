"""Partitioned outputs with a completion marker per partition (the datatrove idea).

Layout of one output ``<out>/<name>/``::

    part-00012.parquet        row_id + the output columns of partition 12
    _done/part-00012.json     its completion marker: the key that produced it, rows, columns

A partition counts as done only when its marker exists *and* holds the same key as the
work now asked for (the key covers the partition's content and every parameter), so a
killed job resumes by skipping finished partitions, a re-run with the same inputs is a
no-op, and a changed parameter recomputes. Both files are written atomically, the
marker last.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq

from thresher.errors import RunDirError
from thresher.store.atomic import atomic_path, write_json

__all__ = ["PartitionStore", "work_key"]


def work_key(*parts: Any) -> str:
    """Return a SHA-256 over JSON-encoded ``parts`` (sorted keys; unknown objects by ``repr``).

    Examples
    --------
    >>> work_key("a", {"k": 1}) == work_key("a", {"k": 1}), work_key("a") == work_key("b")
    (True, False)
    """
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class PartitionStore:
    """Read and write the partitioned output ``<out>/<name>``.

    Examples
    --------
    >>> import tempfile, pyarrow as pa
    >>> st = PartitionStore(tempfile.mkdtemp(), "scores")
    >>> st.is_done(0, "k1")
    False
    >>> st.write(0, pa.table({"row_id": [1, 2], "score.x": [0.5, 0.25]}), "k1")
    >>> st.is_done(0, "k1"), st.is_done(0, "k2"), st.read().num_rows
    (True, False, 2)
    """

    def __init__(self, out: str | Path, name: str) -> None:
        self.dir = Path(out) / name
        if self.dir.exists() and not self.dir.is_dir():
            raise RunDirError(f"`out` must be a directory; {str(self.dir)!r} is a file.")

    def part_path(self, index: int) -> Path:
        return self.dir / f"part-{index:05d}.parquet"

    def marker_path(self, index: int) -> Path:
        return self.dir / "_done" / f"part-{index:05d}.json"

    def marker(self, index: int) -> dict[str, Any] | None:
        p = self.marker_path(index)
        if not p.exists():
            return None
        try:
            return dict(json.loads(p.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            return None  # a marker that cannot be read does not count as done

    def is_done(self, index: int, key: str) -> bool:
        m = self.marker(index)
        return m is not None and m.get("key") == key and self.part_path(index).exists()

    def write(self, index: int, table: pa.Table, key: str, info: dict[str, Any] | None = None) -> None:
        """Write partition ``index`` and then its marker, both atomically."""
        with atomic_path(self.part_path(index)) as tmp:
            pq.write_table(table, tmp)
        write_json(self.marker_path(index), {"key": key, "n_rows": table.num_rows, "columns": table.column_names,
                                              **(info or {})})

    def done_indices(self) -> list[int]:
        d = self.dir / "_done"
        return sorted(int(p.stem.split("-")[1]) for p in d.glob("part-*.json")) if d.exists() else []

    def read(self, indices: list[int] | None = None, columns: list[str] | None = None) -> pa.Table:
        """Return the finished partitions (all, or ``indices``) as one Arrow table, in partition order."""
        idx = self.done_indices() if indices is None else indices
        files = [str(self.part_path(i)) for i in idx if self.part_path(i).exists()]
        if not files:
            raise RunDirError(f"no finished partitions under {str(self.dir)!r}; run the streaming step first.")
        return pds.dataset(files, format="parquet").to_table(columns=columns)
