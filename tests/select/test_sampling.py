"""Tests for gumbel_topk, priority sampling, sensitivity sampling and importance resampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.sampling import ImportanceResampling, SensitivitySampling, gumbel_topk, priority_sample


def _successive_prob(w: np.ndarray, seq: tuple[int, ...]) -> float:
    """Probability of drawing ``seq`` in that order by successive sampling (Plackett-Luce)."""
    p, left = 1.0, float(w.sum())
    for i in seq:
        p *= w[i] / left
        left -= w[i]
    return p


def test_gumbel_topk_matches_enumerated_successive_sampling() -> None:
    w = np.array([1.0, 2.0, 3.0, 0.5, 4.0])
    k, draws = 2, 20000
    rng = np.random.default_rng(123)
    seqs = list(itertools.permutations(range(len(w)), k))
    index = {s: j for j, s in enumerate(seqs)}
    counts = np.zeros(len(seqs))
    for _ in range(draws):
        counts[index[tuple(gumbel_topk(np.log(w), k, rng).tolist())]] += 1
    expected = np.array([_successive_prob(w, s) for s in seqs]) * draws
    assert expected.sum() == pytest.approx(draws)
    _, p = stats.chisquare(counts, expected)
    assert p > 1e-3


def test_gumbel_topk_never_draws_zero_weight_and_checks_k() -> None:
    lw = np.array([-np.inf, 0.0, -np.inf, np.log(2.0)])
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert sorted(gumbel_topk(lw, 2, rng).tolist()) == [1, 3]
    with pytest.raises(InvalidParameterError, match="`k` of gumbel_topk"):
        gumbel_topk(lw, 3, rng)
    with pytest.raises(InvalidParameterError, match="log_weights"):
        gumbel_topk(np.array([np.nan, 0.0]), 1, rng)


def test_priority_sampling_weights_are_unbiased() -> None:
    w = np.array([0.1, 0.5, 1.0, 2.0, 0.2, 3.0])
    f = np.array([5.0, -1.0, 2.0, 0.5, 7.0, 1.0])
    rng = np.random.default_rng(7)
    est = []
    for _ in range(20000):
        pos, iw = priority_sample(w, 3, rng)
        est.append(float(np.sum(iw * f[pos])))
    est_a = np.asarray(est)
    se = est_a.std() / np.sqrt(len(est_a))
    assert abs(est_a.mean() - f.sum()) < 4 * se


def test_priority_sampling_inclusion_matches_brute_force_k1() -> None:
    # with k = 1 the kept row is argmax w_i / u_i; P(i) = integral, check by simulation vs the
    # closed form for two rows: P(row 1 | w0=1, w1=a>=1) = 1 - 1/(2a)
    rng = np.random.default_rng(1)
    a = 3.0
    hits = sum(int(priority_sample(np.array([1.0, a]), 1, rng)[0][0] == 1) for _ in range(20000))
    p = 1 - 1 / (2 * a)
    assert abs(hits / 20000 - p) < 4 * np.sqrt(p * (1 - p) / 20000)


def test_sensitivity_sampling_selection_and_weights() -> None:
    s = np.array([0.0, 1.0, 1.0, 8.0, 2.0, 0.0])
    t = Table(columns={"score.s": s})
    sel = SensitivitySampling(by="score.s").select(t, Budget(n=4), seed=0)
    assert sorted(sel.row_ids.tolist()) == [1, 2, 3, 4]  # all positive rows, weights 1 * k/n
    np.testing.assert_allclose(sel.weights, np.full(4, 4 / 6))
    with pytest.raises(InvalidParameterError):
        SensitivitySampling(by="score.s").select(t, Budget(n=5), seed=0)
    sel2 = SensitivitySampling(by="score.s", mix=0.5).select(t, Budget(n=5), seed=0)
    assert len(sel2) == 5 and np.all(sel2.weights > 0)


def test_importance_resampling_log_and_temperature() -> None:
    lw = np.array([0.0, -np.inf, 1.0, 2.0])
    t = Table(columns={"score.lw": lw})
    sel = ImportanceResampling(by="score.lw", log=True).select(t, Budget(n=3), seed=0)
    assert sorted(sel.row_ids.tolist()) == [0, 2, 3]
    # same seed, weights given as exp(log-weights): identical draw
    t2 = Table(columns={"score.w": np.exp(lw)})
    sel2 = ImportanceResampling(by="score.w").select(t2, Budget(n=3), seed=0)
    assert sel.row_ids.tolist() == sel2.row_ids.tolist()
    with pytest.raises(InvalidParameterError, match="temperature"):
        ImportanceResampling(by="score.w", temperature=0.0).select(t2, Budget(n=1), seed=0)
