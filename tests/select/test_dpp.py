"""DPP tests: greedy MAP vs explicit determinants, k-DPP frequencies vs enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from tests.conftest import make_fixture_table
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.dpp import DPPGreedyMAP, KDPP, KDPPSampler, dpp_greedy_map, dpp_kernel_rows


def _random_psd(n: int, seed: int, rank: int | None = None) -> np.ndarray:
    B = np.random.default_rng(seed).normal(size=(n, rank or n))
    return B @ B.T / (rank or n) + (0.05 * np.eye(n) if rank is None else 0.0)


def _brute_greedy(L: np.ndarray, k: int) -> list[int]:
    """The greedy rule written with explicit determinants."""
    S: list[int] = []
    for _ in range(k):
        best, arg = -np.inf, -1
        for j in range(len(L)):
            if j in S:
                continue
            v = np.linalg.slogdet(L[np.ix_(S + [j], S + [j])])[1]
            if v > best + 1e-12:
                best, arg = v, j
        S.append(arg)
    return S


@pytest.mark.parametrize("seed", range(6))
def test_greedy_map_equals_determinant_greedy(seed: int) -> None:
    L = _random_psd(9, seed)
    for k in (1, 3, 6, 9):
        pos, gains = dpp_greedy_map(lambda j: L[j], np.diag(L), k)
        assert pos.tolist() == _brute_greedy(L, k)
        assert gains.sum() == pytest.approx(np.linalg.slogdet(L[np.ix_(pos, pos)])[1], abs=1e-8)


def test_greedy_map_is_the_exact_map_on_tiny_separable_inputs() -> None:
    # a block kernel: two tight pairs and two loners; the MAP 3-set takes one of each pair + a loner
    L = np.eye(6)
    L[0, 1] = L[1, 0] = 0.95
    L[2, 3] = L[3, 2] = 0.95
    L *= np.array([1.0, 1.0, 1.0, 1.0, 0.8, 0.5])[:, None] ** 0.5 * np.array([1.0, 1.0, 1.0, 1.0, 0.8, 0.5]) ** 0.5
    pos, _ = dpp_greedy_map(lambda j: L[j], np.diag(L), 3)
    best = max(itertools.combinations(range(6), 3), key=lambda S: np.linalg.det(L[np.ix_(S, S)]))
    assert np.linalg.det(L[np.ix_(pos, pos)]) == pytest.approx(np.linalg.det(L[np.ix_(best, best)]))


def test_greedy_map_rank_deficient_still_returns_k() -> None:
    L = _random_psd(8, 0, rank=2)
    pos, gains = dpp_greedy_map(lambda j: L[j], np.diag(L), 5)
    assert len(set(pos.tolist())) == 5
    assert np.all(gains[2:] == np.log(1e-12))


@pytest.mark.parametrize("n,k", [(5, 2), (6, 3)])
def test_kdpp_frequencies_match_enumeration(n: int, k: int) -> None:
    L = _random_psd(n, 11 + n)
    subsets = list(itertools.combinations(range(n), k))
    dets = np.array([np.linalg.det(L[np.ix_(S, S)]) for S in subsets])
    probs = dets / dets.sum()
    sampler = KDPPSampler(L)
    rng = np.random.default_rng(0)
    draws = 12000
    index = {S: i for i, S in enumerate(subsets)}
    counts = np.zeros(len(subsets))
    for _ in range(draws):
        counts[index[tuple(sorted(sampler.sample(k, rng).tolist()))]] += 1
    _, p = stats.chisquare(counts, probs * draws)
    assert p > 1e-3


def test_kdpp_rejects_k_above_rank_and_large_tables() -> None:
    with pytest.raises(InvalidParameterError, match="`k` of KDPPSampler"):
        KDPPSampler(_random_psd(6, 0, rank=2)).sample(3, np.random.default_rng(0))
    t = make_fixture_table()
    with pytest.raises(InvalidParameterError, match="max_rows"):
        KDPP(max_rows=10).select(t, Budget(n=3), seed=0)


def test_kernel_rows_match_dense_formula() -> None:
    X = np.random.default_rng(1).normal(size=(7, 3))
    q = np.linspace(1.0, 2.0, 7)
    row, diag, bw = dpp_kernel_rows(X, "gaussian", 1.5, q)
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    L = q[:, None] * np.exp(-D2 / (2 * 1.5**2)) * q[None, :]
    np.testing.assert_allclose(np.vstack([row(j) for j in range(7)]), L, atol=1e-12)
    np.testing.assert_allclose(diag, np.diag(L))
    row_l, diag_l, _ = dpp_kernel_rows(X, "linear", None, None)
    np.testing.assert_allclose(row_l(2), X @ X[2])
    np.testing.assert_allclose(diag_l, (X**2).sum(1))


def test_selectors_prefer_spread_points() -> None:
    t = Table(matrices={"embeddings": np.array([[0.0], [0.01], [0.02], [5.0], [10.0]])})
    assert sorted(DPPGreedyMAP(bandwidth=1.0).select(t, Budget(n=3)).row_ids.tolist()) == [0, 3, 4]
    # k-DPP: the near-duplicates 0, 1, 2 almost never appear together
    hits = 0
    for s in range(200):
        ids = set(KDPP(bandwidth=1.0).select(t, Budget(n=3), seed=s).row_ids.tolist())
        hits += {3, 4} <= ids
    assert hits > 190
    # with a strong quality term the high-score duplicates win
    tq = t.with_column("score.q", np.array([0.0, 1.0, 1.0, 0.0, 0.0]))
    sel = DPPGreedyMAP(bandwidth=0.001, by="score.q", alpha=5.0).select(tq, Budget(n=2))
    assert sorted(sel.row_ids.tolist()) == [1, 2]
