"""Stopping rules for sampled estimators: number of updates, wall time, standard error, and ``|``.

Following pyDVL's composition (a utility, a sampler and a stopping rule), a rule is a
callable on a :class:`Progress`; ``a | b`` stops when either does.

Examples
--------
>>> rule = MaxUpdates(100) | StandardError(0.01)
>>> rule(Progress(n_updates=100, n_evaluations=0, elapsed_s=0.0, max_stderr=1.0))
True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "StoppingRule", "MaxUpdates", "MaxTime", "StandardError"]


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

