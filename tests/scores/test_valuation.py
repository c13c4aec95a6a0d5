"""KNN-Shapley against subset enumeration; Data-OOB and leave-one-out against direct computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.errors import InvalidParameterError, MissingColumnError
from thresher.scores.data_oob import DataOOB, data_oob
from thresher.scores.knn_shapley import KNNShapley, knn_shapley
from thresher.scores.loo import LeaveOneOut


# ----------------------------------------------------------------------------- brute force
def knn_utility_brute(S: tuple[int, ...], X: np.ndarray, y: np.ndarray, xt: np.ndarray, yt, K: int) -> float:
    """(1/K) * number of the min(K, |S|) nearest rows of S (ties: smaller index) with label yt."""
    if not S:
        return 0.0
    d = [(float(np.sum((X[i] - xt) ** 2)), i) for i in S]
    d.sort()
    return sum(1.0 for _, i in d[:K] if y[i] == yt) / K


def shapley_by_enumeration(n: int, U) -> np.ndarray:
    """Exact Shapley values: sum over all subsets S not containing i of |S|!(n-|S|-1)!/n! * marginal."""
    cache = {}

    def u(S):
        if S not in cache:
            cache[S] = U(S)
        return cache[S]

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
            for S in itertools.combinations(others, r):
                phi[i] += w * (u(tuple(sorted(S + (i,)))) - u(S))
    return phi


def _data(n: int, m: int, seed: int, n_classes: int = 3, dim: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    y = rng.integers(0, n_classes, size=n)
    Xt = rng.normal(size=(m, dim))
    yt = rng.integers(0, n_classes, size=m)
    return X, y, Xt, yt


# ----------------------------------------------------------------------------- KNN-Shapley
@pytest.mark.parametrize("K", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_knn_shapley_equals_enumeration(K: int, seed: int) -> None:
    X, y, Xt, yt = _data(8, 4, seed)
    got = knn_shapley(X, y, Xt, yt, k=K, batch_size=3)
    exact = np.mean(
        [shapley_by_enumeration(8, lambda S, t=t: knn_utility_brute(S, X, y, Xt[t], yt[t], K)) for t in range(4)],
        axis=0,
    )
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12)


def test_knn_shapley_fewer_rows_than_k_and_ties() -> None:
    # 4 training rows < K = 6; rows 0 and 2 are exact duplicates with different labels (a tie)
    X = np.array([[0.0, 1.0], [2.0, 2.0], [0.0, 1.0], [-1.0, 0.5]])
    y = np.array([0, 1, 1, 0])
    Xt = np.array([[0.0, 0.9], [1.5, 1.5]])
    yt = np.array([1, 0])
    got = knn_shapley(X, y, Xt, yt, k=6)
    exact = np.mean(
        [shapley_by_enumeration(4, lambda S, t=t: knn_utility_brute(S, X, y, Xt[t], yt[t], 6)) for t in range(2)],
        axis=0,
    )
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12)
    # ties with K = 1: the duplicate with the smaller index is the nearest neighbour
    got1 = knn_shapley(X, y, Xt[:1], yt[:1], k=1)
    exact1 = shapley_by_enumeration(4, lambda S: knn_utility_brute(S, X, y, Xt[0], yt[0], 1))
    np.testing.assert_allclose(got1, exact1, rtol=0, atol=1e-12)


def test_knn_shapley_efficiency_axiom() -> None:
    X, y, Xt, yt = _data(300, 50, seed=3, n_classes=4, dim=5)
    K = 7
    values = knn_shapley(X, y, Xt, yt, k=K, batch_size=16)
    u_full = np.mean([knn_utility_brute(tuple(range(300)), X, y, Xt[t], yt[t], K) for t in range(50)])
    assert values.sum() == pytest.approx(u_full - 0.0, abs=1e-12)


def test_knn_shapley_self_valuation_equals_per_row_enumeration() -> None:
    X, y, _, _ = _data(7, 1, seed=4)
    got = knn_shapley(X, y, k=2)
    total = np.zeros(7)
    for t in range(7):
        rest = [j for j in range(7) if j != t]
        phi = shapley_by_enumeration(6, lambda S, t=t, rest=rest: knn_utility_brute(
            tuple(rest[s] for s in S), X, y, X[t], y[t], 2))
        total[rest] += phi
    np.testing.assert_allclose(got, total / 7, rtol=0, atol=1e-12)


def test_knn_shapley_batches_do_not_change_values() -> None:
    X, y, Xt, yt = _data(200, 37, seed=5, dim=3)
    a = knn_shapley(X, y, Xt, yt, k=5, batch_size=1)
    b = knn_shapley(X, y, Xt, yt, k=5, batch_size=1000)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_knn_shapley_cosine_ranks_by_angle() -> None:
    X, y, Xt, yt = _data(6, 3, seed=6, dim=3)
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(
        knn_shapley(X, y, Xt, yt, k=2, metric="cosine"), knn_shapley(unit(X), y, unit(Xt), yt, k=2), atol=1e-14
    )


def test_knn_shapley_scorer_with_split_and_table() -> None:
    X, y, Xt, yt = _data(20, 5, seed=7)
    t = Table(
        columns={"label": np.r_[y, yt], "split": np.array(["train"] * 20 + ["valid"] * 5, dtype=object)},
        matrices={"embeddings": np.r_[X, Xt]},
    )
    expected = knn_shapley(X, y, Xt, yt, k=3)
    by_split = KNNShapley(k=3, valid="valid").score(t)
    np.testing.assert_allclose(by_split[:20], expected, atol=1e-15)
    assert np.isnan(by_split[20:]).all()
    valid_table = Table(columns={"label": yt}, matrices={"embeddings": Xt})
    train_table = Table(columns={"label": y}, matrices={"embeddings": X})
    np.testing.assert_allclose(KNNShapley(k=3, valid=valid_table).score(train_table), expected, atol=1e-15)


def test_knn_shapley_errors() -> None:
    t = Table(columns={"label": np.array([0, 1, 0])}, matrices={"embeddings": np.eye(3)})
    with pytest.raises(MissingColumnError):
        KNNShapley(valid="valid").score(t)
    with pytest.raises(InvalidParameterError, match="`k` of knn_shapley"):
        knn_shapley(np.eye(3), [0, 1, 0], k=0)


@pytest.mark.ray
def test_knn_shapley_local_equals_ray(ray_local) -> None:
    from thresher.execute import get_executor

    X, y, Xt, yt = _data(150, 40, seed=8, dim=4)
    local = knn_shapley(X, y, Xt, yt, k=5, batch_size=8)
    on_ray = knn_shapley(X, y, Xt, yt, k=5, batch_size=8, executor=get_executor("ray"))
    np.testing.assert_array_equal(local, on_ray)


# ----------------------------------------------------------------------------- Data-OOB
def test_data_oob_flipped_point_is_always_wrong() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    # two far-apart tight clusters; row 0 sits near cluster 0 (but nobody's nearest neighbour) labelled 1
    X = np.r_[np.linspace(0, 1, 20)[:, None], 100 + np.linspace(0, 1, 20)[:, None]]
    X[0] = -5.0
    y = np.r_[np.zeros(20), np.ones(20)]
    y[0] = 1
    values, count = data_oob(X, y, KNeighborsClassifier(1), n_estimators=200, seed=0)
    assert values[0] == 0.0  # its out-of-bag 1-NN is a cluster-0 row
    np.testing.assert_array_equal(values[1:], 1.0)  # the others' nearest bootstrapped neighbour shares the label
    # a row is out of bag with probability (1 - 1/n)^n ~ 0.363 for n = 40
    assert abs(count.mean() / 200 - (1 - 1 / 40) ** 40) < 0.02


def test_data_oob_scorer_is_deterministic_and_executor_free() -> None:
    rng = np.random.default_rng(0)
    t = Table(columns={"label": rng.integers(0, 2, 50)}, matrices={"embeddings": rng.normal(size=(50, 3))})
    a = DataOOB(n_estimators=20).score(t, seed=3)
    b = DataOOB(n_estimators=20).score(t, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.nanmin(a) >= 0 and np.nanmax(a) <= 1


# ----------------------------------------------------------------------------- leave-one-out
def test_leave_one_out_matches_direct_refits() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=12) > 0).astype(int)
    Xv = rng.normal(size=(30, 2))
    yv = (Xv[:, 0] > 0).astype(int)
    t = Table(
        columns={"label": np.r_[y, yv], "split": np.array(["t"] * 12 + ["v"] * 30, dtype=object)},
        matrices={"embeddings": np.r_[X, Xv]},
    )
    got = LeaveOneOut(valid="v", estimator=LogisticRegression()).score(t)

    def acc(idx):
        return LogisticRegression().fit(X[idx], y[idx]).score(Xv, yv)

    full = acc(np.arange(12))
    expected = [full - acc(np.delete(np.arange(12), i)) for i in range(12)]
    np.testing.assert_allclose(got[:12], expected, atol=1e-12)
    assert np.isnan(got[12:]).all()
