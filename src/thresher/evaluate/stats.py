"""Paired statistics over seeds and test rows: differences, intervals, multiple testing.

An evaluation trains every arm with the same model seeds and scores it on the same test
rows, so the natural unit of evidence is the per-(seed, test row) difference
``D[s, i] = m_arm[s, i] - m_base[s, i]`` of a row-level metric (correctness, log-loss).
Its mean has two sources of variance: the seeds (training randomness, including the
selector's own randomness) and the test sample (the test rows are one draw from the
population the user cares about). :func:`paired_difference` treats ``D`` as a two-way
crossed random-effects layout (seed x test row; Searle, Casella & McCulloch, *Variance
Components*, 1992, ch. 4) and estimates

    Var(mean D) = sigma_seed^2 / S + sigma_row^2 / N + sigma_resid^2 / (S N)

from the ANOVA mean squares, with Welch-Satterthwaite degrees of freedom for the
Student-t interval. With ``test_variance=False`` only the seed term is kept and the
interval is exactly the classical paired-t interval over the S per-seed differences. A
deterministic arm still gets a non-zero interval from the test-row term.

Metrics that are not means of row values (macro-F1, balanced accuracy) get a paired
two-way ("pigeonhole") bootstrap, :func:`paired_bootstrap` (Owen, "The pigeonhole
bootstrap", Ann. Appl. Stat. 2007): seeds and test rows are resampled independently and
the same resample is applied to both arms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from thresher._typing import Seed, as_generator
from thresher._validation import check_float, check_int, fail

__all__ = [
    "mean_ci",
    "PairedDifference",
    "paired_difference",
    "paired_bootstrap",
    "accuracy_interval",
    "wilson_interval",
    "holm",
    "verdict",
    "MIN_SEEDS_FOR_VERDICT",
]

MIN_SEEDS_FOR_VERDICT = 5


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Return (mean, low, high): a Student-t confidence interval of the mean.

    With one value the interval collapses to the value.

    Examples
    --------
    >>> m, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]))
    >>> m, round(lo, 4), round(hi, 4)
    (2.0, -0.4841, 4.4841)
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


@dataclass(frozen=True)
class PairedDifference:
    """Mean paired difference with its interval, standard error, t degrees of freedom and p-value."""

    mean: float
    low: float
    high: float
    se: float
    df: float
    p_value: float
    n_seeds: int
    n_test: int
    var_seed: float
    var_test: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_matrix(D: Any, name: str, owner: str) -> np.ndarray:
    arr = np.asarray(D, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.size == 0:
        raise fail(name, owner, "a non-empty (n_seeds, n_test) array", arr.shape)
    if not np.all(np.isfinite(arr)):
        raise fail(name, owner, "finite values", "non-finite entries")
    return arr


def _variance_terms(D: np.ndarray) -> tuple[float, float, float]:
    """Return (seed term, test term, residual term) of Var(mean D) from ANOVA mean squares."""
    S, N = D.shape
    row = D.mean(axis=1)  # per-seed means
    col = D.mean(axis=0)  # per-test-row means
    grand = float(D.mean())
    ms_seed = N * float(np.sum((row - grand) ** 2)) / (S - 1) if S > 1 else np.nan
    ms_test = S * float(np.sum((col - grand) ** 2)) / (N - 1) if N > 1 else np.nan
    if S > 1 and N > 1:
        resid = D - row[:, None] - col[None, :] + grand
        ms_resid = float(np.sum(resid**2)) / ((S - 1) * (N - 1))
    else:
        ms_resid = np.nan
    # E[ms_seed] = N s_a^2 + s_e^2 ; E[ms_test] = S s_b^2 + s_e^2 ; E[ms_resid] = s_e^2
    # Var(mean) = s_a^2/S + s_b^2/N + s_e^2/(SN) = (ms_seed + ms_test - ms_resid) / (SN)
    return ms_seed / (S * N), ms_test / (S * N), ms_resid / (S * N)


def paired_difference(
    D: Any, confidence: float = 0.95, *, test_variance: bool = True, null: float = 0.0
) -> PairedDifference:
    """Return the mean of paired differences ``D`` (seeds x test rows) with a t interval.

    Parameters
    ----------
    D
        ``(n_seeds, n_test)`` differences of a row-level metric between two arms trained
        with the same seeds and scored on the same test rows (a 1-D array is one seed).
    test_variance
        Count the test-sample variance (default). Off, the interval is the classical
        paired-t interval over the per-seed mean differences.
    null
        Difference under the null hypothesis of the two-sided p-value.

    Examples
    --------
    >>> D = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    >>> r = paired_difference(D, test_variance=False)
    >>> round(r.mean, 4), round(r.low, 4), round(r.high, 4)
    (0.5833, 0.2248, 0.9419)
    >>> paired_difference(D).high > r.high
    True
    """
    from scipy import stats

    owner = "paired_difference"
    check_float(confidence, "confidence", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    arr = _check_matrix(D, "D", owner)
    S, N = arr.shape
    mean = float(arr.mean())
    v_seed, v_test, v_resid = _variance_terms(arr)
    if test_variance:
        if S > 1 and N > 1:
            var = v_seed + v_test - v_resid
            # the two single-factor terms each estimate a part of the variance from below
            var = max(var, v_seed, v_test)
        elif S > 1:
            var = v_seed
        else:
            var = v_test
        # Welch-Satterthwaite for a sum of mean squares with S-1 and N-1 degrees of freedom
        parts = [(v_seed, S - 1), (v_test, N - 1)]
        denom = sum(p * p / d for p, d in parts if d > 0 and np.isfinite(p))
        df = (var * var / denom) if denom > 0 else np.inf
    else:
        var = v_seed
        df = float(S - 1)
    if not np.isfinite(var) or df <= 0:
        return PairedDifference(mean, np.nan, np.nan, np.nan, np.nan, np.nan, S, N, float(v_seed), float(v_test))
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        p = 1.0 if mean == null else 0.0
        return PairedDifference(mean, mean, mean, 0.0, float(df), p, S, N, float(v_seed), float(v_test))
    tq = float(stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * stats.t.sf(abs(mean - null) / se, df))
    return PairedDifference(mean, mean - tq * se, mean + tq * se, se, float(df), p, S, N, float(v_seed), float(v_test))


def paired_bootstrap(
    stat: Callable[[np.ndarray, np.ndarray], np.ndarray],
    a: Any,
    b: Any,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> tuple[float, float, float, float]:
    """Return (mean difference, low, high, p-value) of a set-level statistic by a two-way bootstrap.

    ``stat(x, idx)`` computes the statistic of one seed's row values ``x`` (e.g. predicted
    labels) restricted to the test rows ``idx`` (an ``(n_boot, n)`` array of positions) and
    returns one value per resample. Each replicate resamples seeds and test rows with
    replacement, independently, and uses the same draw for both arms ``a`` and ``b``
    (``(n_seeds, n_test)`` arrays); the interval is the percentile interval of the mean
    over resampled seeds of ``stat(a) - stat(b)``; the p-value is twice the smaller
    share of replicates on either side of zero.

    Examples
    --------
    >>> acc = lambda x, idx: x[idx].mean(axis=1)
    >>> a = np.ones((3, 50)); b = np.zeros((3, 50))
    >>> paired_bootstrap(acc, a, b, n_boot=200)
    (1.0, 1.0, 1.0, 0.0)
    """
    owner = "paired_bootstrap"
    check_int(n_boot, "n_boot", owner, low=10)
    A = np.asarray(a)
    B = np.asarray(b)
    if A.ndim == 1:
        A, B = A[None, :], B[None, :]
    if A.shape != B.shape or A.ndim != 2:
        raise fail("b", owner, f"the shape of `a` {A.shape}", B.shape)
    S, N = A.shape
    rng = as_generator(seed)
    point = float(np.mean([stat(A[s], np.arange(N)[None, :])[0] - stat(B[s], np.arange(N)[None, :])[0] for s in range(S)]))
    idx = rng.integers(0, N, size=(n_boot, N))
    per_seed = np.stack([stat(A[s], idx) - stat(B[s], idx) for s in range(S)], axis=1)  # (n_boot, S)
    seeds = rng.integers(0, S, size=(n_boot, S))
    reps = np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1)
    lo, hi = np.quantile(reps, [0.5 - confidence / 2, 0.5 + confidence / 2])
    p = min(1.0, 2 * min(float(np.mean(reps <= 0)), float(np.mean(reps >= 0))))
    return point, float(lo), float(hi), p


def wilson_interval(p: float, n_eff: float, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion ``p`` from ``n_eff`` effective trials.

    It stays inside [0, 1] whatever ``p`` (Wilson, JASA 1927).

    Examples
    --------
    >>> lo, hi = wilson_interval(1.0, 100)
    >>> round(lo, 4), hi
    (0.963, 1.0)
    """
    from scipy import stats

    if not np.isfinite(n_eff) or n_eff <= 0:
        return float(p), float(p)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    denom = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * np.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    # the interval always contains p (rounding can put an end a hair inside it at p = 0 or 1)
    return float(max(0.0, min(p, centre - half))), float(min(1.0, max(p, centre + half)))


def accuracy_interval(correct: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """Return (accuracy, low, high) for 0/1 correctness ``(n_seeds, n_test)``, inside [0, 1].

    The variance of the mean counts seeds and test rows (as in :func:`paired_difference`);
    it is turned into an effective number of trials for a Wilson interval.

    Examples
    --------
    >>> c = np.ones((5, 200)); c[:, :10] = 0
    >>> m, lo, hi = accuracy_interval(c)
    >>> m, 0.9 < lo < m < hi < 1.0
    (0.95, True)
    """
    arr = _check_matrix(correct, "correct", "accuracy_interval")
    p = float(arr.mean())
    r = paired_difference(arr) if arr.size > 1 else None
    var = r.se**2 if r is not None and np.isfinite(r.se) else 0.0
    if var <= 0 or p in (0.0, 1.0):
        n_eff = float(arr.shape[1])  # binomial over the test rows: the least one can say
    else:
        n_eff = p * (1 - p) / var
    return (p, *wilson_interval(p, n_eff, confidence))


def holm(p_values: Any) -> np.ndarray:
    """Return Holm step-down adjusted p-values (Holm, Scand. J. Statist. 1979); NaN stays NaN.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def verdict(mean: float, p_holm: float, n_seeds: int, alpha: float = 0.05, *, min_seeds: int = MIN_SEEDS_FOR_VERDICT) -> str:
    """Return "better", "worse", "no detectable difference" or "too few seeds (n < 5)".

    Examples
    --------
    >>> verdict(0.01, 0.001, 5), verdict(-0.01, 0.001, 5), verdict(0.01, 0.2, 5), verdict(0.01, 0.001, 3)
    ('better', 'worse', 'no detectable difference', 'too few seeds (3 < 5)')
    """
    if n_seeds < min_seeds:
        return f"too few seeds ({n_seeds} < {min_seeds})"
    if not np.isfinite(p_holm) or p_holm >= alpha:
        return "no detectable difference"
    return "better" if mean > 0 else "worse"
