"""Data values with closed forms or single-pass estimators: KNN-Shapley, Data-OOB, leave-one-out.

* **KNN-Shapley** (Jia et al., "Efficient Task-Specific Data Valuation for Nearest
  Neighbor Algorithms", PVLDB 12(11), 2019): exact Shapley values of the training rows
  for the utility of an unweighted K-nearest-neighbour classifier,
  ``U(S) = (1/K) * sum over the min(K, |S|) nearest rows of S of 1[y == y_test]``,
  averaged over a validation set. Sorting the training rows by distance to a test point
  gives every value through one backward recursion (see :func:`knn_shapley`).
* **Data-OOB** (Kwon & Zou, "Data-OOB: Out-of-bag Estimate as a Simple and Efficient
  Data Value", ICML 2023): fit B models on bootstrap samples; a row's value is the mean
  correctness of the models that did not see it (out of bag).
* **Leave-one-out**: ``U(all) - U(all minus i)`` for any scikit-learn estimator and metric
  (through :class:`thresher.scores.semivalues.Utility`).

How the validation set reaches a scorer: the ``valid`` parameter is either a
:class:`~thresher.data.Table` (the target set; the scored table is the training set) or
the name of a value of the table's ``split`` column (e.g. ``"valid"``): rows with that
split value form the validation set and get NaN, every other row is valued. ``valid=None``
(KNN-Shapley only) values every row against all the others (each row is a test point
for the rest, leaving itself out), which needs no held-out data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import DataError, LengthMismatchError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.scores.base import BaseScorer

__all__ = [
    "knn_shapley",
    "data_oob",
    "resolve_valid",
    "resolve_estimator",
    "ValidSplit",
    "KNNShapley",
    "DataOOB",
    "LeaveOneOut",
]

log = logging.getLogger(__name__)


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


def _scatter(table: Table, split: ValidSplit, values: np.ndarray) -> np.ndarray:
    out = np.full(table.n_rows, np.nan)
    out[split.train_positions] = values
    return out


# --------------------------------------------------------------------------- KNN-Shapley
def _argsort_rows(d: np.ndarray) -> np.ndarray:
    """Argsort each row ascending, equal values in index order (the utility's tie rule).

    NumPy's default sort is SIMD-accelerated and about 4x faster than ``kind="stable"``
    on float64, but not stable; exact ties are rare with real distances, so rows that
    have any are re-sorted stably instead of paying for a stable sort everywhere.
    """
    order = np.argsort(d, axis=1)
    for r in range(d.shape[0]):  # row-wise gathers: contiguous and cache-resident, unlike a 2-D fancy index
        ds = d[r][order[r]]
        if np.any(ds[1:] == ds[:-1]):
            order[r] = np.argsort(d[r], kind="stable")
    return order


def _knn_shapley_block(
    d: np.ndarray, y_train_codes: np.ndarray, y_test_codes: np.ndarray, k: int, n_train: int
) -> np.ndarray:
    """Sum over the rows of ``d`` (test points x train distances) of the exact KNN-Shapley values.

    ``d`` may have extra columns set to +inf (a test point's own row when valuing a set
    against itself); only the first ``n_train`` sorted positions count.
    """
    order = _argsort_rows(d)[:, :n_train]
    match = (y_train_codes[order] == y_test_codes[:, None]).astype(np.float64)  # (b, N), nearest first
    # s_N = m_N / max(K, N);  s_i = s_{i+1} + (m_i - m_{i+1}) / max(K, i)   (positions 1-indexed)
    s = np.empty_like(match)
    s[:, -1] = match[:, -1] / max(k, n_train)
    if n_train > 1:
        pos = np.arange(1, n_train, dtype=np.float64)
        steps = (match[:, :-1] - match[:, 1:]) / np.maximum(float(k), pos)
        # backward cumulative sum of the steps, added to s_N
        s[:, :-1] = s[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
    # Each row of ``order`` is a permutation (prefix) of the columns, so one bincount over
    # the flattened indices adds every test point's values without a Python loop.
    return np.bincount(order.ravel(), weights=s.ravel(), minlength=d.shape[1])


def knn_shapley(
    X_train: Any,
    y_train: Any,
    X_test: Any = None,
    y_test: Any = None,
    *,
    k: int = 5,
    metric: str = "euclidean",
    batch_size: int = 256,
    executor: Executor | None = None,
) -> np.ndarray:
    """Return the exact KNN-Shapley value of every training row, averaged over the test rows.

    For each test point the training rows are sorted by distance (ties by index) and, with
    ``m_i = 1[y_(i) == y_test]`` at sorted position ``i`` (1-indexed), Jia et al. (2019,
    Theorem 1) give ``s_N = m_N / max(K, N)`` and
    ``s_i = s_{i+1} + (m_i - m_{i+1}) / K * min(K, i) / i``. Test points are processed in
    batches of ``batch_size`` (the shards of ``executor``), so memory is one
    ``batch_size x n_train`` block per worker and never ``n_test x n_train``.

    Parameters
    ----------
    X_train, y_train
        Rows to value and their labels.
    X_test, y_test
        Validation set. ``None`` values each training row against all the others: every
        row is a test point for the remaining ``n - 1`` rows (itself excluded).
    k
        Neighbours of the KNN classifier.
    metric
        ``"euclidean"`` or ``"cosine"`` (the ranking is what matters).
    batch_size
        Test points per shard.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([0, 0, 1])
    >>> v = knn_shapley(X, y, np.array([[0.1]]), np.array([0]), k=1)
    >>> v.tolist()  # the two label-0 rows share the credit; sum = U(all) - U(empty) = 1
    [0.5, 0.5, 0.0]
    """
    owner = "knn_shapley"
    Xtr = check_matrix(X_train, "X_train", owner)
    ytr = np.asarray(y_train)
    if len(ytr) != Xtr.shape[0]:
        raise LengthMismatchError(f"`y_train` of knn_shapley must have {Xtr.shape[0]} entries; got {len(ytr)}.")
    self_valued = X_test is None
    if self_valued:
        if y_test is not None:
            raise fail("y_test", owner, "None when `X_test` is None", "an array")
        Xte, yte = Xtr, ytr
        n_train = Xtr.shape[0] - 1
    else:
        Xte = check_matrix(X_test, "X_test", owner)
        yte = np.asarray(y_test)
        if len(yte) != Xte.shape[0]:
            raise LengthMismatchError(f"`y_test` of knn_shapley must have {Xte.shape[0]} entries; got {len(yte)}.")
        if Xte.shape[1] != Xtr.shape[1]:
            raise fail("X_test", owner, f"an array with {Xtr.shape[1]} columns like `X_train`", Xte)
        n_train = Xtr.shape[0]
    check_int(k, "k", owner, low=1)
    check_int(batch_size, "batch_size", owner, low=1)
    check_choice(metric, "metric", owner, ("euclidean", "cosine"))
    if n_train < 1 or Xte.shape[0] == 0:
        raise DataError(f"{owner} needs at least one training row and one test row.")
    # One code per label value shared by train and test, so comparisons are integer ones.
    _, codes = np.unique(np.concatenate([ytr, yte]), return_inverse=True)
    ctr, cte = codes[: len(ytr)], codes[len(ytr) :]
    if metric == "cosine":
        Xtr = Xtr / np.maximum(np.linalg.norm(Xtr, axis=1, keepdims=True), 1e-300)
        Xte = Xtr if self_valued else Xte / np.maximum(np.linalg.norm(Xte, axis=1, keepdims=True), 1e-300)
    x_sq = np.einsum("ij,ij->i", Xtr, Xtr)

    def run(shard: Shard) -> np.ndarray:
        # ``|x|^2 - 2 q.x`` ranks training rows exactly as the squared distance does (``|q|^2``
        # is constant per test row); it is also scikit-learn's surrogate, so orders agree.
        d = Xte[shard.start : shard.stop] @ Xtr.T
        d *= -2.0
        d += x_sq[None, :]
        if self_valued:
            rows = np.arange(shard.start, shard.stop)
            d[rows - shard.start, rows] = np.inf  # sorts last, then dropped
        return _knn_shapley_block(d, ctr, cte[shard.start : shard.stop], k, n_train)

    shards = make_shards(Xte.shape[0], shard_size=batch_size)
    total = np.zeros(Xtr.shape[0])
    for i, part in enumerate((executor or LocalExecutor()).map(run, shards)):
        total += part
        log.debug("knn_shapley: shard %d/%d done", i + 1, len(shards))
    return total / Xte.shape[0]


@register_scorer("knn_shapley")
class KNNShapley(BaseScorer):
    """Score each row by its exact KNN-Shapley value (Jia et al. 2019) on a validation set.

    Higher means the row helps a K-nearest-neighbour classifier label the validation set.

    Parameters
    ----------
    k
        Neighbours of the KNN classifier.
    valid
        ``None`` (value each row against the others), a validation :class:`Table`, or the
        name of a ``split`` value whose rows form the validation set (those rows get NaN).
    metric
        ``"euclidean"`` or ``"cosine"``.
    batch_size
        Validation points per shard.
    executor
        Where shards run (``None``: this process).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 0, 1, 1])},
    ...           matrices={"embeddings": np.array([[0.0], [0.2], [5.0], [5.1]])})
    >>> np.round(KNNShapley(k=1).score(t), 6).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    name = "knn_shapley"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self,
        k: int = 5,
        valid: Table | str | None = None,
        metric: str = "euclidean",
        batch_size: int = 256,
        executor: Executor | None = None,
    ) -> None:
        self.k = k
        self.valid = valid
        self.metric = metric
        self.batch_size = batch_size
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        split = resolve_valid(table, self.valid, owner)
        X = table.embeddings[split.train_positions]
        y = np.asarray(table.labels)[split.train_positions]
        values = knn_shapley(
            X, y, split.X_valid, split.y_valid, k=self.k, metric=self.metric,
            batch_size=self.batch_size, executor=self.executor,
        )
        return _scatter(table, split, values)

    @classmethod
    def make_example(cls) -> KNNShapley:
        return cls(k=3, batch_size=16)


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


# --------------------------------------------------------------------------- Data-OOB


def data_oob(
    X: Any,
    y: Any,
    estimator: Any = None,
    *,
    n_estimators: int = 100,
    max_samples: float = 1.0,
    seed: Seed = None,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's Data-OOB value and how many models had it out of bag.

    Fits ``n_estimators`` clones of ``estimator`` on bootstrap samples (size
    ``max_samples * n``, drawn with replacement); the value of row i is the mean of
    ``1[model(x_i) == y_i]`` over the models whose sample missed i (Kwon & Zou 2023,
    eq. 3, with the 0-1 correctness as the score). Rows never out of bag get NaN. Each
    model is one shard with its own seed, so results do not depend on the executor.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(6, 1, (30, 2))]; y = np.r_[np.zeros(30), np.ones(30)]
    >>> y[0] = 1  # a flipped label
    >>> v, n_oob = data_oob(X, y, n_estimators=50, seed=0)
    >>> bool(v[0] < v[1:].min()), int(n_oob.min()) > 0
    (True, True)
    """
    from sklearn.base import clone

    from thresher.signals.oof import _set_random_state

    owner = "data_oob"
    Xa = check_matrix(X, "X", owner)
    ya = np.asarray(y)
    n = Xa.shape[0]
    if len(ya) != n:
        raise LengthMismatchError(f"`y` of data_oob must have {n} entries; got {len(ya)}.")
    check_int(n_estimators, "n_estimators", owner, low=1)
    if not (isinstance(max_samples, (int, float)) and 0 < max_samples <= 1):
        raise fail("max_samples", owner, "a fraction in (0, 1]", max_samples)
    est = resolve_estimator(estimator, owner, "tree")
    m = max(1, int(round(max_samples * n)))

    def fit_one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        rng = shard.rng()
        sample = rng.integers(0, n, size=m)
        oob = np.ones(n, dtype=bool)
        oob[sample] = False
        correct = np.zeros(n)
        if oob.any():
            ys = ya[sample]
            if len(np.unique(ys)) == 1:  # a one-class bootstrap: the model is that constant
                pred = np.full(int(oob.sum()), ys[0])
            else:
                model = clone(est)
                _set_random_state(model, int(rng.integers(2**31 - 1)))
                model.fit(Xa[sample], ys)
                pred = model.predict(Xa[oob])
            correct[oob] = pred == ya[oob]
        return correct, oob

    shards = make_shards(n_estimators, shard_size=1, seed=seed)
    total = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for correct, oob in (executor or LocalExecutor()).map(fit_one, shards):
        total += correct
        count += oob
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return values, count


@register_scorer("data_oob")
class DataOOB(BaseScorer):
    """Score each row by its Data-OOB value (Kwon & Zou 2023): out-of-bag accuracy on it.

    Parameters
    ----------
    estimator
        Any scikit-learn classifier (cloned per bootstrap); ``None``: a decision tree, which
        makes the ensemble a random forest without feature subsampling, as in the paper.
    n_estimators
        Bootstrap models.
    max_samples
        Bootstrap sample size as a fraction of the rows.
    executor
        Where the model fits run.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = Table(columns={"label": np.r_[np.zeros(20), np.ones(20)]},
    ...           matrices={"embeddings": np.r_[rng.normal(0, 1, (20, 2)), rng.normal(5, 1, (20, 2))]})
    >>> v = DataOOB(n_estimators=30).score(t, seed=0)
    >>> v.shape, bool(np.nanmean(v) > 0.9)
    ((40,), True)
    """

    name = "data_oob"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})
    is_stochastic = True

    def __init__(
        self,
        estimator: Any = None,
        n_estimators: int = 100,
        max_samples: float = 1.0,
        executor: Executor | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        values, _ = data_oob(
            table.embeddings, table.labels, self.estimator, n_estimators=self.n_estimators,
            max_samples=self.max_samples, seed=rng, executor=self.executor,
        )
        return values

    @classmethod
    def make_example(cls) -> DataOOB:
        return cls(n_estimators=40)


# --------------------------------------------------------------------------- leave-one-out
@register_scorer("loo")
class LeaveOneOut(BaseScorer):
    """Score each row by leave-one-out: utility of all training rows minus utility without it.

    The utility is a scikit-learn estimator fitted on the training rows and scored with
    ``metric`` on the validation set (see :class:`thresher.scores.semivalues.Utility`).
    ``n + 1`` fits, run through ``executor``.

    Parameters
    ----------
    valid
        A validation :class:`Table` or the name of a ``split`` value (those rows get NaN).
    estimator
        Any scikit-learn classifier; ``None``: scaled logistic regression.
    metric
        ``"accuracy"`` or any scikit-learn scorer name.
    executor
        Where the fits run.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 0, 1, 1, 0, 1]),
    ...                    "split": np.array(["train"] * 4 + ["valid"] * 2)},
    ...           matrices={"embeddings": np.array([[0.0], [0.5], [5.0], [19.0], [0.2], [4.9]])})
    >>> LeaveOneOut(valid="valid", estimator=KNeighborsClassifier(1)).score(t).tolist()
    [0.0, 0.0, 0.5, 0.0, nan, nan]
    """

    name = "loo"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.scores.semivalues import Utility, leave_one_out

        owner = type(self).__name__
        split = resolve_valid(table, self.valid, owner, allow_none=False)
        assert split.X_valid is not None and split.y_valid is not None
        pos = split.train_positions
        utility = Utility(
            table.embeddings[pos], np.asarray(table.labels)[pos], split.X_valid, split.y_valid,
            estimator=self.estimator, metric=self.metric,
        )
        values = leave_one_out(utility, executor=self.executor)
        return _scatter(table, split, values)

    @classmethod
    def make_example(cls) -> LeaveOneOut:
        return cls(valid="valid")

    @classmethod
    def conformance_table(cls) -> Table:
        return valuation_conformance_table()


def valuation_conformance_table(n: int = 40, seed: int = 0) -> Table:
    """Return a small 3-class table with a ``split`` column (``train``/``valid``) for conformance tests."""
    rng = as_generator(seed)
    labels = np.arange(n) % 3
    centers = rng.normal(scale=3.0, size=(3, 4))
    X = centers[labels] + rng.normal(size=(n, 4))
    split = np.where(np.arange(n) % 4 == 0, "valid", "train").astype(object)
    return Table(np.arange(500, 500 + n), columns={"label": labels, "split": split}, matrices={"embeddings": X})
