"""Readers and writers: Parquet, JSONL, CSV, NumPy arrays and pandas DataFrames.

Every reader ends in the same place, :func:`from_pandas` or the :class:`Table`
constructor, so the same column roles and the same checks apply to every format.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from thresher.data.table import EMBEDDINGS, GROUP, LABEL, TEXT, Table
from thresher.errors import DataError, InvalidParameterError, MissingColumnError
from thresher._validation import check_labels
from thresher.store.atomic import atomic_path

__all__ = ["from_numpy", "from_pandas", "read_table", "write_table"]

_FORMATS = ("parquet", "jsonl", "csv", "npz")


def from_numpy(
    X: Any = None,
    y: Any = None,
    *,
    groups: Any = None,
    ids: Any = None,
    text: Any = None,
    meta: dict[str, Any] | None = None,
) -> Table:
    """Build a table from arrays: ``X`` embeddings (n, d), ``y`` labels, ``groups``, ``ids``.

    Examples
    --------
    >>> import numpy as np
    >>> from_numpy(np.zeros((4, 2)), np.array([0, 1, 0, 1])).n_rows
    4
    """
    cols: dict[str, Any] = {}
    mats: dict[str, Any] = {}
    if X is not None:
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"`X` of from_numpy must be a 2-D array (rows x features); got shape {X.shape}.")
        mats[EMBEDDINGS] = X
    if y is not None:
        cols[LABEL] = np.asarray(y)
        check_labels(cols[LABEL], "from_numpy")
    if groups is not None:
        cols[GROUP] = np.asarray(groups)
    if text is not None:
        cols[TEXT] = np.asarray(text, dtype=object)
    return Table(ids, columns=cols, matrices=mats, meta=meta)


def from_pandas(
    df: Any,
    *,
    id_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    text_column: str | None = None,
    embedding_columns: Sequence[str] | str | None = None,
    meta: dict[str, Any] | None = None,
) -> Table:
    """Build a table from a pandas DataFrame, naming which columns play which role.

    ``embedding_columns`` is either a list of numeric columns (stacked into the
    embedding matrix, in the order given; a comma-separated string ``"a,b,c"`` is the
    same list), a prefix ending in ``*`` (``"x*"`` takes every column starting with
    ``x``, in file order), or one column holding a list/array per row. Columns not given
    a role are kept as plain 1-D columns (``score.*``/``flag.*`` columns included).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "y": [0, 1], "f0": [0.1, 0.2], "f1": [1.0, 2.0]})
    >>> t = from_pandas(df, id_column="id", label_column="y", embedding_columns="f*")
    >>> t.row_id.tolist(), t.embeddings.shape
    (['a', 'b'], (2, 2))
    """
    names = [str(c) for c in df.columns]

    def need(col: str | None, param: str) -> None:
        if col is not None and col not in names:
            raise MissingColumnError(
                f"`{param}` of from_pandas must name a column of the data; got {col!r}; columns are {names}."
            )

    for col, param in (
        (id_column, "id_column"),
        (label_column, "label_column"),
        (group_column, "group_column"),
        (text_column, "text_column"),
    ):
        need(col, param)
    cols: dict[str, Any] = {}
    mats: dict[str, Any] = {}
    used: set[str] = set()
    if isinstance(embedding_columns, str) and "," in embedding_columns:
        embedding_columns = [c.strip() for c in embedding_columns.split(",") if c.strip()]
    if embedding_columns is not None:
        if isinstance(embedding_columns, str) and embedding_columns.endswith("*"):
            prefix = embedding_columns[:-1]
            emb_cols = [c for c in names if c.startswith(prefix)]
            if not emb_cols:
                raise MissingColumnError(
                    f"`embedding_columns` of from_pandas matched no column with prefix {prefix!r}; columns are {names}."
                )
        elif isinstance(embedding_columns, str):
            need(embedding_columns, "embedding_columns")
            emb_cols = [embedding_columns]
        else:
            emb_cols = list(embedding_columns)
            for c in emb_cols:
                need(c, "embedding_columns")
        if len(emb_cols) == 1 and df[emb_cols[0]].dtype == object:
            try:
                mats[EMBEDDINGS] = np.stack([np.asarray(v, dtype=np.float64) for v in df[emb_cols[0]]])
            except ValueError as exc:
                raise DataError(
                    f"column {emb_cols[0]!r} must hold equal-length numeric vectors to be embeddings; {exc}."
                ) from None
        else:
            mats[EMBEDDINGS] = df[emb_cols].to_numpy(dtype=np.float64)
        used.update(emb_cols)
    for col, role in ((label_column, LABEL), (group_column, GROUP), (text_column, TEXT)):
        if col is not None:
            cols[role] = df[col].to_numpy()
            used.add(col)
    if label_column is not None:
        check_labels(cols[LABEL], "from_pandas", f" of column {label_column!r}")
    ids = None
    if id_column is not None:
        ids = df[id_column].to_numpy()
        used.add(id_column)
    for c in names:
        if c in used:
            continue
        values = df[c]
        if values.dtype == object and len(values) and isinstance(values.iloc[0], (list, np.ndarray)):
            mats[c] = np.stack([np.asarray(v) for v in values])
        else:
            cols[c] = values.to_numpy()
    return Table(ids, columns=cols, matrices=mats, meta=meta)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in _FORMATS:
            raise InvalidParameterError(f"`format` must be one of {', '.join(_FORMATS)}; got {fmt!r}.")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    mapping = {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "npz": "npz"}
    if suffix not in mapping:
        raise InvalidParameterError(
            f"`path` must end in .parquet, .jsonl, .csv or .npz (or pass `format`); got {str(path)!r}."
        )
    return mapping[suffix]


def read_table(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    id_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    text_column: str | None = None,
    embedding_columns: Sequence[str] | str | None = None,
) -> Table:
    """Read a table from Parquet, JSONL, CSV or ``.npz`` (arrays ``X``, ``y``, ``groups``, ``ids``).

    A Parquet file written by :func:`write_table` round-trips exactly (its roles are
    stored in the file); for other files name the roles with the ``*_column`` arguments.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"`path` of read_table must be an existing file; got {str(p)!r}, which does not exist.")
    fmt = _format_of(p, format)
    roles: dict[str, Any] = dict(
        id_column=id_column,
        label_column=label_column,
        group_column=group_column,
        text_column=text_column,
        embedding_columns=embedding_columns,
    )
    try:
        return _read(p, fmt, roles)
    except DataError as exc:  # name the file in every data error (missing ids, labels...)
        if str(p) in str(exc):
            raise
        raise type(exc)(f"in file {str(p)!r}: {exc}") from None


def _read(p: Path, fmt: str, roles: dict[str, Any]) -> Table:
    import pyarrow as pa

    if fmt == "npz":
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"`path` must be a readable .npz file; {str(p)!r} is not: {exc}.") from None
        with z:
            get = lambda k: z[k] if k in z.files else None  # noqa: E731
            return from_numpy(get("X"), get("y"), groups=get("groups"), ids=get("ids"))
    if fmt == "parquet":
        try:
            at = pq.read_table(p)
        except (pa.ArrowInvalid, OSError) as exc:
            reason = str(exc).split(": ", 1)[-1] if "Could not open" in str(exc) else str(exc)
            raise DataError(
                f"`path` must be a readable Parquet file; {str(p)!r} is empty, truncated or not Parquet ({reason})."
            ) from None
        if at.num_rows == 0:
            from thresher.errors import EmptyTableError

            raise EmptyTableError(f"file {str(p)!r} holds no rows; `path` must name a file with at least one row.")
        if at.schema.metadata and b"thresher.meta" in at.schema.metadata and all(v is None for v in roles.values()):
            return Table.from_arrow(at)
        df = at.to_pandas()
    elif fmt == "jsonl":
        import pandas as pd

        try:
            df = pd.read_json(p, lines=True)
        except ValueError as exc:
            raise DataError(f"file {str(p)!r} is not valid JSON Lines: {exc}") from None
    else:
        import pandas as pd

        try:
            df = pd.read_csv(p)
        except pd.errors.EmptyDataError:
            from thresher.errors import EmptyTableError

            raise EmptyTableError(f"file {str(p)!r} is empty (no header, no rows); `path` must name a CSV file with rows.") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"`path` must be a well-formed CSV file; {str(p)!r} is not: {exc}.") from None
    if len(df) == 0:
        from thresher.errors import EmptyTableError

        raise EmptyTableError(f"file {str(p)!r} holds no rows.")
    return from_pandas(df, **roles)


def write_table(table: Table, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    """Write ``table`` atomically; Parquet keeps every column, matrix and the metadata."""
    p = Path(path)
    fmt = _format_of(p, format)
    with atomic_path(p) as tmp:
        if fmt == "parquet":
            pq.write_table(table.to_arrow(), tmp)
        elif fmt == "npz":
            arrays: dict[str, Any] = {"ids": table.row_id}
            if table.has(EMBEDDINGS):
                arrays["X"] = table.matrix(EMBEDDINGS)
            if table.has(LABEL):
                arrays["y"] = table.labels
            if table.has(GROUP):
                arrays["groups"] = table.groups
            # object arrays would need pickle to load; store strings as fixed-width unicode
            arrays = {k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        else:
            df = table.to_pandas().reset_index()
            if table.has(EMBEDDINGS):
                emb = table.matrix(EMBEDDINGS)
                if fmt == "csv":
                    for j in range(emb.shape[1]):
                        df[f"emb_{j}"] = emb[:, j]
                else:
                    df[EMBEDDINGS] = list(emb)
            if fmt == "csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_json(tmp, orient="records", lines=True, double_precision=15)
    return p


