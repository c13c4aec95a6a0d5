"""Cluster-balanced selection: allocation properties and per-cluster counts on separable data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.cluster import ClusterBalanced, allocate


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=8),
    weights=st.lists(st.floats(0, 10, allow_nan=False), min_size=8, max_size=8),
    frac=st.floats(0, 1),
)
def test_allocation_properties(sizes, weights, frac) -> None:
    sizes_a = np.array(sizes)
    w = np.array(weights[: len(sizes)])
    k = int(round(frac * sizes_a.sum()))
    a = allocate(sizes_a, w, k)
    assert a.sum() == k
    assert np.all(a >= 0) and np.all(a <= sizes_a)
    live = (w > 0) & (sizes_a > 0)
    if live.any() and k <= sizes_a[live].sum():
        assert np.all(a[~live] == 0)  # zero-weight groups only fill in when needed
        ideal = k * w[live] / w[live].sum()
        if np.all(ideal <= sizes_a[live]):  # no cap binds: within one row of the exact share
            assert np.all(np.abs(a[live] - ideal) < 1 + 1e-9)


def test_allocation_hand_examples() -> None:
    assert allocate(np.array([2, 50, 50]), np.ones(3), 30).tolist() == [2, 14, 14]
    assert allocate(np.array([5, 100]), np.array([1.0, 0.0]), 10).tolist() == [5, 5]
    assert allocate(np.array([10, 20, 30]), np.array([10.0, 20.0, 30.0]), 30).tolist() == [5, 10, 15]


def _three_blobs(sizes=(30, 60, 90), seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    lab = np.repeat(np.arange(3), sizes)
    X = centers[lab] + rng.normal(size=(len(lab), 2))
    return X, lab


@pytest.mark.parametrize("allocation", ["equal", "proportional", "score"])
def test_counts_per_cluster_follow_allocation(allocation: str) -> None:
    X, lab = _three_blobs()
    score = np.array([3.0, 1.0, 1.5])[lab]  # no ties between cluster weights
    t = Table(columns={"score.s": score}, matrices={"embeddings": X})
    sel = ClusterBalanced(n_clusters=3, allocation=allocation, by="score.s").select(t, Budget(n=60), seed=1)
    counts = np.bincount(lab[sel.row_ids], minlength=3)
    sizes = np.bincount(lab)
    w = {"equal": np.ones(3), "proportional": sizes.astype(float), "score": np.bincount(lab, weights=score)}[allocation]
    assert counts.tolist() == allocate(sizes, w, 60).tolist()


def test_within_top_and_centroid() -> None:
    X, lab = _three_blobs(sizes=(20, 20, 20))
    s = np.random.default_rng(2).random(60)
    t = Table(columns={"score.s": s}, matrices={"embeddings": X})
    sel = ClusterBalanced(n_clusters=3, within="top", by="score.s").select(t, Budget(n=9), seed=0)
    for c in range(3):
        rows = np.flatnonzero(lab == c)
        top3 = rows[np.argsort(-s[rows])[:3]]
        assert sorted(set(sel.row_ids.tolist()) & set(rows.tolist())) == sorted(top3.tolist())
    cen = ClusterBalanced(n_clusters=3, within="centroid").select(t, Budget(n=3), seed=0)
    for c in range(3):
        rows = np.flatnonzero(lab == c)
        nearest = rows[np.argmin(np.linalg.norm(X[rows] - X[rows].mean(0), axis=1))]
        assert nearest in cen.row_ids.tolist()
    with pytest.raises(InvalidParameterError, match="`by` of ClusterBalanced"):
        ClusterBalanced(within="top").select(t, Budget(n=3), seed=0)
