"""Samplers of semivalue estimators: what is drawn, and how it updates the running estimate.

* :class:`PermutationSampler` walks random permutations and reads every row's marginal
  contribution off the prefixes; with ``truncation > 0`` it stops a permutation once the
  prefix utility is within ``truncation * |U(all)|`` of ``U(all)`` (TMC-Shapley, Ghorbani
  & Zou, ICML 2019). For Beta-Shapley each marginal is importance-weighted by ``n p_k``
  (the prefix size of a random permutation is uniform over 0..n-1).
* :class:`MSRSampler` draws subsets with each row in with probability 1/2 and reuses
  every utility value for every row: ``phi_i = mean U(S | i in S) - mean U(S | i not in S)``
  (the maximum-sample-reuse estimator of Data Banzhaf, Wang & Jia, AISTATS 2023).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresher._validation import check_float
from thresher.scores.utility import UtilityLike

__all__ = ["PermutationSampler", "MSRSampler"]


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

