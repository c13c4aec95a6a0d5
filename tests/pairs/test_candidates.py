"""pass@k against enumeration; best-of-N, majority vote and Best-of-Majority against their definitions."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.data.candidates import candidate_table
from thresher.metrics.passk import PassAtK, pass_at_k
from thresher.scores.candidates import GroupVariance, GroupVendi, homogeneous_groups
from thresher.select.base import Budget
from thresher.select.candidates import BestOfMajority, BestOfN, MajorityVote, example_candidate_table


@pytest.mark.parametrize("n", range(1, 11))
def test_pass_at_k_equals_enumeration_of_k_subsets(n: int) -> None:
    for c in range(n + 1):
        correct = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            exact = sum(any(correct[i] for i in s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k)[0] == pytest.approx(exact, abs=1e-12)
            assert exact == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_k_metric_averages_prompts_and_rejects_small_groups() -> None:
    t = candidate_table([0, 0, 0, 1, 1, 1], ["a"] * 6, list("uvwxyz"), correct=[1, 0, 0, 1, 1, 0])
    assert PassAtK(k=2).compute(t).value == pytest.approx(((1 - 1 / 3) + 1.0) / 2)
    with pytest.raises(ValueError, match="`k` of PassAtK"):
        PassAtK(k=4).compute(t)


def _brute_best_of_majority(answers, rewards, alpha, k):
    """Distinct answers with frequency >= alpha (else the most frequent), top-k by their best reward."""
    n = len(answers)
    counts = {a: answers.count(a) for a in answers}
    ok = [a for a in counts if counts[a] >= alpha * n - 1e-9] or [a for a in counts if counts[a] == max(counts.values())]
    rep = {a: max((i for i in range(n) if answers[i] == a), key=lambda i: (rewards[i], -i)) for a in ok}
    return sorted(rep.values(), key=lambda i: (-rewards[i], -counts[answers[i]], i))[:k]


group = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 5)), min_size=1, max_size=9)


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(group, min_size=1, max_size=4), alpha=st.sampled_from([0.0, 0.2, 0.34, 0.5, 0.9]))
def test_selectors_match_brute_force_definitions(groups, alpha) -> None:
    pid, ans, rew = [], [], []
    for g, rows in enumerate(groups):
        for a, r in rows:
            pid.append(g)
            ans.append(a)
            rew.append(float(r))
    t = candidate_table(pid, ["q"] * len(pid), [f"r{i}" for i in range(len(pid))], answers=ans, rewards={"rm": rew})
    G = len(groups)
    bon = BestOfN(by="reward.rm").select(t, Budget(n=G)).row_ids
    distinct = t.with_column("reward.rm", np.array(rew) + 1e-4 * ((np.arange(len(pid)) * 37) % 101))
    bon_d = BestOfN(by="reward.rm").select(distinct, Budget(n=G)).row_ids
    bom0 = BestOfMajority(by="reward.rm", alpha=0.0).select(distinct, Budget(n=G)).row_ids
    np.testing.assert_array_equal(bom0, bon_d)  # alpha = 0: Best-of-Majority is best-of-N (distinct rewards)
    const = t.with_column("reward.rm", np.zeros(len(pid)))
    bom_const = BestOfMajority(by="reward.rm", alpha=alpha).select(const, Budget(n=G)).row_ids
    maj = MajorityVote().select(t, Budget(n=G)).row_ids
    start = np.cumsum([0] + [len(g) for g in groups])
    for g in range(G):
        rows = np.arange(start[g], start[g + 1])
        r = np.array(rew)[rows]
        best = rows[np.flatnonzero(r == r.max())[0]]  # best-of-N: highest reward, first on ties
        assert best in bon
        a = [ans[i] for i in rows]
        counts = {x: a.count(x) for x in a}
        top = max(counts.values())
        first_majority = rows[min(j for j, x in enumerate(a) if counts[x] == top)]
        assert first_majority in maj and first_majority in bom_const  # constant rewards: majority vote
        for kk in (1, 2, 3):
            want = [rows[j] for j in _brute_best_of_majority(a, list(r), alpha, kk)]
            got = BestOfMajority(by="reward.rm", alpha=alpha).select(t.take(rows), Budget(n=min(kk, len(want)))).row_ids
            assert got.tolist() == want[: len(got)]


def test_budget_fills_level_by_level_per_prompt() -> None:
    t = example_candidate_table(n_prompts=5, n=4)
    sel = BestOfN(by="reward.rm").select(t, Budget(n=10))
    pid = t.column("prompt_id")[t.positions(sel.row_ids)]
    assert np.bincount(pid.astype(int), minlength=5).tolist() == [2] * 5
    r = t.column("reward.rm")
    for p in range(5):
        rows = np.flatnonzero(t.column("prompt_id") == p)
        top2 = set(t.row_id[rows[np.argsort(-r[rows])[:2]]].tolist())
        assert top2 == set(sel.row_ids[pid == p].tolist())


def test_group_variance_homogeneity_and_vendi() -> None:
    t = example_candidate_table(n_prompts=6, n=5)
    p = t.column("prompt_id")
    c = t.column("correct")
    acc = np.array([c[p == g].mean() for g in range(6)])
    np.testing.assert_allclose(GroupVariance().score(t), (acc * (1 - acc))[p.astype(int)])
    flags = homogeneous_groups(t)
    assert flags.tolist() == [bool(acc[int(g)] in (0.0, 1.0)) for g in p]
    v = GroupVendi().score(t)
    X = t.matrix("embeddings")
    for g in range(6):
        Z = X[p == g] / np.linalg.norm(X[p == g], axis=1, keepdims=True)
        lam = np.linalg.eigvalsh(Z @ Z.T / len(Z))
        lam = lam[lam > 1e-12]
        assert v[p == g][0] == pytest.approx(np.exp(-(lam * np.log(lam)).sum()), rel=1e-8)
