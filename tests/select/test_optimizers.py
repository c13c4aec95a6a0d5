"""Optimizers on tiny inputs against brute-force optima; GreeDi; local vs Ray."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.conftest import make_fixture_table
from thresher.execute.base import LocalExecutor
from thresher.select.base import Budget
from thresher.select.graph import build_graph
from thresher.select.objectives import (
    FacilityLocationObjective,
    GraphCutObjective,
    LogDeterminantObjective,
    ModularPlus,
    SaturatedCoverageObjective,
)
from thresher.select.optimizers import cost_aware_greedy, greedi, lazy_greedy, naive_greedy, stochastic_greedy
from thresher.select.submodular import FacilityLocation, GraphCut

NAMES = ["fl", "gc", "sc", "ld", "fl+q"]


def _objective(name: str, seed: int, n: int = 11):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    W = build_graph(X, 3).similarity("gaussian")
    if name == "fl":
        return FacilityLocationObjective(W)
    if name == "gc":
        return GraphCutObjective(W, lam=0.5)
    if name == "sc":
        return SaturatedCoverageObjective(W, alpha=0.2)
    if name == "ld":
        return LogDeterminantObjective(W, reg=1.0)
    return ModularPlus(FacilityLocationObjective(W), rng.random(n), weight=0.7)


def _optimum(f, k: int) -> float:
    return max(f.value(np.array(S)) for S in itertools.combinations(range(f.n), k))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", range(4))
def test_lazy_and_full_stochastic_equal_naive_and_reach_bound(name: str, seed: int) -> None:
    f = _objective(name, seed)
    for k in (1, 3, 5):
        naive = naive_greedy(f, k)
        lazy = lazy_greedy(f, k)
        stoch = stochastic_greedy(f, k, seed, sample_size=f.n)
        np.testing.assert_array_equal(lazy.positions, naive.positions)
        np.testing.assert_array_equal(lazy.gains, naive.gains)
        np.testing.assert_array_equal(stoch.positions, naive.positions)
        np.testing.assert_array_equal(stoch.gains, naive.gains)
        assert naive.value == pytest.approx(f.value(naive.positions))
        assert naive.value >= (1 - 1 / math.e) * _optimum(f, k) - 1e-9


def test_lazy_equals_naive_with_exact_ties() -> None:
    # identity similarity: every singleton gain is exactly 1, so ties decide everything
    import scipy.sparse as sp

    f = FacilityLocationObjective(sp.identity(8, format="csr"))
    assert lazy_greedy(f, 5).positions.tolist() == naive_greedy(f, 5).positions.tolist() == [0, 1, 2, 3, 4]


def test_stochastic_greedy_samples_and_is_seeded() -> None:
    f = _objective("fl", 0, n=40)
    a = stochastic_greedy(f, 10, 3, epsilon=0.5)
    b = stochastic_greedy(f, 10, 3, epsilon=0.5)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert len(set(a.positions.tolist())) == 10
    assert a.value >= 0.8 * naive_greedy(f, 10).value  # loose: (1 - 1/e - eps) in expectation


@pytest.mark.parametrize("seed", range(5))
def test_cost_aware_greedy_respects_budget_and_bound(seed: int) -> None:
    f = _objective("fl", seed, n=10)
    costs = np.random.default_rng(seed + 10).uniform(0.5, 3.0, size=10)
    cap = 4.0
    res = cost_aware_greedy(f, costs, cap)
    assert costs[res.positions].sum() <= cap + 1e-12
    assert res.value == pytest.approx(f.value(res.positions))
    best = 0.0
    for r in range(1, 11):
        for S in itertools.combinations(range(10), r):
            if costs[list(S)].sum() <= cap:
                best = max(best, f.value(np.array(S)))
    assert res.value >= (1 - 1 / math.e) / 2 * best - 1e-9


def test_cost_aware_greedy_prefers_cheap_and_uses_best_single() -> None:
    import scipy.sparse as sp

    # row 0 covers everything but costs the whole budget; the others are cheap singletons
    D = np.eye(4)
    D[:, 0] = 1.0
    f = FacilityLocationObjective(sp.csr_matrix(D))
    res = cost_aware_greedy(f, np.array([3.0, 1.0, 1.0, 1.0]), 3.0)
    assert res.positions.tolist() == [0]
    assert res.value == pytest.approx(4.0)


@pytest.mark.parametrize("name", ["fl", "sc", "ld"])
def test_greedi_one_shard_equals_single_machine(name: str) -> None:
    X = np.random.default_rng(4).normal(size=(50, 3))

    def make(pos):
        W = build_graph(X[pos], 5).similarity("gaussian")
        return {"fl": FacilityLocationObjective, "sc": SaturatedCoverageObjective, "ld": LogDeterminantObjective}[name](W)

    single = lazy_greedy(make(np.arange(50)), 8)
    one = greedi(make, 50, 8, n_shards=1, seed=0)
    np.testing.assert_array_equal(one.positions, single.positions)
    np.testing.assert_array_equal(one.gains, single.gains)


def test_greedi_several_shards_is_close_and_seeded() -> None:
    X = np.random.default_rng(4).normal(size=(120, 3))
    W_full = build_graph(X, 8).similarity("gaussian")
    full = FacilityLocationObjective(W_full)

    def make(pos):
        return FacilityLocationObjective(W_full[pos][:, pos])

    a = greedi(make, 120, 10, n_shards=4, seed=1)
    b = greedi(make, 120, 10, n_shards=4, seed=1, executor=LocalExecutor())
    np.testing.assert_array_equal(a.positions, b.positions)
    assert len(set(a.positions.tolist())) == 10
    assert full.value(a.positions) >= 0.9 * lazy_greedy(full, 10).value


def test_selector_optimizers_and_quality_term() -> None:
    t = make_fixture_table()
    lazy = FacilityLocation(n_neighbors=8).select(t, Budget(n=10))
    naive = FacilityLocation(n_neighbors=8, optimizer="naive").select(t, Budget(n=10))
    np.testing.assert_array_equal(lazy.row_ids, naive.row_ids)
    one = FacilityLocation(n_neighbors=8, optimizer="greedi", n_shards=1).select(t, Budget(n=10), seed=0)
    np.testing.assert_array_equal(one.row_ids, lazy.row_ids)
    # a huge weight on the quality term makes the selection the top-10 by score
    q = FacilityLocation(n_neighbors=8, by="score.example", weight=1e6).select(t, Budget(n=10))
    top = t.row_id[np.argsort(-t.column("score.example"), kind="stable")[:10]]
    assert sorted(q.row_ids.tolist()) == sorted(top.tolist())


def test_selector_with_cost_budget_and_prebuilt_graph() -> None:
    t = make_fixture_table()
    sel = GraphCut(n_neighbors=6, lam=0.3).select(t, Budget(n=10, cost="cost"))
    costs = t.column("cost")[t.positions(sel.row_ids)]
    assert costs.sum() <= 10 + 1e-12 and len(sel) >= 5
    g = build_graph(t.embeddings, 6, row_ids=t.row_id)
    a = FacilityLocation(n_neighbors=6).select(t, Budget(n=7))
    b = FacilityLocation(n_neighbors=6, graph=g).select(t.take(np.arange(59, -1, -1)), Budget(n=7))
    np.testing.assert_array_equal(a.row_ids, b.row_ids)
    assert "KNNGraph(n_rows=60" in b.params["graph"]


@pytest.mark.ray
def test_greedi_local_equals_ray(ray_local) -> None:
    from thresher.execute import get_executor

    X = np.random.default_rng(9).normal(size=(200, 4))

    def make(pos):
        return FacilityLocationObjective(build_graph(X[pos], 6).similarity("gaussian"))

    for opt in ("lazy", "stochastic"):
        loc = greedi(make, 200, 12, n_shards=3, seed=5, optimizer=opt)
        ray = greedi(make, 200, 12, n_shards=3, seed=5, optimizer=opt, executor=get_executor("ray"))
        np.testing.assert_array_equal(loc.positions, ray.positions)
        np.testing.assert_array_equal(loc.gains, ray.gains)
    t = make_fixture_table()
    s1 = FacilityLocation(n_neighbors=6, optimizer="greedi", n_shards=3).select(t, Budget(n=9), seed=2)
    s2 = FacilityLocation(n_neighbors=6, optimizer="greedi", n_shards=3, executor="ray").select(t, Budget(n=9), seed=2)
    np.testing.assert_array_equal(s1.row_ids, s2.row_ids)
