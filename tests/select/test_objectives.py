"""Objectives: values against dense formulas, gains against value differences, submodularity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from thresher.select.graph import build_graph
from thresher.select.objectives import (
    FacilityLocationObjective,
    GraphCutObjective,
    LogDeterminantObjective,
    ModularPlus,
    SaturatedCoverageObjective,
)


def _W(n: int = 10, k: int = 3, seed: int = 0) -> sp.csr_matrix:
    X = np.random.default_rng(seed).normal(size=(n, 2))
    return build_graph(X, k).similarity("gaussian")


def _dense_value(name: str, D: np.ndarray, S: list[int]) -> float:
    """Each objective's textbook formula on the dense matrix."""
    if not S:
        return 0.0
    if name == "fl":
        return float(D[:, S].max(axis=1).sum())
    A = (D + D.T) / 2
    if name == "gc":
        return float(A[:, S].sum() - 0.4 * A[np.ix_(S, S)].sum())
    if name == "sc":
        return float(np.minimum(D[:, S].sum(axis=1), 0.3 * D.sum(axis=1)).sum())
    deg = A.sum(axis=1)
    K = A / np.sqrt(np.outer(deg, deg)) + 2.0 * np.eye(len(D))
    return float(np.log(np.linalg.det(K[np.ix_(S, S)])))


def _make(name: str, W: sp.csr_matrix):
    return {
        "fl": lambda: FacilityLocationObjective(W),
        "gc": lambda: GraphCutObjective(W, lam=0.4),
        "sc": lambda: SaturatedCoverageObjective(W, alpha=0.3),
        "ld": lambda: LogDeterminantObjective(W, reg=1.0),
    }[name]()


@pytest.mark.parametrize("name", ["fl", "gc", "sc", "ld"])
def test_value_matches_dense_formula_and_gains_match_differences(name: str) -> None:
    W = _W()
    D = W.toarray()
    f = _make(name, W)
    rng = np.random.default_rng(5)
    order = rng.permutation(10)[:6].tolist()
    state = f.new_state()
    for t, j in enumerate(order):
        S = order[:t]
        assert f.value(np.array(S, dtype=np.int64)) == pytest.approx(_dense_value(name, D, S), abs=1e-9)
        all_gains = state.gains(np.arange(10))
        others = [c for c in range(10) if c not in S]
        for c in others:
            want = _dense_value(name, D, S + [c]) - _dense_value(name, D, S)
            assert all_gains[c] == pytest.approx(want, abs=1e-8)
            # a gain does not depend on the batch it is computed in
            assert state.gains(np.array([c]))[0] == all_gains[c]
        state.add(j)


@pytest.mark.parametrize("name", ["fl", "gc", "sc", "ld"])
def test_diminishing_returns(name: str) -> None:
    W = _W(n=9, k=4, seed=3)
    f = _make(name, W)
    rng = np.random.default_rng(0)
    for _ in range(30):
        B = rng.permutation(9)[:5]
        A = B[:2]
        for c in set(range(9)) - set(B.tolist()):
            gA = f.value(np.append(A, c)) - f.value(A)
            gB = f.value(np.append(B, c)) - f.value(B)
            assert gA >= gB - 1e-9
            assert gB >= -1e-9  # monotone for these parameters


def test_modular_plus_adds_quality() -> None:
    W = _W()
    base = FacilityLocationObjective(W)
    q = np.linspace(0, 1, 10)
    f = ModularPlus(base, q, weight=2.0)
    S = np.array([3, 7])
    assert f.value(S) == pytest.approx(base.value(S) + 2.0 * (q[3] + q[7]))
    st, bst = f.new_state(), base.new_state()
    np.testing.assert_allclose(st.gains(np.arange(10)), bst.gains(np.arange(10)) + 2.0 * q)
    with pytest.raises(ValueError, match="quality"):
        ModularPlus(base, q[:5])


def test_negative_similarity_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        FacilityLocationObjective(sp.csr_matrix(np.array([[1.0, -0.5], [0.0, 1.0]])))
