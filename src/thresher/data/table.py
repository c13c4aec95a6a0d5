"""Table: the one in-memory view of a dataset.

A ``Table`` holds, for ``n_rows`` rows keyed by a stable ``row_id``:

* 1-D columns: ``label``, ``group``, ``text``, ``score.<name>``, ``flag.<name>`` and any
  other per-row values;
* 2-D matrices with one row per example: ``embeddings`` (features), ``probs``
  (out-of-fold class probabilities), ``pixels`` (images, with ``meta["image_shape"]``).

It is immutable in spirit: ``with_column``/``with_matrix``/``take`` return new tables
that share unchanged arrays. It converts to and from Arrow (fixed-size list columns for
matrices, ``meta`` in the schema metadata), which is how it is written to Parquet. We
keep NumPy arrays as the working representation because every algorithm downstream is
NumPy/BLAS code; Arrow is the interchange format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from thresher._validation import check_finite, check_ids, check_labels, check_probs
from thresher.errors import (
    DataError,
    DuplicateIdError,
    EmptyTableError,
    LengthMismatchError,
    MissingColumnError,
    UnknownNameError,
)

__all__ = ["Table", "ROW_ID", "LABEL", "GROUP", "TEXT", "EMBEDDINGS", "PROBS", "PIXELS"]

ROW_ID = "row_id"
LABEL = "label"
GROUP = "group"
TEXT = "text"
EMBEDDINGS = "embeddings"
PROBS = "probs"
PIXELS = "pixels"

_META_KEY = b"thresher.meta"
_MATRIX_PREFIX = "matrix."


def _as_ids(row_id: Any, n: int) -> np.ndarray:
    ids = np.asarray(row_id)
    if ids.ndim != 1:
        raise DataError(f"`row_id` of Table must be 1-D; got shape {ids.shape}.")
    if ids.dtype.kind in "iu":
        ids = ids.astype(np.int64)
    elif ids.dtype.kind in "UO":
        check_ids(ids, "Table")  # a None id must not become the string 'None'
        ids = np.asarray([str(x) for x in ids], dtype=object)
    else:
        raise DataError(f"`row_id` of Table must hold integers or strings; got dtype {ids.dtype}.")
    if len(ids) != n:
        raise LengthMismatchError(f"`row_id` of Table must have {n} entries (one per row); got {len(ids)}.")
    return ids


class Table:
    """Hold a dataset's rows, their stable ids and every per-row signal and score.

    Parameters
    ----------
    row_id
        Stable identifiers (ints or strings), unique. Generated as ``0..n-1`` when omitted.
    columns
        1-D per-row arrays by name (``label``, ``group``, ``text``, ``score.*`` ...).
    matrices
        2-D per-row arrays by name (``embeddings``, ``probs``, ``pixels`` ...).
    meta
        JSON-serialisable facts about the dataset (``name``, ``image_shape``, ``class_names``).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 1, 1])}, matrices={"embeddings": np.eye(3)})
    >>> t.n_rows, t.row_id.tolist(), t.labels.tolist()
    (3, [0, 1, 2], [0, 1, 1])
    """

    def __init__(
        self,
        row_id: Any = None,
        *,
        columns: Mapping[str, Any] | None = None,
        matrices: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        columns = dict(columns or {})
        matrices = dict(matrices or {})
        n: int | None = None
        sizes: dict[str, int] = {}
        cols: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            if name == ROW_ID:
                raise DataError("`columns` of Table must not contain 'row_id'; pass it as `row_id`.")
            arr = np.asarray(values)
            if arr.dtype.kind == "U":
                arr = arr.astype(object)
            if arr.ndim != 1:
                raise DataError(f"column {name!r} of Table must be 1-D; got shape {arr.shape}.")
            cols[name] = arr
            sizes[name] = len(arr)
        mats: dict[str, np.ndarray] = {}
        for name, values in matrices.items():
            arr = np.asarray(values)
            if arr.ndim != 2:
                raise DataError(f"matrix {name!r} of Table must be 2-D (rows x features); got shape {arr.shape}.")
            if not np.issubdtype(arr.dtype, np.number):
                raise DataError(f"matrix {name!r} of Table must be numeric; got dtype {arr.dtype}.")
            if arr.shape[1] == 0:
                raise DataError(f"matrix {name!r} of Table must have at least one column; got shape {arr.shape}.")
            if np.issubdtype(arr.dtype, np.floating):
                check_finite(arr, name, "Table")
            mats[name] = arr
            sizes[name] = arr.shape[0]
        if row_id is not None:
            sizes[ROW_ID] = len(np.asarray(row_id))
        if sizes:
            distinct = set(sizes.values())
            if len(distinct) > 1:
                listed = ", ".join(f"{k}={v}" for k, v in sizes.items())
                raise LengthMismatchError(f"all columns of Table must have the same number of rows; got {listed}.")
            n = distinct.pop()
        else:
            n = 0
        ids = np.arange(n, dtype=np.int64) if row_id is None else _as_ids(row_id, n)
        if n and len(np.unique(ids)) != n:
            uniq, counts = np.unique(ids, return_counts=True)
            dups = uniq[counts > 1][:5].tolist()
            raise DuplicateIdError(f"`row_id` of Table must be unique; got duplicates such as {dups}.")
        self._row_id = ids
        self._columns = cols
        self._matrices = mats
        self.meta: dict[str, Any] = dict(meta or {})
        self._index: dict[Any, int] | None = None

    # ------------------------------------------------------------------ basics
    @property
    def n_rows(self) -> int:
        return int(len(self._row_id))

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        mats = ", ".join(f"{k}{v.shape}" for k, v in self._matrices.items())
        return f"Table(n_rows={self.n_rows}, columns={list(self._columns)}, matrices=[{mats}])"

    @property
    def row_id(self) -> np.ndarray:
        return self._row_id

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    @property
    def matrix_names(self) -> list[str]:
        return list(self._matrices)

    def has(self, name: str) -> bool:
        """Return whether ``name`` is a column, a matrix, or a role alias (``labels``...)."""
        name = _ALIASES.get(name, name)
        return name in self._columns or name in self._matrices

    def require(self, names: Iterable[str], owner: str) -> None:
        """Raise :class:`MissingColumnError` if any of ``names`` is absent."""
        names = list(names)
        missing = [n for n in names if not self.has(n)]
        if missing:
            have = ", ".join(sorted(self._columns.keys() | self._matrices.keys())) or "nothing"
            hints = [_HINTS[_ALIASES.get(m, m)] for m in missing if _ALIASES.get(m, m) in _HINTS]
            raise MissingColumnError(
                f"{owner} needs {', '.join(repr(m) for m in missing)} in the table; the table has {have}."
                + "".join(f" {h}" for h in hints)
            )
        wanted = {_ALIASES.get(n, n) for n in names}
        if LABEL in wanted:
            check_labels(self._columns[LABEL], owner)
        if PROBS in wanted:
            check_probs(self._matrices[PROBS], owner, self._columns[LABEL] if LABEL in wanted else None)

    def column(self, name: str) -> np.ndarray:
        """Return the 1-D column ``name``."""
        name = _ALIASES.get(name, name)
        try:
            return self._columns[name]
        except KeyError:
            known = ", ".join(self._columns) or "none"
            raise UnknownNameError(f"column {name!r} is not in the table; known columns: {known}.") from None

    def matrix(self, name: str) -> np.ndarray:
        """Return the 2-D matrix ``name``."""
        name = _ALIASES.get(name, name)
        try:
            return self._matrices[name]
        except KeyError:
            known = ", ".join(self._matrices) or "none"
            raise MissingColumnError(f"matrix {name!r} is not in the table; known matrices: {known}.") from None

    @property
    def embeddings(self) -> np.ndarray:
        """Return the embeddings (n_rows, d): float32 as stored (never copied), anything else as float64.

        Distances, kNN, k-center and Gram matrices run in float32 on float32 embeddings
        (with float64 accumulation where sums need it); other consumers cast as they need.
        """
        m = self.matrix(EMBEDDINGS)
        return m if m.dtype == np.float32 else np.asarray(m, dtype=np.float64)

    @property
    def probs(self) -> np.ndarray:
        return np.asarray(self.matrix(PROBS), dtype=np.float64)

    @property
    def labels(self) -> np.ndarray:
        return self.column(LABEL)

    @property
    def groups(self) -> np.ndarray:
        return self.column(GROUP)

    @property
    def text(self) -> np.ndarray:
        return self.column(TEXT)

    def score_names(self) -> list[str]:
        return [c for c in self._columns if c.startswith("score.")]

    # ----------------------------------------------------------------- deriving
    def with_column(self, name: str, values: Any) -> Table:
        """Return a new table with column ``name`` set to ``values``."""
        cols = dict(self._columns)
        cols[_ALIASES.get(name, name)] = values
        return Table(self._row_id, columns=cols, matrices=self._matrices, meta=self.meta)

    def with_columns(self, values: Mapping[str, Any]) -> Table:
        cols = dict(self._columns)
        cols.update({_ALIASES.get(k, k): v for k, v in values.items()})
        return Table(self._row_id, columns=cols, matrices=self._matrices, meta=self.meta)

    def with_matrix(self, name: str, values: Any) -> Table:
        mats = dict(self._matrices)
        mats[_ALIASES.get(name, name)] = values
        return Table(self._row_id, columns=self._columns, matrices=mats, meta=self.meta)

    def without(self, names: Iterable[str]) -> Table:
        drop = {_ALIASES.get(n, n) for n in names}
        return Table(
            self._row_id,
            columns={k: v for k, v in self._columns.items() if k not in drop},
            matrices={k: v for k, v in self._matrices.items() if k not in drop},
            meta=self.meta,
        )

    def take(self, indices: Any) -> Table:
        """Return the rows at positional ``indices`` (in that order)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        return Table(
            self._row_id[idx],
            columns={k: v[idx] for k, v in self._columns.items()},
            matrices={k: v[idx] for k, v in self._matrices.items()},
            meta=self.meta,
        )

    def positions(self, row_ids: Any) -> np.ndarray:
        """Return the positions of ``row_ids`` in this table; unknown ids raise."""
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self._row_id.tolist())}
        out = np.empty(len(row_ids), dtype=np.int64)
        for j, rid in enumerate(np.asarray(row_ids).tolist()):
            try:
                out[j] = self._index[rid]
            except KeyError:
                raise UnknownNameError(f"row id {rid!r} is not in the table.") from None
        return out

    def subset(self, row_ids: Any) -> Table:
        """Return the rows with the given ids (in the order given)."""
        return self.take(self.positions(row_ids))

    def check_not_empty(self, owner: str) -> None:
        if self.n_rows == 0:
            raise EmptyTableError(f"{owner} needs a table with at least one row; got an empty table.")

    # ------------------------------------------------------------------ arrow
    def to_arrow(self) -> pa.Table:
        """Convert to an Arrow table; matrices become fixed-size list columns ``matrix.<name>``."""
        arrays: list[pa.Array] = [pa.array(self._row_id.tolist() if self._row_id.dtype == object else self._row_id)]
        names = [ROW_ID]
        for k, v in self._columns.items():
            arrays.append(pa.array(v.tolist() if v.dtype == object else v))
            names.append(k)
        for k, v in self._matrices.items():
            flat = pa.array(np.ascontiguousarray(v).reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, v.shape[1]))
            names.append(_MATRIX_PREFIX + k)
        schema_meta = {_META_KEY: json.dumps(self.meta).encode()}
        return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(schema_meta)

    @classmethod
    def from_arrow(cls, at: pa.Table) -> Table:
        """Inverse of :meth:`to_arrow`."""
        meta: dict[str, Any] = {}
        if at.schema.metadata and _META_KEY in at.schema.metadata:
            meta = json.loads(at.schema.metadata[_META_KEY])
        cols: dict[str, np.ndarray] = {}
        mats: dict[str, np.ndarray] = {}
        row_id = None
        for name in at.column_names:
            col = at.column(name).combine_chunks()
            if name.startswith(_MATRIX_PREFIX):
                width = col.type.list_size
                flat = col.flatten().to_numpy(zero_copy_only=False)
                mats[name[len(_MATRIX_PREFIX) :]] = flat.reshape(len(col), width)
            elif name == ROW_ID:
                row_id = col.to_numpy(zero_copy_only=False)
            else:
                cols[name] = col.to_numpy(zero_copy_only=False)
        return cls(row_id, columns=cols, matrices=mats, meta=meta)

    def to_pandas(self) -> Any:
        """Return a pandas DataFrame of the 1-D columns indexed by ``row_id``."""
        import pandas as pd

        df = pd.DataFrame({k: v for k, v in self._columns.items()})
        df.index = pd.Index(self._row_id, name=ROW_ID)
        return df


_ALIASES = {"labels": LABEL, "groups": GROUP, "features": EMBEDDINGS}
_HINTS = {
    PROBS: "Out-of-fold probabilities come from the `probs` signal: add [[signals]] name = \"probs\" to the "
    "recipe (the pipeline and `thresher score` compute it when a scorer needs it), or attach a `probs` matrix.",
    EMBEDDINGS: "Name the feature columns with `--embedding-columns` (or `embedding_columns` in [data]).",
    LABEL: "Name the label column with `--label-column` (or `label_column` in [data]).",
}

