"""Random, top-k, CCS and k-center greedy against independent answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from thresher.data import Table, from_numpy
from thresher.errors import NonFiniteError, InvalidParameterError
from thresher.select.base import Budget
from thresher.select.ccs import CCS, stratum_quotas
from thresher.select.kcenter import KCenterGreedy, kcenter_greedy
from thresher.select.random import RandomSelector
from thresher.select.topk import BottomK, TopK


def _farthest_point_brute(X: np.ndarray, k: int, first: int) -> list[int]:
    D = cdist(X, X)
    chosen = [first]
    while len(chosen) < k:
        best, best_d = -1, -1.0
        for j in range(len(X)):
            if j in chosen:
                continue
            d = min(D[j, c] for c in chosen)
            if d > best_d + 1e-12:
                best, best_d = j, d
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_kcenter_matches_brute_force_farthest_point(seed: int) -> None:
    X = np.random.default_rng(seed).normal(size=(30, 3))
    picked, gains = kcenter_greedy(X, 8, first=seed)
    assert picked.tolist() == _farthest_point_brute(X, 8, seed)
    D = cdist(X, X)
    for i in range(1, 8):
        assert gains[i] == pytest.approx(D[picked[i], picked[:i]].min())


def test_kcenter_selector_uses_seeded_start() -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    t = from_numpy(X)
    s = KCenterGreedy().select(t, Budget(n=5), seed=1)
    first = int(np.random.default_rng(1).integers(40))
    assert s.row_ids.tolist() == _farthest_point_brute(X, 5, first)


def test_topk_bottomk_and_ties() -> None:
    t = Table([10, 11, 12, 13], columns={"score.s": np.array([0.5, 0.9, 0.5, np.nan])})
    # a NaN score is an error (issue 13: a selection over NaN was silent) unless the user opts in
    with pytest.raises(NonFiniteError, match="nan_policy='drop'"):
        TopK(by="score.s").select(t, Budget(n=3))
    assert TopK(by="score.s", nan_policy="drop").select(t, Budget(n=3)).row_ids.tolist() == [11, 10, 12]
    assert BottomK(by="score.s", nan_policy="drop").select(t, Budget(n=2)).row_ids.tolist() == [10, 12]
    with pytest.raises(InvalidParameterError, match="at most the 3 rows with a score"):
        TopK(by="score.s", nan_policy="drop").select(t, Budget(n=4))


def test_random_is_uniform_without_replacement() -> None:
    t = from_numpy(np.zeros((10, 1)))
    counts = np.zeros(10)
    for s in range(2000):
        counts[RandomSelector().select(t, Budget(n=3), seed=s).row_ids] += 1
    assert np.all(np.abs(counts / 2000 - 0.3) < 0.04)


def test_stratum_quotas_fill_small_strata_first() -> None:
    q = stratum_quotas(np.array([2, 100, 5, 0]), 30)
    assert q.tolist() == [2, 23, 5, 0]
    assert stratum_quotas(np.array([3, 3, 3]), 9).tolist() == [3, 3, 3]


def test_ccs_respects_strata_counts_and_prunes_hardest() -> None:
    v = np.concatenate([np.full(5, 0.05), np.full(50, 0.5), np.full(45, 0.95)])
    t = Table(columns={"score.d": v})
    # beta = 0.1 removes the 10 hardest (the highest values); three strata of 0.3 width remain
    sel = CCS(by="score.d", beta=0.1, n_strata=3).select(t, Budget(n=30), seed=0)
    picked = v[sel.row_ids]
    assert np.sum(picked == 0.05) == 5  # the smallest stratum is taken whole
    assert np.sum(picked == 0.5) == 13 and np.sum(picked == 0.95) == 12  # the rest split evenly
    kept_hard = np.flatnonzero(v == 0.95)[10:]  # the 10 pruned: first 0.95 rows in row-id order (stable ties)
    assert set(sel.row_ids[picked == 0.95].tolist()) <= set(kept_hard.tolist())


def test_ccs_bad_beta() -> None:
    t = Table(columns={"score.d": np.arange(10.0)})
    with pytest.raises(InvalidParameterError, match="`beta` of CCS must be in"):
        CCS(by="score.d", beta=1.0).select(t, Budget(n=2))


def test_budget_larger_than_table() -> None:
    t = from_numpy(np.zeros((4, 1)))
    with pytest.raises(InvalidParameterError, match="`budget.n` of RandomSelector must be at most the number of rows \\(4\\)"):
        RandomSelector().select(t, Budget(n=5))
