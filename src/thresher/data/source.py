"""Bring your own data: one description of where the rows are and which column is what.

A :class:`DataSpec` is filled in the same way by a recipe's ``[data]`` section, by the
command line's data options (``--data``, ``--label-column``, ``--embedding-columns`` ...)
and by the API; :func:`read_data` turns it into one :class:`~thresher.data.table.Table`
that always has the conventional columns:

* ``embeddings``: the feature matrix, taken from a list/array column, from a list of
  numeric columns, from a prefix (``"x*"``), or, when nothing is named, from every
  numeric column that has no other role;
* ``label``, ``group``, ``text``: renamed from the columns named for them;
* ``split`` (``"train"``/``"test"``): taken from the file, from a separate test file, or
  made here, stratified by label (recorded in :attr:`LoadedData.provenance`, which the
  run directory's manifest keeps).

Features are used as they are unless ``standardize`` is set (z-scores fitted on the
training rows only, so no test statistics leak into training).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thresher.data.io import read_table
from thresher.data.table import EMBEDDINGS, GROUP, LABEL, ROW_ID, TEXT, Table
from thresher.errors import DataError, InvalidParameterError, MissingColumnError

__all__ = ["DataSpec", "LoadedData", "read_data", "SPLIT"]

log = logging.getLogger(__name__)

SPLIT = "split"
_ROLE_NAMES = {LABEL, GROUP, TEXT, SPLIT, ROW_ID}


@dataclass(frozen=True)
class DataSpec:
    """Where the rows come from and which column plays which role.

    Exactly one of ``dataset`` (a built-in dataset name) and ``path`` (a Parquet, CSV,
    JSONL or ``.npz`` file) is given. The ``*_column`` fields name the columns of a file;
    ``embedding_columns`` is one column of vectors, a list of numeric columns (or the
    same list comma-separated), or a prefix ending in ``*``. ``split_column`` names a
    column of ``"train"``/``"test"`` values (default: ``split`` when the file has one);
    without one, ``test_path`` supplies the test rows, and without that a stratified
    split holding out ``test_fraction`` of the rows is made with ``split_seed``.

    Examples
    --------
    >>> DataSpec.from_dict({"path": "rows.csv", "label_column": "y"}, base_dir="/data").path
    '/data/rows.csv'
    >>> DataSpec.from_dict({"paht": "rows.csv"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    thresher.errors.InvalidParameterError: `[data]` keys must be among ['dataset', 'path', ...]; got unknown ['paht'].
    """

    dataset: str | None = None
    path: str | None = None
    test_path: str | None = None
    format: str | None = None
    id_column: str | None = None
    label_column: str | None = None
    group_column: str | None = None
    text_column: str | None = None
    embedding_columns: str | list[str] | None = None
    split_column: str | None = None
    standardize: bool = False
    test_fraction: float = 0.25
    split_seed: int = 0
    n_train: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def keys(cls) -> list[str]:
        """Return the keys a recipe's ``[data]`` section may hold."""
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None, where: str = "[data]"
    ) -> DataSpec:
        """Build a spec from a mapping, rejecting unknown keys; resolve paths against ``base_dir``.

        ``base_dir`` is the folder of the recipe file, so ``path = "rows.csv"`` in a recipe
        means the file next to the recipe, wherever the command is run from.
        """
        known = cls.keys()
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise InvalidParameterError(f"`{where}` keys must be among {known}; got unknown {unknown}.")
        kw = dict(d)
        for key in ("path", "test_path"):
            if kw.get(key) is not None:
                p = Path(str(kw[key])).expanduser()
                if base_dir is not None and not p.is_absolute():
                    p = Path(base_dir) / p
                kw[key] = str(p)
        spec = cls(**kw)
        spec.check()
        return spec

    @classmethod
    def from_source(cls, source: str, **kw: Any) -> DataSpec:
        """Return a spec for ``source``: a built-in dataset name, else a file path."""
        from thresher.data.datasets import DATASETS

        kw = {k: v for k, v in kw.items() if v is not None}
        spec = cls(dataset=source, **kw) if source in DATASETS else cls(path=source, **kw)
        spec.check()
        return spec

    def check(self) -> None:
        """Raise :class:`InvalidParameterError` when the fields contradict each other."""
        if (self.dataset is None) == (self.path is None):
            raise InvalidParameterError(
                f"`[data]` must give exactly one of `dataset` and `path`; got dataset={self.dataset!r}, path={self.path!r}."
            )
        if not 0.0 < float(self.test_fraction) < 1.0:
            raise InvalidParameterError(f"`test_fraction` of [data] must be in (0, 1); got {self.test_fraction!r}.")
        if self.n_train is not None and self.dataset is None:
            raise InvalidParameterError("`n_train` of [data] applies to built-in datasets only; got it with `path`.")

    def to_dict(self) -> dict[str, Any]:
        """Return the fields that differ from their defaults (what a recipe would write)."""
        default = DataSpec(dataset="-")
        return {
            k: getattr(self, k)
            for k in self.keys()
            if getattr(self, k) != getattr(default, k) or k == "dataset" and self.dataset is not None
        }

    @property
    def name(self) -> str:
        """A short name for reports: the dataset name or the file's stem."""
        return self.dataset if self.dataset is not None else Path(str(self.path)).stem


@dataclass(frozen=True)
class LoadedData:
    """Every row of the input in one table (with a ``split`` column when labelled) and how it was made."""

    table: Table
    spec: DataSpec
    provenance: dict[str, Any]

    @property
    def train(self) -> Table:
        """Return the rows with ``split == "train"`` (all rows when there is no split)."""
        if not self.table.has(SPLIT):
            return self.table
        return self.table.take(np.asarray(self.table.column(SPLIT)).astype(str) == "train")

    @property
    def test(self) -> Table:
        """Return the rows with ``split == "test"`` (none when there is no split)."""
        if not self.table.has(SPLIT):
            return self.table.take(np.zeros(0, dtype=np.int64))
        return self.table.take(np.asarray(self.table.column(SPLIT)).astype(str) == "test")


def read_data(spec: DataSpec | Mapping[str, Any] | str, **overrides: Any) -> LoadedData:
    """Read the rows ``spec`` describes into one table with conventional column names.

    ``spec`` is a :class:`DataSpec`, a ``[data]`` mapping, or a dataset name / file path
    (then ``overrides`` are the other fields).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> pd.DataFrame({"a": range(8), "b": [10.0 * i for i in range(8)], "kind": list("xyxyxyxy")}).to_csv(p, index=False)
    >>> d = read_data(str(p), label_column="kind", standardize=True)
    >>> d.table.embeddings.shape, sorted(set(d.table.column("split"))), d.provenance["features"]["columns"]
    ((8, 2), ['test', 'train'], ['a', 'b'])
    >>> round(float(d.train.embeddings.mean()), 12), d.provenance["split"]["how"]
    (0.0, 'made')
    """
    if isinstance(spec, str):
        spec = DataSpec.from_source(spec, **overrides)
    elif isinstance(spec, Mapping):
        spec = DataSpec.from_dict({**spec, **overrides})
    elif overrides:
        spec = dataclasses.replace(spec, **overrides)
    spec.check()
    provenance: dict[str, Any] = {"source": spec.dataset or spec.path}
    if spec.dataset is not None:
        from thresher.data.datasets import load_dataset

        table = load_dataset(spec.dataset, **({"n_train": spec.n_train} if spec.n_train is not None else {}))
        provenance["features"] = {"from": f"built-in dataset {spec.dataset!r}"}
    else:
        table = _read_file(str(spec.path), spec)
        table, provenance["features"] = _features(table, spec)
        if spec.test_path is not None:
            test, _ = _features(_read_file(spec.test_path, spec), spec)
            table = _concat(table.with_column(SPLIT, _fill(table, "train")), test.with_column(SPLIT, _fill(test, "test")))
    table, provenance["split"] = _split(table, spec)
    if spec.standardize:
        table, provenance["standardize"] = _standardize(table)
    return LoadedData(table, spec, provenance)


def _read_file(path: str, spec: DataSpec) -> Table:
    table = read_table(
        path,
        format=spec.format,
        id_column=spec.id_column,
        label_column=spec.label_column,
        group_column=spec.group_column,
        text_column=spec.text_column,
        embedding_columns=spec.embedding_columns,
    )
    split_col = spec.split_column
    if split_col is not None and split_col != SPLIT:
        if not table.has(split_col):
            raise MissingColumnError(
                f"`split_column` of [data] must name a column of {path!r}; got {split_col!r}; columns are {table.column_names}."
            )
        values = table.column(split_col)
        table = table.without([split_col]).with_column(SPLIT, values)
    return table


def _features(table: Table, spec: DataSpec) -> tuple[Table, dict[str, Any]]:
    """Take every numeric column without another role as features when none were named."""
    if table.has(EMBEDDINGS):
        how = "named columns" if spec.embedding_columns is not None else "the 'embeddings' column"
        return table, {"from": how, "n_features": int(table.matrix(EMBEDDINGS).shape[1])}
    candidates = [
        c
        for c in table.column_names
        if c not in _ROLE_NAMES
        and c != spec.split_column
        and not c.startswith(("score.", "flag.", "stderr."))
        and np.issubdtype(table.column(c).dtype, np.number)
        and table.column(c).dtype != bool
    ]
    if not candidates:
        return table, {"from": "none (no numeric columns)"}
    X = np.column_stack([table.column(c).astype(np.float64) for c in candidates])
    log.info("features: %d numeric columns without another role (%s)", len(candidates), ", ".join(candidates))
    return table.without(candidates).with_matrix(EMBEDDINGS, X), {"from": "numeric columns", "columns": candidates}


def _fill(table: Table, value: str) -> np.ndarray:
    return np.full(table.n_rows, value, dtype=object)


def _concat(train: Table, test: Table) -> Table:
    """Stack train and test tables; ids generated for both files are made distinct."""
    cols = [c for c in train.column_names if c in test.column_names]
    mats = [m for m in train.matrix_names if m in test.matrix_names]
    dropped = sorted((set(train.column_names) ^ set(test.column_names)) | (set(train.matrix_names) ^ set(test.matrix_names)))
    if dropped:
        log.warning("columns present in only one of the train and test files are dropped: %s", dropped)
    ids_a, ids_b = train.row_id, test.row_id
    if ids_a.dtype != object and ids_b.dtype != object and np.array_equal(ids_b, np.arange(test.n_rows)):
        ids_b = ids_b + (int(ids_a.max()) + 1 if len(ids_a) else 0)
    elif ids_a.dtype != ids_b.dtype:
        ids_a, ids_b = ids_a.astype(str).astype(object), ids_b.astype(str).astype(object)
    return Table(
        np.concatenate([ids_a, ids_b]),
        columns={c: np.concatenate([train.column(c), test.column(c)]) for c in cols},
        matrices={m: np.concatenate([train.matrix(m), test.matrix(m)]) for m in mats},
        meta=train.meta,
    )


def _split(table: Table, spec: DataSpec) -> tuple[Table, dict[str, Any]]:
    if table.has(SPLIT):
        values = np.asarray(table.column(SPLIT)).astype(str).astype(object)
        if not np.any(values == "train"):
            raise DataError(
                f"the `split` column must mark training rows with 'train'; got values {sorted(set(values.tolist()))[:10]}."
            )
        how = "test file" if spec.test_path is not None else "column"
        info = {"how": how, "n_train": int(np.sum(values == "train")), "n_test": int(np.sum(values == "test"))}
        return table.with_column(SPLIT, values), info
    if not table.has(LABEL):
        return table, {"how": "none (no label column)"}
    from sklearn.model_selection import train_test_split

    y = np.asarray(table.labels)
    _, counts = np.unique(y.astype(str), return_counts=True)
    n_test = int(np.ceil(spec.test_fraction * table.n_rows))
    stratified = bool(counts.min() >= 2 and len(counts) <= n_test <= table.n_rows - len(counts))
    _, test_idx = train_test_split(
        np.arange(table.n_rows),
        test_size=spec.test_fraction,
        stratify=y.astype(str) if stratified else None,
        random_state=spec.split_seed,
    )
    split = _fill(table, "train")
    split[test_idx] = "test"
    info = {
        "how": "made",
        "method": "stratified by label" if stratified else "uniform (a class has fewer than 2 rows)",
        "test_fraction": float(spec.test_fraction),
        "seed": int(spec.split_seed),
        "n_train": int(np.sum(split == "train")),
        "n_test": int(len(test_idx)),
    }
    log.info("no split column: made a %s split holding out %d rows", info["method"], len(test_idx))
    return table.with_column(SPLIT, split), info


def _standardize(table: Table) -> tuple[Table, dict[str, Any]]:
    """Z-score the features with means and deviations of the training rows only."""
    if not table.has(EMBEDDINGS):
        raise MissingColumnError("`standardize` of [data] needs features (`embeddings`); the data has none.")
    X = np.asarray(table.matrix(EMBEDDINGS), dtype=np.float64)
    train = np.asarray(table.column(SPLIT)).astype(str) == "train" if table.has(SPLIT) else np.ones(len(X), bool)
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std == 0] = 1.0  # constant features stay constant (zero) instead of dividing by zero
    return table.with_matrix(EMBEDDINGS, (X - mean) / std), {"fit_on": "train rows", "n_rows": int(train.sum())}
