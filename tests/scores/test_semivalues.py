"""Sampled semivalues against exact values by enumerating every subset (n <= 10)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import beta as beta_fn

from thresher.data.table import Table
from thresher.scores.banzhaf import DataBanzhaf
from thresher.scores.samplers import MSRSampler, PermutationSampler
from thresher.scores.semivalues import compute_semivalues, semivalue_weights
from thresher.scores.shapley import TMCShapley
from thresher.scores.stopping import MaxTime, MaxUpdates, StandardError
from thresher.scores.utility import KNNUtility, Utility


# ----------------------------------------------------------------------------- independent ground truth
def brute_knn_utility(X, y, Xv, yv, K):
    def U(S):
        if not S:
            return 0.0
        total = 0.0
        for xt, yt in zip(Xv, yv):
            d = sorted((float(np.sum((X[i] - xt) ** 2)), i) for i in S)
            total += sum(1.0 for _, i in d[:K] if y[i] == yt) / K
        return total / len(yv)

    return U


def brute_model_utility(X, y, Xv, yv):
    """Fit a fresh logistic regression per subset (constant model for one class, 0 for empty)."""
    from sklearn.linear_model import LogisticRegression

    def U(S):
        if not S:
            return 0.0
        idx = list(S)
        if len(set(y[idx].tolist())) == 1:
            return float(np.mean(yv == y[idx][0]))
        return float(LogisticRegression().fit(X[idx], y[idx]).score(Xv, yv))

    return U


def exact_semivalue(n, U, weight_of_size):
    """phi_i = sum_S w(|S|) (U(S+i) - U(S)), w(k) = weight of one particular subset of size k."""
    cache = {}

    def u(S):
        if S not in cache:
            cache[S] = U(S)
        return cache[S]

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            for S in itertools.combinations(others, r):
                phi[i] += weight_of_size(r) * (u(tuple(sorted(S + (i,)))) - u(S))
    return phi


def shapley_w(n):
    return lambda k: math.factorial(k) * math.factorial(n - 1 - k) / math.factorial(n)


def banzhaf_w(n):
    return lambda k: 1.0 / 2 ** (n - 1)


def beta_w(n, a, b):
    # Kwon & Zou (2022): weight of one subset of size k is B(k + beta, n - 1 - k + alpha) / B(alpha, beta)
    return lambda k: beta_fn(k + b, n - 1 - k + a) / beta_fn(a, b)


def _toy(n=7, m=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    Xv = rng.normal(size=(m, 2))
    yv = (Xv[:, 0] > 0).astype(int)
    return X, y, Xv, yv


def _within_3_se(est, exact, se):
    bad = np.abs(est - exact) > 3 * se + 1e-12
    assert not bad.any(), f"outside 3 SE at {np.flatnonzero(bad)}: est {est[bad]}, exact {exact[bad]}, se {se[bad]}"


# ----------------------------------------------------------------------------- weights
def test_semivalue_weights_match_closed_forms() -> None:
    n = 6
    for kind, w in [("shapley", shapley_w(n)), ("banzhaf", banzhaf_w(n)), ("beta", beta_w(n, 16.0, 1.0))]:
        p = semivalue_weights(n, kind, 16.0, 1.0)
        expected = [math.comb(n - 1, k) * w(k) for k in range(n)]
        np.testing.assert_allclose(p, expected, rtol=1e-12)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(semivalue_weights(n, "beta", 1.0, 1.0), semivalue_weights(n, "shapley"), rtol=1e-12)


# ----------------------------------------------------------------------------- utilities
def test_utilities_match_brute_force() -> None:
    X, y, Xv, yv = _toy()
    ku, bu = KNNUtility(X, y, Xv, yv, k=3), brute_knn_utility(X, y, Xv, yv, 3)
    mu, bm = Utility(X, y, Xv, yv), brute_model_utility(X, y, Xv, yv)
    from sklearn.linear_model import LogisticRegression

    mu = Utility(X, y, Xv, yv, estimator=LogisticRegression())
    for r in range(0, 8):
        for S in itertools.combinations(range(7), r):
            assert ku(np.array(S, dtype=int)) == pytest.approx(bu(S), abs=1e-12)
            if r in (0, 1, 3, 7):
                assert mu(np.array(S, dtype=int)) == pytest.approx(bm(S), abs=1e-12)


def test_knn_shapley_closed_form_equals_exact_shapley_of_knn_utility() -> None:
    from thresher.scores.knn_shapley import knn_shapley

    X, y, Xv, yv = _toy(n=8, m=3, seed=2)
    exact = exact_semivalue(8, brute_knn_utility(X, y, Xv, yv, 3), shapley_w(8))
    np.testing.assert_allclose(knn_shapley(X, y, Xv, yv, k=3), exact, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- sampled vs exact
@pytest.mark.parametrize("which", ["knn", "model"])
def test_tmc_shapley_within_3_se_of_enumeration(which: str) -> None:
    n = 7 if which == "knn" else 6  # 2^n subsets; the model utility refits per subset
    X, y, Xv, yv = _toy(n=n, seed=1)
    if which == "knn":
        util, brute = KNNUtility(X, y, Xv, yv, k=3), brute_knn_utility(X, y, Xv, yv, 3)
    else:
        from sklearn.linear_model import LogisticRegression

        util, brute = Utility(X, y, Xv, yv, estimator=LogisticRegression()), brute_model_utility(X, y, Xv, yv)
    exact = exact_semivalue(n, brute, shapley_w(n))
    r = compute_semivalues(util, PermutationSampler(truncation=0.0), MaxUpdates(400), seed=0, batch_size=50)
    assert r.n_updates == 400
    _within_3_se(r.values, exact, r.stderr)
    # efficiency holds exactly for every permutation, hence for their mean
    assert r.values.sum() == pytest.approx(brute(tuple(range(n))) - 0.0, abs=1e-12)


@pytest.mark.parametrize("which", ["knn", "model"])
def test_banzhaf_msr_within_3_se_of_enumeration(which: str) -> None:
    n = 7 if which == "knn" else 6
    X, y, Xv, yv = _toy(n=n, seed=3)
    if which == "knn":
        util, brute = KNNUtility(X, y, Xv, yv, k=2), brute_knn_utility(X, y, Xv, yv, 2)
    else:
        from sklearn.linear_model import LogisticRegression

        util, brute = Utility(X, y, Xv, yv, estimator=LogisticRegression()), brute_model_utility(X, y, Xv, yv)
    exact = exact_semivalue(n, brute, banzhaf_w(n))
    r = compute_semivalues(util, MSRSampler(), MaxUpdates(2000), seed=1, batch_size=200)
    _within_3_se(r.values, exact, r.stderr)


def test_beta_shapley_within_3_se_of_enumeration() -> None:
    X, y, Xv, yv = _toy(seed=4)
    exact = exact_semivalue(7, brute_knn_utility(X, y, Xv, yv, 3), beta_w(7, 4.0, 1.0))
    r = compute_semivalues(
        KNNUtility(X, y, Xv, yv, k=3), PermutationSampler(), MaxUpdates(1500), weights="beta", alpha=4.0, beta=1.0,
        seed=2, batch_size=100,
    )
    _within_3_se(r.values, exact, r.stderr)


def test_truncation_saves_evaluations_and_keeps_efficiency() -> None:
    X, y, Xv, yv = _toy(n=9, seed=5)
    util = KNNUtility(X, y, Xv, yv, k=1)
    full = util(np.arange(9))
    r = compute_semivalues(util, PermutationSampler(truncation=0.05), MaxUpdates(60), seed=0, batch_size=20)
    assert r.n_evaluations < 1 + 60 * 9
    # truncated marginals are zero only once the prefix is within 5% of U(all)
    assert abs(r.values.sum() - full) <= 0.05 * abs(full) + 1e-12


# ----------------------------------------------------------------------------- stopping, progress, determinism
def test_stopping_rules_and_progress_callback() -> None:
    X, y, Xv, yv = _toy(seed=6)
    util = KNNUtility(X, y, Xv, yv, k=3)
    seen = []
    r = compute_semivalues(
        util, MSRSampler(), StandardError(0.02, min_updates=10) | MaxUpdates(100_000), seed=0, batch_size=20,
        callback=seen.append,
    )
    assert np.all(r.stderr <= 0.02) and r.n_updates < 100_000
    assert [p.n_updates for p in seen] == list(range(20, r.n_updates + 1, 20))
    assert seen[-1].max_stderr <= 0.02 < seen[-2].max_stderr
    r2 = compute_semivalues(util, MSRSampler(), MaxTime(0.0), seed=0, batch_size=5)
    assert r2.n_updates == 5  # one round, then the time limit stops it


def test_same_seed_same_values_and_scorer_on_split() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    X, y, Xv, yv = _toy(seed=7)
    t = Table(
        columns={"label": np.r_[y, yv], "split": np.array(["train"] * 7 + ["valid"] * 6, dtype=object)},
        matrices={"embeddings": np.r_[X, Xv]},
    )
    a = TMCShapley(estimator=KNeighborsClassifier(1), max_updates=16).score(t, seed=5)
    b = TMCShapley(estimator=KNeighborsClassifier(1), max_updates=16).score(t, seed=5)
    np.testing.assert_array_equal(a, b)
    assert np.isnan(a[7:]).all() and np.isfinite(a[:7]).all()
    v = DataBanzhaf(estimator=KNeighborsClassifier(1), max_updates=64).score(t, seed=0)
    assert np.isfinite(v[:7]).all()


@pytest.mark.ray
def test_semivalues_local_equals_ray(ray_local) -> None:
    from thresher.execute import get_executor

    X, y, Xv, yv = _toy(seed=8)
    util = KNNUtility(X, y, Xv, yv, k=3)
    a = compute_semivalues(util, PermutationSampler(0.01), MaxUpdates(32), seed=3, batch_size=8)
    b = compute_semivalues(
        util, PermutationSampler(0.01), MaxUpdates(32), seed=3, batch_size=8, executor=get_executor("ray")
    )
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.stderr, b.stderr)
