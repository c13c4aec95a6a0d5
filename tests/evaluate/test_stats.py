"""Paired statistics: closed forms, the classical paired t, and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from thresher.evaluate.stats import (
    accuracy_interval,
    holm,
    paired_bootstrap,
    paired_difference,
    verdict,
    wilson_interval,
)


def test_reduces_to_the_classical_paired_t_without_test_variance() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((6, 40)) < 0.8
    b = rng.random((6, 40)) < 0.7
    r = paired_difference(a.astype(float) - b, test_variance=False)
    per_seed = a.mean(axis=1) - b.mean(axis=1)
    t = stats.ttest_rel(a.mean(axis=1), b.mean(axis=1))
    ci = t.confidence_interval(0.95)
    assert r.mean == pytest.approx(per_seed.mean())
    assert (r.low, r.high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert r.p_value == pytest.approx(t.pvalue, rel=1e-10)
    assert r.df == 5


def test_deterministic_arm_gets_the_test_row_interval() -> None:
    # every seed gives the same predictions: no seed variance, but the test sample still varies
    rng = np.random.default_rng(1)
    row = (rng.random(500) < 0.85).astype(float) - (rng.random(500) < 0.80)
    D = np.tile(row, (5, 1))
    r = paired_difference(D)
    assert r.var_seed == 0.0
    se = row.std(ddof=1) / np.sqrt(len(row))  # the paired z/t over test rows
    assert r.se == pytest.approx(se, rel=1e-9)
    assert r.high - r.low > 0.05
    # the seed-only interval collapses, which is what the report used to show
    assert paired_difference(D, test_variance=False).high == pytest.approx(r.mean)


def test_variance_is_the_anova_estimate_on_a_balanced_layout() -> None:
    # hand computation of (MS_seed + MS_test - MS_resid) / (S N)
    D = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])
    S, N = D.shape
    g = D.mean()
    ms_a = N * ((D.mean(1) - g) ** 2).sum() / (S - 1)
    ms_b = S * ((D.mean(0) - g) ** 2).sum() / (N - 1)
    res = D - D.mean(1, keepdims=True) - D.mean(0, keepdims=True) + g
    ms_e = (res**2).sum() / ((S - 1) * (N - 1))
    expected = max((ms_a + ms_b - ms_e) / (S * N), ms_a / (S * N), ms_b / (S * N))
    assert paired_difference(D).se ** 2 == pytest.approx(expected)


def _coverage(n_rep: int, S: int, N: int, binary: bool, seed: int) -> tuple[float, float]:
    """Coverage of the crossed-design interval and of the seed-only paired-t interval."""
    rng = np.random.default_rng(seed)
    hit = hit_t = 0
    true = 0.02
    if binary:
        # population mean difference of the binary model, by a large Monte Carlo sample
        big = np.random.default_rng(99)
        b0 = big.uniform(0.55, 0.9, size=4_000_000)
        eff = big.normal(true, 0.3, size=b0.size)
        sa, sb = big.normal(0, 0.005, size=b0.size), big.normal(0, 0.005, size=b0.size)
        binary_target = float(np.mean(np.clip(b0 + eff + sa, 0, 1) - np.clip(b0 + sb, 0, 1)))
    for _ in range(n_rep):
        if binary:
            # correctness of two arms: the arm helps on some rows and hurts on others
            # (a per-row effect), each seed shifts both arms a little, and both arms tend to
            # err on the same rows (a shared uniform); the truth is the population mean
            base = rng.uniform(0.55, 0.9, size=N)
            effect = rng.normal(true, 0.3, size=N)
            u = rng.random((S, N))
            a = u < np.clip(base + effect + rng.normal(0, 0.005, size=(S, 1)), 0, 1)
            b = u < np.clip(base + rng.normal(0, 0.005, size=(S, 1)), 0, 1)
            D = a.astype(float) - b
            target = binary_target
        else:
            D = true + rng.normal(0, 0.02, size=(S, 1)) + rng.normal(0, 0.3, size=(1, N)) + rng.normal(0, 0.3, size=(S, N))
            target = true
        r = paired_difference(D)
        hit += r.low <= target <= r.high
        t = paired_difference(D, test_variance=False)
        hit_t += t.low <= target <= t.high
    return hit / n_rep, hit_t / n_rep


def test_coverage_is_near_95_percent_in_a_crossed_simulation() -> None:
    cov, cov_t = _coverage(400, S=5, N=300, binary=False, seed=2)
    # 400 replications: a binomial standard error of 0.011
    assert 0.925 <= cov <= 0.975
    # ignoring the test sample undercovers badly in this setting
    assert cov_t < 0.8


@pytest.mark.slow
def test_coverage_is_near_95_percent_for_correctness_differences() -> None:
    cov, cov_t = _coverage(600, S=5, N=1000, binary=True, seed=3)
    assert 0.93 <= cov <= 0.975
    assert cov_t < 0.9


def test_wilson_matches_the_closed_form_and_stays_in_the_unit_interval() -> None:
    p, n, z = 0.9, 50, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(p, n) == pytest.approx((centre - half, centre + half))
    for p in (0.0, 0.999, 1.0):
        lo, hi = wilson_interval(p, 10)
        assert 0.0 <= lo <= p <= hi <= 1.0


def test_accuracy_interval_inside_unit_interval_and_counts_seed_variance() -> None:
    rng = np.random.default_rng(4)
    near_one = rng.random((5, 300)) < 0.995
    m, lo, hi = accuracy_interval(near_one)
    assert 0.0 <= lo <= m <= hi <= 1.0
    # seeds that disagree a lot widen the interval beyond the single-sample binomial one
    noisy = np.vstack([rng.random(300) < p for p in (0.6, 0.7, 0.8, 0.9, 0.95)])
    _, lo2, hi2 = accuracy_interval(noisy)
    blo, bhi = wilson_interval(noisy.mean(), noisy.size)
    assert hi2 - lo2 > bhi - blo


def test_holm_matches_a_hand_computation() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    out = holm(p)
    np.testing.assert_allclose(out[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(out[4])


def test_verdicts() -> None:
    assert verdict(0.01, 0.01, 5) == "better"
    assert verdict(-0.01, 0.01, 6) == "worse"
    assert verdict(0.01, 0.06, 5) == "no detectable difference"
    assert verdict(0.01, 0.0, 4).startswith("too few seeds")


def test_paired_bootstrap_of_accuracy_agrees_with_the_analytic_interval() -> None:
    rng = np.random.default_rng(5)
    a = (rng.random((5, 2000)) < 0.8).astype(float)
    b = (rng.random((5, 2000)) < 0.75).astype(float)

    def acc(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return x[idx].mean(axis=1)

    m, lo, hi, p = paired_bootstrap(acc, a, b, n_boot=2000, seed=0)
    r = paired_difference(a - b)
    assert m == pytest.approx(r.mean)
    # pure residual noise: the pigeonhole bootstrap counts it twice (up to sqrt(2) wider)
    assert 1.0 < (hi - lo) / (r.high - r.low) < 1.5
    assert p < 0.01
