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

Where the parts live: utilities in :mod:`thresher.scores.utility`, samplers in
:mod:`thresher.scores.samplers`, stopping rules in :mod:`thresher.scores.stopping`, this
estimator and the scorers' shared base here, the registered scorers in
:mod:`thresher.scores.shapley` (TMC, Beta) and :mod:`thresher.scores.banzhaf`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thresher._typing import Seed, seed_int
from thresher._validation import check_float, check_int, fail
from thresher.data.table import Table
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards, spawn_seeds
from thresher.scores.base import BaseScorer
from thresher.scores.samplers import MSRSampler, PermutationSampler
from thresher.scores.stopping import MaxUpdates, Progress, StandardError, StoppingRule
from thresher.scores.utility import Utility, UtilityLike
from thresher.scores.valuation import resolve_valid, scatter_values, valuation_conformance_table

__all__ = ["semivalue_weights", "SemivalueResult", "compute_semivalues", "SampledValueScorer"]

log = logging.getLogger(__name__)


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
    >>> from thresher.scores.utility import KNNUtility
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


# =========================================================================== scorers
class SampledValueScorer(BaseScorer):
    """Build the utility from ``valid``, run the estimator, scatter the values: the sampled scorers' base.

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
        self.stderr_ = scatter_values(table, split, result.stderr)
        self.row_ids_ = table.row_id
        return scatter_values(table, split, result.values)

    @classmethod
    def conformance_table(cls) -> Table:
        return valuation_conformance_table(n=24)


def example_estimator() -> Any:
    """Return the 1-nearest-neighbour classifier the scorers' ``make_example`` use (fast, deterministic)."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=1)

