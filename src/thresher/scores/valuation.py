"""What the data-valuation scorers share: the validation set they value against and the model they fit.

The valuation family is one file per method: :mod:`~thresher.scores.knn_shapley`
(exact KNN-Shapley), :mod:`~thresher.scores.data_oob` (Data-OOB),
:mod:`~thresher.scores.loo` (leave-one-out), :mod:`~thresher.scores.shapley`
(TMC- and Beta-Shapley) and :mod:`~thresher.scores.banzhaf` (Data Banzhaf), the last
three built on the estimator of :mod:`~thresher.scores.semivalues`. This module is the
layer below them all.

How the validation set reaches a scorer: the ``valid`` parameter is either a
:class:`~thresher.data.Table` (the target set; the scored table is the training set) or
the name of a value of the table's ``split`` column (e.g. ``"valid"``): rows with that
split value form the validation set and get NaN, every other row is valued. ``valid=None``
(KNN-Shapley only) values every row against all the others (each row is a test point
for the rest, leaving itself out), which needs no held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._typing import as_generator
from thresher._validation import fail
from thresher.data.table import Table
from thresher.errors import DataError

__all__ = [
    "ValidSplit",
    "resolve_valid",
    "scatter_values",
    "resolve_estimator",
    "valuation_conformance_table",
]


# --------------------------------------------------------------------------- validation set
@dataclass(frozen=True)
class ValidSplit:
    """Where the training rows of a table are, and the validation set they are valued against."""

    train_positions: np.ndarray  # positions (in the scored table) of the rows that get values
    X_valid: np.ndarray | None  # None: leave-one-out self-valuation
    y_valid: np.ndarray | None


def resolve_valid(table: Table, valid: Table | str | None, owner: str, *, allow_none: bool = True) -> ValidSplit:
    """Split ``table`` into valued rows and a validation set according to ``valid``.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 1, 0]), "split": np.array(["train", "valid", "train"])},
    ...           matrices={"embeddings": np.eye(3)})
    >>> vs = resolve_valid(t, "valid", "demo")
    >>> vs.train_positions.tolist(), vs.y_valid.tolist()
    ([0, 2], [1])
    """
    if valid is None:
        if not allow_none:
            raise fail("valid", owner, "a Table or the name of a `split` value", valid)
        return ValidSplit(np.arange(table.n_rows), None, None)
    if isinstance(valid, Table):
        valid.check_not_empty(owner)
        valid.require(["embeddings", "label"], owner)
        X_valid = valid.embeddings
        if X_valid.shape[1] != table.embeddings.shape[1]:
            raise fail("valid", owner, f"a Table with {table.embeddings.shape[1]}-d embeddings", f"{X_valid.shape[1]}-d")
        return ValidSplit(np.arange(table.n_rows), X_valid, np.asarray(valid.labels))
    if isinstance(valid, str):
        table.require(["split"], owner)
        split = np.asarray(table.column("split")).astype(str)
        is_valid = split == valid
        if not is_valid.any():
            values = sorted(set(split.tolist()))
            raise fail("valid", owner, f"a value of the `split` column ({', '.join(map(repr, values))})", valid)
        if is_valid.all():
            raise DataError(f"{owner} needs training rows besides the split {valid!r}; every row is in it.")
        vpos = np.flatnonzero(is_valid)
        return ValidSplit(np.flatnonzero(~is_valid), table.embeddings[vpos], np.asarray(table.labels)[vpos])
    raise fail("valid", owner, "None, a Table or a split name", type(valid).__name__)



def scatter_values(table: Table, split: ValidSplit, values: np.ndarray) -> np.ndarray:
    """Return ``values`` of the valued rows placed at their positions in ``table``; NaN elsewhere.

    Examples
    --------
    >>> t = Table(columns={"x": np.zeros(3)})
    >>> scatter_values(t, ValidSplit(np.array([0, 2]), None, None), np.array([1.0, 2.0])).tolist()
    [1.0, nan, 2.0]
    """
    out = np.full(table.n_rows, np.nan)
    out[split.train_positions] = values
    return out


# --------------------------------------------------------------------------- estimators
def resolve_estimator(estimator: Any, owner: str, default: str) -> Any:
    """Return a scikit-learn classifier: an estimator as given, or one named by a short string.

    Names (handy from the CLI): ``"logreg"`` (scaled logistic regression), ``"tree"``
    (decision tree), ``"knn"`` (5-nearest-neighbour classifier).

    Examples
    --------
    >>> type(resolve_estimator("tree", "demo", "logreg")).__name__
    'DecisionTreeClassifier'
    """
    if estimator is None:
        estimator = default
    if isinstance(estimator, str):
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.tree import DecisionTreeClassifier

        from thresher.signals.oof import default_estimator

        makers = {"logreg": default_estimator, "tree": DecisionTreeClassifier, "knn": KNeighborsClassifier}
        if estimator not in makers:
            raise fail("estimator", owner, "a scikit-learn classifier or one of 'logreg', 'tree', 'knn'", estimator)
        return makers[estimator]()
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise fail("estimator", owner, "a scikit-learn classifier (with fit and predict)", type(estimator).__name__)
    return estimator



def valuation_conformance_table(n: int = 40, seed: int = 0) -> Table:
    """Return a small 3-class table with a ``split`` column (``train``/``valid``) for conformance tests."""
    rng = as_generator(seed)
    labels = np.arange(n) % 3
    centers = rng.normal(scale=3.0, size=(3, 4))
    X = centers[labels] + rng.normal(size=(n, 4))
    split = np.where(np.arange(n) % 4 == 0, "valid", "train").astype(object)
    return Table(np.arange(500, 500 + n), columns={"label": labels, "split": split}, matrices={"embeddings": X})
