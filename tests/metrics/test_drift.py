"""Two-sample and non-IID tests: hand-computed statistics, calibration under the null, power."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.metrics.drift import NonIID, knn_two_sample_test, median_heuristic_gamma, mmd_test, non_iid_test

N_DRAWS = 200


def _null_rejection_rate(test, n: int = 30, d: int = 3) -> float:
    rejections = 0
    for i in range(N_DRAWS):
        rng = np.random.default_rng(10_000 + i)
        X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        rejections += test(X, Y, i) <= 0.05
    return rejections / N_DRAWS


@pytest.mark.parametrize(
    "name",
    ["knn", "mmd", "non_iid"],
)
def test_calibrated_under_the_null(name: str) -> None:
    tests = {
        "knn": lambda X, Y, s: knn_two_sample_test(X, Y, 5, n_permutations=99, seed=s).p_value,
        "mmd": lambda X, Y, s: mmd_test(X, Y, n_permutations=99, seed=s).p_value,
        "non_iid": lambda X, Y, s: non_iid_test(np.vstack([X, Y]), 5, n_permutations=99, seed=s).p_value,
    }
    rate = _null_rejection_rate(tests[name])
    assert 0.02 <= rate <= 0.09, rate


def test_reject_under_planted_shift() -> None:
    rejected = {"knn": 0, "mmd": 0}
    for i in range(20):
        rng = np.random.default_rng(i)
        X, Y = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
        Y[:, 0] += 1.0  # mean shift of one standard deviation along one axis
        rejected["knn"] += knn_two_sample_test(X, Y, 5, n_permutations=99, seed=i).p_value <= 0.05
        rejected["mmd"] += mmd_test(X, Y, n_permutations=99, seed=i).p_value <= 0.05
    assert rejected["knn"] >= 16 and rejected["mmd"] >= 18, rejected


def test_non_iid_detects_sorted_and_drifting_order() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    drifting = X + np.linspace(0, 3, 120)[:, None]  # slow drift along the row order
    assert non_iid_test(drifting, 5, n_permutations=99, seed=0).p_value == 0.01
    by_class = np.repeat(rng.normal(scale=5, size=(4, 2)), 30, axis=0) + rng.normal(size=(120, 2))
    assert non_iid_test(by_class, 5, n_permutations=99, seed=0).p_value == 0.01
    r = NonIID(k=5, n_permutations=99).compute(Table(matrices={"embeddings": by_class}), seed=0)
    assert r.value == 0.01 and r.details["statistic"] < r.details["params"]["expected_gap"]


def test_knn_statistic_by_hand() -> None:
    # X at 0, 0.1; Y at 10, 10.1: every 1-NN is in the own sample -> statistic 1
    X, Y = np.array([[0.0], [0.1]]), np.array([[10.0], [10.1]])
    r = knn_two_sample_test(X, Y, 1, n_permutations=50, seed=0)
    assert r.statistic == 1.0
    # 4 points, 1-NN pairs (0,1),(1,0),(2,3),(3,2): a relabelling keeps the statistic 1 iff
    # the pairs stay together: 2 of the 6 labellings -> P(T_b >= 1) = 1/3
    null = []
    for s in range(3):
        null.append(knn_two_sample_test(X, Y, 1, n_permutations=3000, seed=s).null_mean)
    assert np.mean(null) == pytest.approx(1 / 3, abs=0.02)


def test_mmd_statistic_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(9, 2)), rng.normal(size=(7, 2)) + 0.5
    g = 0.7
    k = lambda a, b: np.exp(-g * np.sum((a - b) ** 2))  # noqa: E731
    xx = sum(k(X[i], X[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    yy = sum(k(Y[i], Y[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    xy = sum(k(x, y) for x in X for y in Y) / (9 * 7)
    r = mmd_test(X, Y, gamma=g, n_permutations=20, seed=0, block=4)
    assert r.statistic == pytest.approx(xx + yy - 2 * xy, abs=1e-12)


def test_non_iid_null_mean_is_closed_form() -> None:
    X = np.random.default_rng(3).normal(size=(50, 2))
    r = non_iid_test(X, 4, n_permutations=2000, seed=0)
    assert r.null_mean == pytest.approx(51 / 3, rel=0.01)


def test_median_heuristic_by_hand() -> None:
    # squared distances 1, 4, 9, 1, 4, 1 -> median 2.5
    assert median_heuristic_gamma(np.array([[0.0], [1.0], [2.0], [3.0]])) == pytest.approx(1 / 2.5)
