"""Out-of-fold predicted probabilities: the signal behind uncertainty and label-issue scores.

Each row's probabilities come from a model that never saw that row: the rows are split
into K stratified folds and, for each fold, a clone of the estimator is fitted on the
other K-1 folds. Folds are shards, so the K fits run through any Executor.

The model is chosen for the data unless the user fixes one (``estimator="auto"``, the
default): :func:`choose_estimator` compares a small set of classifiers (standardised
logistic regression, extremely randomised trees, kNN) by cross-validated log-loss on a stratified
subsample of at most ``max_rows`` rows (so the choice costs a few seconds whatever the
table size) and the winner produces the probabilities. Logistic regression is a poor
default on non-linear data: on a 26-class set its probabilities made confident learning
flag about twice as many rows as were mislabelled (``docs/label_issues.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed, seed_int
from thresher._validation import check_choice, check_int, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.execute.base import Executor, LocalExecutor, Shard, spawn_seeds

__all__ = [
    "out_of_fold_probs",
    "label_codes",
    "default_estimator",
    "make_estimator",
    "choose_estimator",
    "EstimatorChoice",
    "CANDIDATES",
    "OutOfFoldProbs",
    "SignalResult",
]

log = logging.getLogger(__name__)

CANDIDATES: tuple[str, ...] = ("logreg", "extra_trees", "knn")
"""The models ``estimator="auto"`` chooses among (``"random_forest"`` and ``"hist_gradient_boosting"``
may be added by name). Extra-trees stands for the tree ensembles: on the 26-class benchmark
it fitted in half a random forest's time and its probabilities gave confident learning a
higher F1 (``benchmarks/bench_oof_choice.py``)."""


def default_estimator() -> Any:
    """Return the default classifier: standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def make_estimator(name: str) -> Any:
    """Return a fresh classifier by name: ``logreg``, ``extra_trees``, ``random_forest``, ``knn``, ``hist_gradient_boosting``.

    Trees use 100 estimators on one thread; kNN standardises and votes over 15 neighbours.

    Examples
    --------
    >>> type(make_estimator("random_forest")).__name__
    'RandomForestClassifier'
    """
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    makers: dict[str, Any] = {
        "logreg": default_estimator,
        "extra_trees": lambda: ExtraTreesClassifier(n_estimators=100, n_jobs=1),
        "random_forest": lambda: RandomForestClassifier(n_estimators=100, n_jobs=1),
        "knn": lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15)),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(),
    }
    check_choice(name, "estimator", "make_estimator", tuple(makers))
    return makers[name]()


@dataclass(frozen=True)
class EstimatorChoice:
    """Which model ``estimator="auto"`` picked, and the cross-validated log-loss of each candidate."""

    name: str
    log_loss: dict[str, float]
    brier: dict[str, float]  # multi-class Brier score, recorded beside the log-loss
    criterion: str  # which of the two decided
    n_rows: int  # rows the choice was made on (a stratified subsample when the table is larger)
    n_splits: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "criterion": self.criterion,
            "log_loss": dict(self.log_loss),
            "brier": dict(self.brier),
            "n_rows": self.n_rows,
            "n_splits": self.n_splits,
        }


def _log_loss(codes: np.ndarray, P: np.ndarray) -> float:
    """Mean negative log-probability of the given class (scikit-learn's ``log_loss``: clipped at float eps)."""
    from sklearn.metrics import log_loss

    return float(log_loss(codes, P, labels=np.arange(P.shape[1])))


def _brier(codes: np.ndarray, P: np.ndarray) -> float:
    """Multi-class Brier score: mean squared distance between the probabilities and the one-hot label."""
    onehot = np.zeros_like(P)
    onehot[np.arange(len(codes)), codes] = 1.0
    return float(np.mean(np.sum((P - onehot) ** 2, axis=1)))


def _oof(X: np.ndarray, codes: np.ndarray, n_classes: int, est: Any, folds: list[np.ndarray], seeds: list[Any]) -> np.ndarray:
    """Out-of-fold probabilities of ``est`` over ``folds`` (serial; used for the model choice)."""
    from sklearn.base import clone

    P = np.zeros((len(codes), n_classes))
    for test, ss in zip(folds, seeds):
        train = np.setdiff1d(np.arange(len(codes)), test)
        model = clone(est)
        _set_random_state(model, int(ss.generate_state(1)[0]))
        model.fit(X[train], codes[train])
        P[np.ix_(test, np.asarray(model.classes_, dtype=np.int64))] = model.predict_proba(X[test])
    return P


def choose_estimator(
    table: Table,
    candidates: Sequence[str] = CANDIDATES,
    *,
    n_splits: int = 3,
    max_rows: int = 2000,
    seed: Seed = 0,
    criterion: str = "log_loss",
) -> EstimatorChoice:
    """Pick the candidate classifier with the lowest cross-validated log-loss on ``table``.

    The choice is made on a stratified subsample of at most ``max_rows`` rows (every class
    kept), with ``n_splits`` stratified folds; ties go to the earlier candidate. With
    ``criterion="brier"`` the (bounded) multi-class Brier score decides instead; both are
    recorded. The labels scored against are the given ones, noise included: a flipped row
    costs a confident model up to ``-log(eps)`` in log-loss but at most 2 in Brier score
    (see ``docs/label_issues.md`` for what that does to the choice).

    Examples
    --------
    >>> from thresher.data.datasets import load_digits
    >>> choice = choose_estimator(load_digits().take(range(300)), ("logreg", "knn"), seed=0)
    >>> choice.name, sorted(choice.log_loss)
    ('logreg', ['knn', 'logreg'])
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    owner = "choose_estimator"
    check_choice(criterion, "criterion", owner, ("log_loss", "brier"))
    table.require(["embeddings", "label"], owner)
    check_int(n_splits, "n_splits", owner, low=2)
    check_int(max_rows, "max_rows", owner, low=2)
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    if not names:
        raise fail("candidates", owner, "a non-empty list of model names", candidates)
    ests = [make_estimator(c) for c in names]
    X = table.embeddings
    codes, classes = label_codes(table, owner)
    rs = seed_int(seed) if seed is not None else None
    n_classes = len(classes)
    if len(codes) > max_rows:
        if max_rows < n_classes * n_splits:
            raise fail("max_rows", owner, f"at least n_classes x n_splits ({n_classes * n_splits})", max_rows)
        idx, _ = train_test_split(np.arange(len(codes)), train_size=max_rows, stratify=codes, random_state=rs)
        idx = np.sort(idx)
        # a class too rare for the folds after subsampling keeps all its rows
        counts = np.bincount(codes[idx], minlength=n_classes)
        short = np.flatnonzero(counts < n_splits)
        if short.size:
            idx = np.union1d(idx, np.flatnonzero(np.isin(codes, short)))
        X, codes = X[idx], codes[idx]
    counts = np.bincount(codes, minlength=n_classes)
    present = counts[counts > 0]
    if present.min() < n_splits:
        raise fail("n_splits", owner, f"at most the size of the smallest class ({present.min()})", n_splits)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=rs)
    folds = [test for _, test in skf.split(X, codes)]
    seeds = spawn_seeds(seed, n_splits)
    losses: dict[str, float] = {}
    briers: dict[str, float] = {}
    for name, est in zip(names, ests):
        P = _oof(X, codes, n_classes, est, folds, seeds)
        losses[name], briers[name] = _log_loss(codes, P), _brier(codes, P)
    by = losses if criterion == "log_loss" else briers
    best = min(names, key=lambda nm: (by[nm], names.index(nm)))
    log.info("out-of-fold model: %s (cross-validated %s %s)", best, criterion, by)
    return EstimatorChoice(best, losses, briers, criterion, int(len(codes)), n_splits)


def _resolve_estimator(
    estimator: Any,
    table: Table,
    n_splits: int,
    seed: Seed,
    owner: str,
    candidates: Sequence[str] = CANDIDATES,
    criterion: str = "log_loss",
) -> tuple[Any, EstimatorChoice | None]:
    if estimator is None or (isinstance(estimator, str) and estimator == "auto"):
        choice = choose_estimator(table, candidates, n_splits=min(3, n_splits), seed=seed, criterion=criterion)
        return make_estimator(choice.name), choice
    if isinstance(estimator, str):
        return make_estimator(estimator), None
    if not hasattr(estimator, "predict_proba"):
        raise fail("estimator", owner, "'auto', a model name or a classifier with predict_proba", type(estimator).__name__)
    return estimator, None


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
    estimator: Any = "auto",
    *,
    n_splits: int = 5,
    seed: Seed = 0,
    executor: Executor | None = None,
    candidates: Sequence[str] = CANDIDATES,
    criterion: str = "log_loss",
) -> tuple[np.ndarray, np.ndarray]:
    """Return out-of-fold class probabilities (n_rows, n_classes) and the class values.

    Parameters
    ----------
    table
        Needs ``embeddings`` (features) and ``label``.
    estimator
        ``"auto"`` (or ``None``) to choose among :data:`CANDIDATES` by cross-validated
        log-loss (:func:`choose_estimator`; the ``probs`` signal records the choice), a
        name accepted by :func:`make_estimator`, or any scikit-learn classifier with
        ``predict_proba`` (cloned per fold).
    n_splits
        Number of stratified folds.
    candidates
        The models ``"auto"`` chooses among.
    criterion
        What ``"auto"`` minimises: ``"log_loss"`` or ``"brier"`` (see :func:`choose_estimator`).

    Examples
    --------
    >>> from thresher.data.datasets import load_digits
    >>> t = load_digits().take(range(300))
    >>> P, classes = out_of_fold_probs(t, "logreg", n_splits=3, seed=0)
    >>> P.shape, bool(abs(P.sum(axis=1) - 1).max() < 1e-9)
    ((300, 10), True)
    """
    owner = "out_of_fold_probs"
    X, codes, classes = _check_oof_table(table, n_splits, owner)
    est, _ = _resolve_estimator(estimator, table, n_splits, seed, owner, candidates, criterion)
    return _out_of_fold(X, codes, classes, est, n_splits, seed, executor)


def _check_oof_table(table: Table, n_splits: int, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the table and folds; return (features, label codes, class values)."""
    table.check_not_empty(owner)
    table.require(["embeddings", "label"], owner)
    check_int(n_splits, "n_splits", owner, low=2)
    codes, classes = label_codes(table, owner)
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < n_splits:
        raise fail("n_splits", owner, f"at most the size of the smallest class ({counts.min()})", n_splits)
    return table.embeddings, codes, classes


def _out_of_fold(
    X: np.ndarray, codes: np.ndarray, classes: np.ndarray, est: Any, n_splits: int, seed: Seed, executor: Executor | None
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

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
    """Compute out-of-fold class probabilities (``probs``) with a model chosen for the data or given.

    The metadata it returns (stored with the signal in the run directory) holds
    ``oof_model`` (the model used) and, for ``"auto"``, ``oof_choice`` (every candidate's
    cross-validated log-loss and the rows the choice was made on).

    Parameters
    ----------
    estimator
        ``"auto"`` (choose by cross-validated log-loss, see :func:`choose_estimator`), a
        model name (see :func:`make_estimator`)
        or a scikit-learn classifier.
    n_splits
        Number of stratified folds.
    candidates
        The models ``"auto"`` chooses among (default :data:`CANDIDATES`).
    criterion
        What ``"auto"`` minimises: ``"log_loss"`` or ``"brier"`` (see :func:`choose_estimator`).
    """

    name = "probs"
    produces = ("probs",)
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self, estimator: Any = "auto", n_splits: int = 5, candidates: Sequence[str] = CANDIDATES, criterion: str = "log_loss"
    ) -> None:
        self.estimator = estimator
        self.n_splits = n_splits
        self.candidates = tuple(candidates) if not isinstance(candidates, str) else (candidates,)
        self.criterion = criterion

    @follows_threads
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return the ``probs`` matrix, the ``classes`` its columns stand for and the model used."""
        owner = type(self).__name__
        X, codes, classes = _check_oof_table(table, self.n_splits, owner)
        est, choice = _resolve_estimator(
            self.estimator, table, self.n_splits, seed, owner, self.candidates, self.criterion
        )
        P, classes = _out_of_fold(X, codes, classes, est, self.n_splits, seed, executor)
        meta: dict[str, Any] = {"classes": classes.tolist()}
        if choice is not None:
            meta["oof_model"] = choice.name
            meta["oof_choice"] = choice.to_dict()
        else:
            meta["oof_model"] = self.estimator if isinstance(self.estimator, str) else type(self.estimator).__name__
        return SignalResult({"probs": P}, meta)
