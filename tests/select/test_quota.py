"""Quotas always hold (Hypothesis), follow the base ranking, and refuse infeasible specs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest import make_fixture_table
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.quota import Quota, fill_with_quotas
from thresher.select.topk import TopK


@settings(max_examples=150, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=4, max_size=40),
    k_frac=st.floats(0.05, 1.0),
    mins=st.lists(st.integers(0, 6), min_size=4, max_size=4),
    maxs=st.lists(st.integers(0, 20), min_size=4, max_size=4),
    base=st.sampled_from(["random", "topk"]),
    seed=st.integers(0, 1000),
)
def test_quotas_always_hold(labels, k_frac, mins, maxs, base, seed) -> None:
    lab = np.array(labels)
    n = len(lab)
    k = max(1, int(round(k_frac * n)))
    cats = np.unique(lab)
    sizes = np.array([np.sum(lab == c) for c in cats])
    lo = np.array([min(mins[c], sizes[i]) for i, c in enumerate(cats)])
    hi = np.array([max(lo[i], min(maxs[c], sizes[i])) for i, c in enumerate(cats)])
    assume(lo.sum() <= k <= hi.sum())
    score = np.random.default_rng(seed).random(n)
    t = Table(columns={"label": lab, "score.s": score})
    params = {"by": "score.s"} if base == "topk" else None
    q = Quota(base, params, by="label", minimum={int(c): int(lo[i]) for i, c in enumerate(cats)},
              maximum={int(c): int(hi[i]) for i, c in enumerate(cats)})
    sel = q.select(t, Budget(n=k), seed=seed)
    assert len(sel) == k
    counts = np.array([np.sum(lab[sel.row_ids] == c) for c in cats])
    assert np.all(counts >= lo) and np.all(counts <= hi)


def test_fill_is_the_best_ranked_feasible_set_on_tiny_inputs() -> None:
    # brute force: among all feasible k-sets, the result is the lexicographically best by rank
    import itertools

    rng = np.random.default_rng(0)
    for _ in range(30):
        codes = rng.integers(0, 3, size=8)
        ranking = rng.permutation(8)
        lo = np.array([1, 1, 0])
        hi = np.array([2, 3, 2])
        sizes = np.bincount(codes, minlength=3)
        lo = np.minimum(lo, sizes)
        hi = np.maximum(np.minimum(hi, sizes), lo)
        k = 4
        if not lo.sum() <= k <= hi.sum():
            continue
        got = fill_with_quotas(ranking, codes, k, lo, hi)
        rank_of = np.argsort(ranking)
        feasible = []
        for S in itertools.combinations(range(8), k):
            cnt = np.bincount(codes[list(S)], minlength=3)
            if np.all(cnt >= lo) and np.all(cnt <= hi):
                feasible.append(sorted(rank_of[list(S)].tolist()))
        assert sorted(rank_of[got].tolist()) == min(feasible)


def test_proportions_and_instance_base() -> None:
    t = make_fixture_table()
    # group 'a' is a quarter of the rows; ask for at least half of the budget from it
    q = Quota(TopK(by="score.example"), by="group", minimum={"a": 0.5}, maximum={"b": 0.5})
    sel = q.select(t, Budget(n=20), seed=0)
    groups = t.column("group")[t.positions(sel.row_ids)]
    assert np.sum(groups == "a") == 10 and np.sum(groups == "b") == 10
    # within group b the rows are the top-10 of b by score (the base ranking is followed)
    b_rows = np.flatnonzero(t.column("group") == "b")
    top_b = t.row_id[b_rows[np.argsort(-t.column("score.example")[b_rows], kind="stable")[:10]]]
    assert sorted(set(sel.row_ids.tolist()) & set(t.row_id[b_rows].tolist())) == sorted(top_b.tolist())


def test_infeasible_quotas_are_refused() -> None:
    t = make_fixture_table()
    with pytest.raises(InvalidParameterError, match="must sum to at most the budget"):
        Quota(by="label", minimum=5).select(t, Budget(n=10), seed=0)
    with pytest.raises(InvalidParameterError, match="must leave room"):
        Quota(by="label", maximum=2).select(t, Budget(n=10), seed=0)
    with pytest.raises(InvalidParameterError, match="categories present"):
        Quota(by="label", minimum={7: 1}).select(t, Budget(n=10), seed=0)
    with pytest.raises(InvalidParameterError, match="must not exceed the rows"):
        Quota(by="group", minimum={"a": 16}).select(t, Budget(n=30), seed=0)
