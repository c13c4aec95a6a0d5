"""Out-of-fold predicted probabilities: the signal behind uncertainty and label-issue scores.

Each row's probabilities come from a model that never saw that row: the rows are split
into K stratified folds and, for each fold, a clone of the estimator is fitted on the
other K-1 folds. Folds are shards, so the K fits run through any Executor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dataclasses import dataclass, field

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed, seed_int
from thresher._validation import check_int, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.execute.base import Executor, LocalExecutor, Shard, spawn_seeds

__all__ = ["out_of_fold_probs", "label_codes", "default_estimator", "OutOfFoldProbs", "SignalResult"]


def default_estimator() -> Any:
    """Return the default classifier: standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def label_codes(table: Table, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (codes 0..C-1 per row, class values) for the table's labels.

    When the table has ``meta["classes"]`` (set alongside ``probs``), codes index those
    classes, so probability columns and label codes always agree.
    """
    table.require(["label"], owner)
    y = table.labels
    if "classes" in table.meta:
        classes = np.asarray(table.meta["classes"])
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        try:
            codes = np.array([lookup[v] for v in y.tolist()], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"label {exc.args[0]!r} of {owner} is not one of the classes {classes.tolist()}.") from None
        return codes, classes
    classes, codes = np.unique(y, return_inverse=True)
    return codes.astype(np.int64), classes


@follows_threads  # BLAS threads of every fold's fit follow the `threads` setting
def out_of_fold_probs(
    table: Table,
    estimator: Any = None,
    *,
    n_splits: int = 5,
    seed: Seed = 0,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return out-of-fold class probabilities (n_rows, n_classes) and the class values.

    Parameters
    ----------
    table
        Needs ``embeddings`` (features) and ``label``.
    estimator
        Any scikit-learn classifier with ``predict_proba`` (cloned per fold).
    n_splits
        Number of stratified folds.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits
    >>> t = load_digits().take(range(300))
    >>> P, classes = out_of_fold_probs(t, n_splits=3, seed=0)
    >>> P.shape, bool(abs(P.sum(axis=1) - 1).max() < 1e-9)
    ((300, 10), True)
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    owner = "out_of_fold_probs"
    table.check_not_empty(owner)
    table.require(["embeddings", "label"], owner)
    check_int(n_splits, "n_splits", owner, low=2)
    X = table.embeddings
    codes, classes = label_codes(table, owner)
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < n_splits:
        raise fail("n_splits", owner, f"at most the size of the smallest class ({counts.min()})", n_splits)
    est = default_estimator() if estimator is None else estimator
    if not hasattr(est, "predict_proba"):
        raise fail("estimator", owner, "a classifier with predict_proba", type(est).__name__)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed_int(seed) if seed is not None else None)
    folds = [test for _, test in skf.split(X, codes)]
    seeds = spawn_seeds(seed, n_splits)
    shards = [Shard(i, i, i + 1, seeds[i]) for i in range(n_splits)]

    def fit_fold(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        test = folds[shard.index]
        train = np.setdiff1d(np.arange(len(codes)), test)
        model = clone(est)
        _set_random_state(model, int(shard.seed.generate_state(1)[0]))
        model.fit(X[train], codes[train])
        p = model.predict_proba(X[test])
        full = np.zeros((len(test), len(classes)))
        full[:, np.asarray(model.classes_, dtype=np.int64)] = p
        return test, full

    P = np.zeros((len(codes), len(classes)))
    for test, p in (executor or LocalExecutor()).map(fit_fold, shards):
        P[test] = p
    return P, classes


def _set_random_state(model: Any, value: int) -> None:
    """Set every ``random_state`` parameter of ``model`` (and pipeline steps) to ``value``."""
    params = model.get_params(deep=True)
    updates = {k: value for k in params if k == "random_state" or k.endswith("__random_state")}
    if updates:
        model.set_params(**updates)


@dataclass(frozen=True)
class SignalResult:
    """What a signal provider produced: per-row matrices to attach, and table metadata."""

    matrices: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


@register_signal("probs")
class OutOfFoldProbs:
    """Compute out-of-fold class probabilities (``probs``) with any scikit-learn classifier.

    Parameters
    ----------
    estimator
        ``None`` for the default (scaled logistic regression), or a scikit-learn classifier.
    n_splits
        Number of stratified folds.
    """

    name = "probs"
    produces = ("probs",)
    requires = frozenset({"embeddings", "label"})

    def __init__(self, estimator: Any = None, n_splits: int = 5) -> None:
        self.estimator = estimator
        self.n_splits = n_splits

    @follows_threads
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return the ``probs`` matrix and the ``classes`` its columns stand for."""
        P, classes = out_of_fold_probs(table, self.estimator, n_splits=self.n_splits, seed=seed, executor=executor)
        return SignalResult({"probs": P}, {"classes": classes.tolist()})
