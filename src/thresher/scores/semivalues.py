"""Semivalues by sampling: TMC-Shapley, Beta-Shapley, Data Banzhaf (maximum sample reuse).

A semivalue of training row ``i`` for a utility ``U`` (a model trained on a subset,
scored on a validation set) is ``phi_i = sum_k p_k E_{|S|=k, i not in S}[U(S + i) - U(S)]``
with weights ``p_k`` over subset sizes summing to one:

* Shapley: ``p_k = 1/n`` (Ghorbani & Zou, "Data Shapley", ICML 2019);
* Beta-Shapley(alpha, beta): ``p_k = C(n-1, k) B(k + beta, n-1-k + alpha) / B(alpha, beta)``
  (Kwon & Zou, "Beta Shapley", AISTATS 2022; Beta(16, 1) favours small subsets);
* Banzhaf: ``p_k = C(n-1, k) / 2^(n-1)`` (Wang & Jia, "Data Banzhaf", AISTATS 2023).

The design follows pyDVL's composition: a **utility** (estimator + metric + data), a
**sampler** (what is drawn and how it updates the running estimate) and a **stopping
rule** (standard error, wall time, number of updates, combined with ``|``), run by
:func:`compute_semivalues`. Samples of one round are shards of an
:class:`~thresher.execute.Executor`, each with its own ``SeedSequence`` child, so utility
evaluations run in parallel (on Ray too) and the result does not depend on the executor.
Every estimate comes with its standard error.

* :class:`PermutationSampler` walks random permutations and reads every row's marginal
  contribution off the prefixes; with ``truncation > 0`` it stops a permutation once the
  prefix utility is within ``truncation * |U(all)|`` of ``U(all)`` (TMC-Shapley). For
  Beta-Shapley each marginal is importance-weighted by ``n p_k`` (the prefix size of a
  random permutation is uniform over 0..n-1).
* :class:`MSRSampler` draws subsets with each row in with probability 1/2 and reuses
  every utility value for every row: ``phi_i = mean U(S | i in S) - mean U(S | i not in S)``
  (the maximum-sample-reuse estimator of Data Banzhaf).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed, seed_int
from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import LengthMismatchError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards, spawn_seeds
from thresher.scores.base import BaseScorer
from thresher.scores.valuation import _scatter, resolve_estimator, resolve_valid, valuation_conformance_table

__all__ = [
    "Utility",
    "KNNUtility",
    "PermutationSampler",
    "MSRSampler",
    "MaxUpdates",
    "MaxTime",
    "StandardError",
    "Progress",
    "SemivalueResult",
    "compute_semivalues",
    "leave_one_out",
    "semivalue_weights",
    "TMCShapley",
    "BetaShapley",
    "DataBanzhaf",
]

log = logging.getLogger(__name__)


# =========================================================================== utilities
class UtilityLike(Protocol):
    @property
    def n(self) -> int: ...

    def __call__(self, subset: np.ndarray) -> float: ...


def _subset_key(subset: np.ndarray, n: int) -> bytes:
    mask = np.zeros(n, dtype=bool)
    mask[subset] = True
    return np.packbits(mask).tobytes()


class Utility:
    """Score of ``estimator`` fitted on a subset of the training rows, on the validation set.

    Parameters
    ----------
    X_train, y_train
        The rows being valued (subsets are positions into them).
    X_valid, y_valid
        The validation set the fitted model is scored on.
    estimator
        Any scikit-learn classifier (cloned per fit), or ``"logreg"`` (the default: scaled
        logistic regression), ``"tree"``, ``"knn"``.
    metric
        ``"accuracy"`` or a scikit-learn scorer name (``sklearn.metrics.get_scorer``).
    empty_value
        Utility of the empty set (no model can be fitted).
    cache
        Remember utilities of subsets already evaluated (in this process).

    A subset holding a single class is scored with the constant classifier predicting it
    (``DummyClassifier``), since most estimators refuse to fit one class. A subset the
    estimator rejects with ``ValueError`` (e.g. fewer rows than ``n_neighbors``) scores
    ``empty_value``, like pyDVL's ``catch_errors``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> u = Utility(np.array([[0.0], [1.0]]), np.array([0, 1]), np.array([[0.1], [0.9]]), np.array([0, 1]),
    ...             estimator=KNeighborsClassifier(1))
    >>> u(np.array([0, 1])), u(np.array([0])), u(np.array([], dtype=int))
    (1.0, 0.5, 0.0)
    """

    def __init__(
        self,
        X_train: Any,
        y_train: Any,
        X_valid: Any,
        y_valid: Any,
        *,
        estimator: Any = None,
        metric: str = "accuracy",
        empty_value: float = 0.0,
        cache: bool = True,
    ) -> None:
        owner = "Utility"
        self.X_train = check_matrix(X_train, "X_train", owner)
        self.y_train = np.asarray(y_train)
        self.X_valid = check_matrix(X_valid, "X_valid", owner)
        self.y_valid = np.asarray(y_valid)
        if len(self.y_train) != len(self.X_train) or len(self.y_valid) != len(self.X_valid):
            raise LengthMismatchError("`y_train`/`y_valid` of Utility must have one label per row of X.")
        self.estimator = resolve_estimator(estimator, owner, "logreg")
        self.metric = metric
        self.empty_value = check_float(empty_value, "empty_value", owner)
        self.cache = cache
        self._memo: dict[bytes, float] = {}
        if metric != "accuracy":
            from sklearn.metrics import get_scorer

            try:
                get_scorer(metric)
            except ValueError:
                raise fail("metric", owner, "'accuracy' or a scikit-learn scorer name", metric) from None

    @property
    def n(self) -> int:
        return int(self.X_train.shape[0])

    def __call__(self, subset: np.ndarray) -> float:
        subset = np.asarray(subset, dtype=np.int64)
        if subset.size == 0:
            return self.empty_value
        key = _subset_key(subset, self.n) if self.cache else b""
        if self.cache and key in self._memo:
            return self._memo[key]
        value = self._evaluate(np.sort(subset))
        if self.cache:
            self._memo[key] = value
        return value

    def _evaluate(self, subset: np.ndarray) -> float:
        from sklearn.base import clone
        from sklearn.dummy import DummyClassifier

        X, y = self.X_train[subset], self.y_train[subset]
        model = DummyClassifier(strategy="most_frequent") if len(np.unique(y)) == 1 else clone(self.estimator)
        try:
            model.fit(X, y)
            if self.metric == "accuracy":
                return float(np.mean(model.predict(self.X_valid) == self.y_valid))
            from sklearn.metrics import get_scorer

            return float(get_scorer(self.metric)(model, self.X_valid, self.y_valid))
        except ValueError:
            # scikit-learn's signal that the subset is too small for this model (e.g. fewer
            # rows than n_neighbors): such a subset is worth as much as the empty set
            return self.empty_value


class KNNUtility:
    """The KNN-Shapley utility: mean over validation points of (1/K) * #same-label among the K nearest of S.

    Exact and cheap, so it is the utility of choice to check estimators against closed
    forms (:func:`thresher.scores.valuation.knn_shapley` is its exact Shapley value).
    Ties in distance are broken by the smaller training index.

    Examples
    --------
    >>> import numpy as np
    >>> u = KNNUtility(np.array([[0.0], [1.0], [2.0]]), np.array([0, 1, 0]), np.array([[0.0]]), np.array([0]), k=2)
    >>> u(np.array([0, 1, 2])), u(np.array([0, 2]))
    (0.5, 1.0)
    """

    def __init__(self, X_train: Any, y_train: Any, X_valid: Any, y_valid: Any, *, k: int = 5) -> None:
        from thresher.neighbors import pairwise_sq_dists

        self.k = check_int(k, "k", "KNNUtility", low=1)
        Xt = check_matrix(X_train, "X_train", "KNNUtility")
        Xv = check_matrix(X_valid, "X_valid", "KNNUtility")
        self.y_train = np.asarray(y_train)
        self.y_valid = np.asarray(y_valid)
        d = pairwise_sq_dists(Xv, Xt)
        self._rank = np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1)  # rank of each train row per valid point
        self._match = (self.y_train[None, :] == self.y_valid[:, None]).astype(np.float64)
        self.n = int(Xt.shape[0])

    def __call__(self, subset: np.ndarray) -> float:
        subset = np.asarray(subset, dtype=np.int64)
        if subset.size == 0:
            return 0.0
        ranks = self._rank[:, subset]
        m = min(self.k, subset.size)
        nearest = np.argpartition(ranks, m - 1, axis=1)[:, :m] if m < subset.size else np.argsort(ranks, axis=1)
        hits = np.take_along_axis(self._match[:, subset], nearest, axis=1).sum(axis=1)
        return float(np.mean(hits / self.k))


# =========================================================================== weights
def semivalue_weights(n: int, kind: str = "shapley", alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """Return ``p_k`` for k = 0..n-1: the weight of subsets of size k in the semivalue (sums to 1).

    Examples
    --------
    >>> semivalue_weights(4).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> semivalue_weights(3, "banzhaf").tolist()
    [0.25, 0.5, 0.25]
    """
    from scipy.special import betaln, gammaln

    k = np.arange(n, dtype=np.float64)
    log_comb = gammaln(n) - gammaln(k + 1) - gammaln(n - k)
    if kind == "shapley":
        return np.full(n, 1.0 / n)
    if kind == "banzhaf":
        return np.exp(log_comb - (n - 1) * math.log(2.0))
    if kind == "beta":
        return np.exp(log_comb + betaln(k + beta, n - 1 - k + alpha) - betaln(alpha, beta))
    raise fail("kind", "semivalue_weights", "one of 'shapley', 'banzhaf', 'beta'", kind)


# =========================================================================== stopping rules
@dataclass(frozen=True)
class Progress:
    """Where an estimation stands: handed to stopping rules and to the progress callback."""

    n_updates: int  # samples (permutations or subsets) folded into the estimate
    n_evaluations: int  # utility evaluations (cache hits included)
    elapsed_s: float
    max_stderr: float  # largest standard error over rows (inf until every row has 2 samples)


class StoppingRule:
    """Base of the stopping rules; ``a | b`` stops when either does."""

    def __call__(self, progress: Progress) -> bool:
        raise NotImplementedError

    def __or__(self, other: StoppingRule) -> StoppingRule:
        return _AnyOf((self, other))


@dataclass(frozen=True)
class _AnyOf(StoppingRule):
    rules: tuple[StoppingRule, ...]

    def __call__(self, progress: Progress) -> bool:
        return any(r(progress) for r in self.rules)


@dataclass(frozen=True)
class MaxUpdates(StoppingRule):
    """Stop after ``n`` samples (permutations for TMC/Beta-Shapley, subsets for Banzhaf)."""

    n: int

    def __call__(self, progress: Progress) -> bool:
        return progress.n_updates >= self.n


@dataclass(frozen=True)
class MaxTime(StoppingRule):
    """Stop after ``seconds`` of wall time (results then depend on machine speed)."""

    seconds: float

    def __call__(self, progress: Progress) -> bool:
        return progress.elapsed_s >= self.seconds


@dataclass(frozen=True)
class StandardError(StoppingRule):
    """Stop once every row's standard error is at most ``threshold`` (after ``min_updates``)."""

    threshold: float
    min_updates: int = 10

    def __call__(self, progress: Progress) -> bool:
        return progress.n_updates >= self.min_updates and progress.max_stderr <= self.threshold


# =========================================================================== samplers
@dataclass
class _Moments:
    """Running sums for a mean and its standard error, per row."""

    total: np.ndarray
    total_sq: np.ndarray
    count: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> _Moments:
        return cls(np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64))

    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)

    def var_of_mean(self) -> np.ndarray:
        c = self.count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.total_sq - self.total**2 / np.maximum(c, 1)) / (c - 1)
            return np.where(c > 1, np.maximum(var, 0.0) / c, np.inf)


class PermutationSampler:
    """Draw random permutations; every row gets one marginal contribution per permutation.

    Parameters
    ----------
    truncation
        TMC truncation: stop a permutation when ``|U(all) - U(prefix)| < truncation * |U(all)|``
        and give the remaining rows a zero marginal (Ghorbani & Zou 2019). 0 never truncates.
    """

    def __init__(self, truncation: float = 0.0) -> None:
        self.truncation = check_float(truncation, "truncation", "PermutationSampler", low=0.0)

    def sample(
        self, utility: UtilityLike, rng: np.random.Generator, u_full: float, weights: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Return (weighted marginal contribution of every row, utility evaluations made)."""
        n = utility.n
        perm = rng.permutation(n)
        contrib = np.zeros(n)
        prev = utility(perm[:0])
        n_eval = 0
        for j in range(n):
            if self.truncation > 0 and abs(u_full - prev) < self.truncation * abs(u_full):
                break  # the rest of the permutation gets zero marginals
            cur = utility(perm[: j + 1])
            n_eval += 1
            contrib[perm[j]] = (cur - prev) * n * weights[j]  # prefix size j is uniform: weight n p_j
            prev = cur
        return contrib, n_eval

    def new_state(self, n: int) -> _Moments:
        return _Moments.zeros(n)

    def update(self, state: _Moments, sample: np.ndarray) -> None:
        state.total += sample
        state.total_sq += sample**2
        state.count += 1

    def estimate(self, state: _Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return state.mean(), np.sqrt(state.var_of_mean()), state.count.copy()


class MSRSampler:
    """Draw subsets with each row in with probability 1/2; reuse each utility for every row (Data Banzhaf)."""

    def sample(
        self, utility: UtilityLike, rng: np.random.Generator, u_full: float, weights: np.ndarray
    ) -> tuple[tuple[np.ndarray, float], int]:
        mask = rng.random(utility.n) < 0.5
        return (mask, utility(np.flatnonzero(mask))), 1

    def new_state(self, n: int) -> tuple[_Moments, _Moments]:
        return _Moments.zeros(n), _Moments.zeros(n)

    def update(self, state: tuple[_Moments, _Moments], sample: tuple[np.ndarray, float]) -> None:
        mask, u = sample
        for moments, where in ((state[0], mask), (state[1], ~mask)):
            moments.total[where] += u
            moments.total_sq[where] += u * u
            moments.count[where] += 1

    def estimate(self, state: tuple[_Moments, _Moments]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inside, outside = state
        values = inside.mean() - outside.mean()
        stderr = np.sqrt(inside.var_of_mean() + outside.var_of_mean())
        return values, stderr, np.minimum(inside.count, outside.count)


# =========================================================================== the estimator
@dataclass(frozen=True)
class SemivalueResult:
    """Estimated values of the training rows with their standard errors."""

    values: np.ndarray
    stderr: np.ndarray
    counts: np.ndarray  # samples behind each row's estimate
    n_updates: int
    n_evaluations: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self, row_ids: Any = None) -> Any:
        """Return a DataFrame with ``value``, ``stderr`` and ``count`` per row."""
        import pandas as pd

        idx = pd.Index(np.arange(len(self.values)) if row_ids is None else np.asarray(row_ids), name="row_id")
        return pd.DataFrame({"value": self.values, "stderr": self.stderr, "count": self.counts}, index=idx)


def compute_semivalues(
    utility: UtilityLike,
    sampler: PermutationSampler | MSRSampler,
    stopping: StoppingRule,
    *,
    weights: str = "shapley",
    alpha: float = 1.0,
    beta: float = 1.0,
    seed: Seed = None,
    batch_size: int = 8,
    executor: Executor | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> SemivalueResult:
    """Estimate semivalues of ``utility``'s training rows by sampling until ``stopping`` says so.

    Parameters
    ----------
    utility
        A :class:`Utility` (or :class:`KNNUtility`): callable on an index array, with ``n``.
    sampler
        :class:`PermutationSampler` (Shapley/Beta-Shapley, optionally truncated) or
        :class:`MSRSampler` (Banzhaf; ``weights`` is then ignored).
    stopping
        A stopping rule, e.g. ``StandardError(0.01) | MaxUpdates(2000)``.
    weights
        ``"shapley"`` or ``"beta"`` (with ``alpha``, ``beta``) for permutation sampling.
    batch_size
        Samples per round; each is a shard of ``executor``. Stopping is checked per round.
    callback
        Called with a :class:`Progress` after every round (also logged at INFO).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [5.0]]); y = np.array([0, 0, 1])
    >>> u = KNNUtility(X, y, np.array([[0.2], [5.1]]), np.array([0, 1]), k=1)
    >>> r = compute_semivalues(u, PermutationSampler(), MaxUpdates(64), seed=0)
    >>> r.n_updates, bool(abs(r.values.sum() - u(np.arange(3))) < 1e-12)  # efficiency, per permutation
    (64, True)
    """
    owner = "compute_semivalues"
    n = check_int(utility.n, "utility.n", owner, low=1)
    check_int(batch_size, "batch_size", owner, low=1)
    if not isinstance(stopping, StoppingRule):
        raise fail("stopping", owner, "a stopping rule (MaxUpdates, MaxTime, StandardError, or a | b)", stopping)
    if isinstance(sampler, PermutationSampler):
        w = semivalue_weights(n, weights, alpha, beta) if weights == "beta" else semivalue_weights(n, weights)
        if weights not in ("shapley", "beta"):
            raise fail("weights", owner, "'shapley' or 'beta' with a PermutationSampler", weights)
        method = "tmc_shapley" if weights == "shapley" else f"beta_shapley({alpha:g},{beta:g})"
    elif isinstance(sampler, MSRSampler):
        w = np.zeros(0)
        method = "banzhaf_msr"
    else:
        raise fail("sampler", owner, "a PermutationSampler or MSRSampler", type(sampler).__name__)
    u_full = utility(np.arange(n))
    state = sampler.new_state(n)
    root = spawn_seeds(seed, 1)[0]  # each round spawns its own child, so rounds are independent
    ex = executor or LocalExecutor()
    start = time.perf_counter()
    n_updates, n_evals, round_ = 0, 1, 0
    values, stderr, counts = sampler.estimate(state)  # type: ignore[arg-type]
    while True:
        round_seed = root.spawn(1)[0]
        shards = make_shards(batch_size, shard_size=1, seed=round_seed)

        def draw(shard: Shard) -> tuple[Any, int]:
            return sampler.sample(utility, shard.rng(), u_full, w)

        for sample, n_eval in ex.map(draw, shards):
            sampler.update(state, sample)  # type: ignore[arg-type]
            n_evals += n_eval
        n_updates += batch_size
        round_ += 1
        values, stderr, counts = sampler.estimate(state)  # type: ignore[arg-type]
        finite = stderr[np.isfinite(stderr)]
        max_se = float(finite.max()) if finite.size == n else math.inf
        progress = Progress(n_updates, n_evals, time.perf_counter() - start, max_se)
        log.info("%s: %d samples, %d utility evaluations, max stderr %.4g", method, n_updates, n_evals, max_se)
        if callback is not None:
            callback(progress)
        if stopping(progress):
            break
    params = {"sampler": type(sampler).__name__, "batch_size": batch_size, "seed": seed_int(seed)}
    if isinstance(sampler, PermutationSampler):
        params["truncation"] = sampler.truncation
    return SemivalueResult(values, stderr, counts, n_updates, n_evals, method, params)


def leave_one_out(utility: UtilityLike, *, executor: Executor | None = None) -> np.ndarray:
    """Return ``U(all) - U(all minus i)`` for every training row (one shard per row).

    Examples
    --------
    >>> import numpy as np
    >>> u = KNNUtility(np.array([[0.0], [0.1], [5.0]]), np.array([0, 0, 1]), np.array([[0.0], [5.0]]), np.array([0, 1]), k=1)
    >>> leave_one_out(u).tolist()
    [0.0, 0.0, 0.5]
    """
    n = utility.n
    full = utility(np.arange(n))
    everyone = np.arange(n)

    def drop(shard: Shard) -> np.ndarray:
        return np.array([full - utility(np.delete(everyone, i)) for i in range(shard.start, shard.stop)])

    shards = make_shards(n, shard_size=max(1, math.ceil(n / 16)))
    return np.concatenate(list((executor or LocalExecutor()).map(drop, shards)))


# =========================================================================== scorers
class _SampledValueScorer(BaseScorer):
    """Shared plumbing: build the utility from ``valid``, run the estimator, scatter values.

    After ``score``, ``stderr_`` holds each row's standard error (NaN for validation rows)
    for the rows ``row_ids_`` (the table in row-id order).
    """

    higher_is_better = True
    requires = frozenset({"embeddings", "label"})
    is_stochastic = True

    valid: Table | str
    estimator: Any
    metric: str
    max_updates: int
    max_stderr: float | None
    batch_size: int
    executor: Executor | None

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        raise NotImplementedError

    def _stopping(self) -> StoppingRule:
        check_int(self.max_updates, "max_updates", type(self).__name__, low=1)
        rule: StoppingRule = MaxUpdates(self.max_updates)
        if self.max_stderr is not None:
            rule = rule | StandardError(check_float(self.max_stderr, "max_stderr", type(self).__name__, low=0.0))
        return rule

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        split = resolve_valid(table, self.valid, type(self).__name__, allow_none=False)
        assert split.X_valid is not None
        pos = split.train_positions
        utility = Utility(
            table.embeddings[pos], np.asarray(table.labels)[pos], split.X_valid, split.y_valid,
            estimator=self.estimator, metric=self.metric,
        )
        result = self._run(utility, rng)
        # learned state (trailing underscore): standard errors aligned with ``row_ids_``
        self.stderr_ = _scatter(table, split, result.stderr)
        self.row_ids_ = table.row_id
        return _scatter(table, split, result.values)

    @classmethod
    def conformance_table(cls) -> Table:
        return valuation_conformance_table(n=24)


def _example_estimator() -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=1)


@register_scorer("tmc_shapley")
class TMCShapley(_SampledValueScorer):
    """Score each row by its truncated Monte Carlo Shapley value (Ghorbani & Zou 2019).

    Parameters
    ----------
    valid
        A validation :class:`Table` or a ``split`` value naming the validation rows (they get NaN).
    estimator
        Any scikit-learn classifier; ``None``: scaled logistic regression.
    metric
        ``"accuracy"`` or a scikit-learn scorer name.
    truncation
        Relative truncation tolerance (0 disables truncation).
    max_updates
        Permutations at most.
    max_stderr
        Stop earlier once every row's standard error is at most this.
    batch_size
        Permutations per round (shards of ``executor``).
    executor
        Where utility evaluations run.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = TMCShapley(valid="v", estimator=KNeighborsClassifier(1), max_updates=32).score(t, seed=0)
    >>> round(float(np.nansum(v)), 6)  # efficiency: U(all) - U(empty) = 1 - 0
    1.0
    """

    name = "tmc_shapley"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        truncation: float = 0.01,
        max_updates: int = 200,
        max_stderr: float | None = None,
        batch_size: int = 8,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.truncation = truncation
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        return compute_semivalues(
            utility, PermutationSampler(self.truncation), self._stopping(), seed=rng,
            batch_size=self.batch_size, executor=self.executor,
        )

    @classmethod
    def make_example(cls) -> TMCShapley:
        return cls(estimator=_example_estimator(), max_updates=8)


@register_scorer("beta_shapley")
class BetaShapley(_SampledValueScorer):
    """Score each row by its Beta(alpha, beta)-Shapley value (Kwon & Zou 2022), by permutation sampling.

    Parameters are those of :class:`TMCShapley` plus ``alpha`` and ``beta`` (Beta(16, 1),
    the paper's recommendation, weights small subsets most).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = BetaShapley(valid="v", estimator=KNeighborsClassifier(1), max_updates=64).score(t, seed=0)
    >>> v.shape
    (5,)
    """

    name = "beta_shapley"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        alpha: float = 16.0,
        beta: float = 1.0,
        truncation: float = 0.0,
        max_updates: int = 200,
        max_stderr: float | None = None,
        batch_size: int = 8,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.alpha = alpha
        self.beta = beta
        self.truncation = truncation
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        owner = type(self).__name__
        a = check_float(self.alpha, "alpha", owner, low=0.0, low_open=True)
        b = check_float(self.beta, "beta", owner, low=0.0, low_open=True)
        return compute_semivalues(
            utility, PermutationSampler(self.truncation), self._stopping(), weights="beta", alpha=a, beta=b,
            seed=rng, batch_size=self.batch_size, executor=self.executor,
        )

    @classmethod
    def make_example(cls) -> BetaShapley:
        return cls(estimator=_example_estimator(), max_updates=8)


@register_scorer("banzhaf")
class DataBanzhaf(_SampledValueScorer):
    """Score each row by its Data Banzhaf value (Wang & Jia 2023), maximum-sample-reuse estimator.

    Parameters are those of :class:`TMCShapley` without ``truncation``; ``max_updates``
    counts sampled subsets (one utility evaluation each).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> t = Table(columns={"label": np.array([0, 1, 0, 0, 1]), "split": np.array(["t", "t", "t", "v", "v"])},
    ...           matrices={"embeddings": np.array([[0.0], [5.0], [9.0], [0.1], [5.2]])})
    >>> v = DataBanzhaf(valid="v", estimator=KNeighborsClassifier(1), max_updates=400).score(t, seed=0)
    >>> bool(v[0] > v[2] and v[1] > v[2])
    True
    """

    name = "banzhaf"

    def __init__(
        self,
        valid: Table | str = "valid",
        estimator: Any = None,
        metric: str = "accuracy",
        max_updates: int = 1000,
        max_stderr: float | None = None,
        batch_size: int = 32,
        executor: Executor | None = None,
    ) -> None:
        self.valid = valid
        self.estimator = estimator
        self.metric = metric
        self.max_updates = max_updates
        self.max_stderr = max_stderr
        self.batch_size = batch_size
        self.executor = executor

    def _run(self, utility: Utility, rng: np.random.Generator) -> SemivalueResult:
        return compute_semivalues(
            utility, MSRSampler(), self._stopping(), seed=rng, batch_size=self.batch_size, executor=self.executor
        )

    @classmethod
    def make_example(cls) -> DataBanzhaf:
        return cls(estimator=_example_estimator(), max_updates=64)
