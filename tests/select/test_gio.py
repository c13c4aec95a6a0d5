"""GIO against brute force: the kNN KL estimator from scipy distances, the greedy step by enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.gio import GIO, gio_select, knn_kl_divergence


def _brute_kl(T: np.ndarray, V: np.ndarray) -> float:
    n, d = T.shape
    DT = cdist(T, T)
    np.fill_diagonal(DT, np.inf)
    rho = DT.min(axis=1)
    nu = cdist(T, V).min(axis=1)
    return float(d / n * np.sum(np.log(nu / rho)) + np.log(len(V) / (n - 1)))


def _blobs(seed: int = 0, n_per: int = 300, n_target: int = 100):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    blob = np.repeat(np.arange(3), n_per)
    P = centers[blob] + rng.normal(size=(3 * n_per, 3))
    T = centers[0] + rng.normal(size=(n_target, 3))
    return P, T, blob


def test_estimator_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    T, V = rng.normal(size=(50, 4)), rng.normal(0.5, 1.2, size=(70, 4))
    assert knn_kl_divergence(T, V) == pytest.approx(_brute_kl(T, V), rel=1e-10)


def test_gains_are_the_estimator_of_each_prefix_and_each_step_is_the_brute_force_argmin() -> None:
    rng = np.random.default_rng(1)
    P, T = rng.normal(size=(40, 2)), rng.normal(0.3, 0.8, size=(25, 2))
    picks, kl = gio_select(P, T, 12, stop_early=False)
    for j in range(1, len(picks) + 1):
        assert kl[j - 1] == pytest.approx(_brute_kl(T, P[picks[:j]]), rel=1e-6, abs=1e-6)
        rest = [b for b in range(len(P)) if b not in set(picks[: j - 1].tolist())]
        brute = [_brute_kl(T, P[np.append(picks[: j - 1], b)]) for b in rest]
        assert kl[j - 1] == pytest.approx(min(brute), rel=1e-6, abs=1e-6)


def test_kl_non_increasing_until_the_stopping_rule_which_is_right_to_stop() -> None:
    rng = np.random.default_rng(2)
    P, T = rng.normal(size=(120, 2)), rng.normal(size=(30, 2))
    picks, kl = gio_select(P, T, 120, stop_early=True)
    assert 1 < len(picks) < 120
    assert np.all(np.diff(kl) <= 1e-12)
    # the rule stopped because every remaining row would raise the estimate
    rest = np.setdiff1d(np.arange(len(P)), picks)
    assert min(_brute_kl(T, P[np.append(picks, b)]) for b in rest) > kl[-1]
    # without the rule the same greedy path continues past that point
    full, kl_full = gio_select(P, T, len(picks) + 5, stop_early=False)
    assert np.array_equal(full[: len(picks)], picks) and kl_full[len(picks)] > kl[-1]


@pytest.mark.parametrize("method", ["exact", "gradient"])
def test_three_blobs_one_target_blob(method: str) -> None:
    P, T, blob = _blobs()
    picks, kl = gio_select(P, T, 300, method=method, stop_early=False, seed=0)
    first = picks[: len(picks) // 10]
    assert np.mean(blob[first] == 0) >= 0.95


def test_gradient_speed_up_stays_close_to_exact() -> None:
    P, T, _ = _blobs(3)
    _, kl_exact = gio_select(P, T, 60, stop_early=False)
    _, kl_grad = gio_select(P, T, 60, method="gradient", stop_early=False, seed=1)
    # the candidates found by gradient descent recover most of the exact greedy decrease
    assert kl_grad[0] == pytest.approx(kl_exact[0])
    assert kl_exact[0] - kl_grad[-1] >= 0.75 * (kl_exact[0] - kl_exact[-1])


def test_uncached_shards_equal_the_cached_matrix() -> None:
    P, T, _ = _blobs(4, n_per=60, n_target=30)
    a, ka = gio_select(P, T, 40, stop_early=False)
    b, kb = gio_select(P, T, 40, stop_early=False, cache_bytes=0, shard_size=17)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(ka, kb, rtol=1e-5)


def test_selector_reads_the_target_column_and_may_stop_early() -> None:
    P, T, blob = _blobs(5, n_per=50, n_target=40)
    X = np.vstack([P, T])
    t = Table(np.arange(len(X)) + 10, columns={"flag.target": np.arange(len(X)) >= len(P)}, matrices={"embeddings": X})
    sel = GIO().select(t, Budget(n=30), seed=0)
    assert len(sel) == 30 and (sel.row_ids < len(P) + 10).all()
    picks, kl = gio_select(P, T, 30, stop_early=False)
    assert np.array_equal(sel.row_ids, picks + 10)
    np.testing.assert_allclose(sel.gains, kl)
    early = GIO(stop_early=True).select(t, Budget(n=150), seed=0)
    assert len(early) < 150 and np.all(np.diff(early.gains) <= 1e-12)
    with pytest.raises(InvalidParameterError, match="`budget` of GIO"):
        GIO().select(t, Budget(n=len(X) - 10))
