"""ot_distance against POT's emd2 and against an assignment solved by SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.metrics.ot import OTDistance, label_distances, ot_distance, solve_ot

ot = pytest.importorskip("ot")


def _sets(seed: int = 0, n: int = 30, m: int = 30, d: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(loc=0.5, size=(m, d)), rng.integers(0, 3, n), rng.integers(0, 3, m)


def test_zero_on_identical_sets_and_symmetric() -> None:
    X, Y, y, yv = _sets()
    assert ot_distance(X, X).value == pytest.approx(0.0, abs=1e-12)
    assert ot_distance(X, X, y=y, yv=y).value == pytest.approx(0.0, abs=1e-12)
    assert ot_distance(X, Y).value == pytest.approx(ot_distance(Y, X).value, rel=1e-12)
    assert ot_distance(X, Y, y=y, yv=yv).value == pytest.approx(ot_distance(Y, X, y=yv, yv=y).value, rel=1e-10)


@pytest.mark.parametrize("shape", [(30, 30), (25, 40), (7, 3)])
def test_equals_pot_emd2(shape: tuple[int, int]) -> None:
    X, Y, _, _ = _sets(1, *shape)
    ref = ot.emd2(np.full(len(X), 1 / len(X)), np.full(len(Y), 1 / len(Y)), cdist(X, Y, "sqeuclidean"))
    res = ot_distance(X, Y)
    assert res.params["method"] == "exact" and res.params["reg"] is None
    assert abs(res.value - ref) <= 1e-8


def test_equal_sizes_match_an_independent_assignment() -> None:
    # with n = m and uniform masses the optimal plan is a permutation (Birkhoff)
    X, Y, _, _ = _sets(2, 40, 40)
    C = cdist(X, Y, "sqeuclidean")
    r, c = linear_sum_assignment(C)
    assert ot_distance(X, Y).value == pytest.approx(C[r, c].mean(), rel=1e-10)


def test_label_distances_by_assignment() -> None:
    X, Y, _, _ = _sets(3, 24, 24)
    y = np.repeat([0, 1], 12)
    ca, cb, W = label_distances(X, y, Y, y)
    for a in range(2):
        for b in range(2):
            C = cdist(X[y == a], Y[y == b], "sqeuclidean")
            r, c = linear_sum_assignment(C)
            assert W[a, b] == pytest.approx(C[r, c].mean(), rel=1e-10)
    # label-aware value: the same assignment over the augmented cost
    C = cdist(X, Y, "sqeuclidean") + 2.0 * W[y][:, y]
    r, c = linear_sum_assignment(C)
    assert ot_distance(X, Y, y=y, yv=y, label_weight=2.0).value == pytest.approx(C[r, c].mean(), rel=1e-10)


def test_sinkhorn_states_its_regularisation_and_approaches_exact() -> None:
    X, Y, _, _ = _sets(4, 60, 50)
    exact = ot_distance(X, Y).value
    res = ot_distance(X, Y, method="sinkhorn", reg=0.01)
    M = cdist(X, Y, "sqeuclidean")
    assert res.params["method"] == "sinkhorn"
    assert res.params["reg"] == pytest.approx(0.01 * M.mean()) and res.params["reg_relative"] == 0.01
    assert exact <= res.value * (1 + 1e-6) and res.value == pytest.approx(exact, rel=0.03)
    # auto switches to Sinkhorn above the exact size limit
    assert ot_distance(X, Y, max_exact_cells=100).params["method"] == "sinkhorn"


def test_solve_ot_duals_price_the_exact_value() -> None:
    X, Y, _, _ = _sets(5, 20, 15)
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(20)), rng.dirichlet(np.ones(15))
    M = cdist(X, Y, "sqeuclidean")
    res = solve_ot(M, a, b, method="exact")
    # strong duality: <a, f> + <b, g> equals the primal value
    assert a @ res.f + b @ res.g == pytest.approx(res.value, rel=1e-9)
    assert res.value == pytest.approx(ot.emd2(a, b, M), abs=1e-10)


def test_metric_class_and_errors() -> None:
    X, Y, y, yv = _sets(6)
    a = Table(columns={"label": y}, matrices={"embeddings": X})
    b = Table(columns={"label": yv}, matrices={"embeddings": Y})
    assert OTDistance().compute(a, reference=b).value == pytest.approx(ot_distance(X, Y).value)
    assert OTDistance(label_aware=True).compute(a, reference=b).value == pytest.approx(
        ot_distance(X, Y, y=y, yv=yv).value)
    with pytest.raises(InvalidParameterError, match="`method` of solve_ot"):
        ot_distance(X, Y, method="greedy")
    with pytest.raises(InvalidParameterError, match="`Y` of ot_distance"):
        ot_distance(X, Y[:, :2])
    with pytest.raises(InvalidParameterError, match="`b` of solve_ot"):
        solve_ot(np.ones((2, 2)), np.array([0.5, 0.5]), np.array([0.5, 0.6]))
