"""LAVA's calibrated gradients against finite differences of the exact OT value (POT emd2)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from thresher.metrics.ot import ot_cost_matrix, solve_ot
from thresher.scores.lava import LAVA, calibrated_gradients, lava_gradients

ot = pytest.importorskip("ot")


def test_calibrated_gradients_match_finite_differences_of_exact_ot() -> None:
    rng = np.random.default_rng(0)
    n, m = 200, 150
    X, V = rng.normal(size=(n, 4)), rng.normal(0.3, 1.0, size=(m, 4))
    y, yv = rng.integers(0, 3, n), rng.integers(0, 3, m)
    M = ot_cost_matrix(X, V, y=y, yv=yv)  # label-aware (OTDD) ground cost
    # generic masses: the transport problem is non-degenerate, so the dual (and the gradient) is unique
    a, b = rng.dirichlet(np.full(n, 5.0)), rng.dirichlet(np.full(m, 5.0))
    g = calibrated_gradients(solve_ot(M, a, b, method="exact").f)
    h = 1e-7
    rows = rng.choice(n, size=60, replace=False)
    fd = np.empty(len(rows))
    for t, i in enumerate(rows):
        d = np.full(n, -1.0 / (n - 1))
        d[i] = 1.0
        up = ot.emd2(a + h * d, b, M, numItermax=10**7)
        down = ot.emd2(a - h * d, b, M, numItermax=10**7)
        fd[t] = (up - down) / (2 * h)
    np.testing.assert_allclose(fd, g[rows], rtol=1e-3, atol=1e-6 * np.abs(g).max())


def test_batched_gradients_flag_flipped_labels() -> None:
    rng = np.random.default_rng(1)
    n = 600
    y_true = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 5)) + 4.0 * np.eye(3, 5)[y_true]
    y = y_true.copy()
    flip = rng.random(n) < 0.1
    y[flip] = (y[flip] + rng.integers(1, 3, flip.sum())) % 3
    yv = rng.integers(0, 3, 200)
    V = rng.normal(size=(200, 5)) + 4.0 * np.eye(3, 5)[yv]
    whole = lava_gradients(X, y, V, yv)
    batched = lava_gradients(X, y, V, yv, batch_size=150, seed=3)
    assert roc_auc_score(flip, whole) > 0.95 and roc_auc_score(flip, batched) > 0.92
    assert np.array_equal(batched, lava_gradients(X, y, V, yv, batch_size=150, seed=3))


def test_scorer_negates_gradients_and_leaves_valid_rows_nan() -> None:
    t = LAVA.conformance_table()
    v = LAVA().score(t)
    is_valid = t.column("split") == "valid"
    assert np.isnan(v[is_valid]).all() and np.isfinite(v[~is_valid]).all()
    g = lava_gradients(t.embeddings[~is_valid], t.labels[~is_valid], t.embeddings[is_valid], t.labels[is_valid],
                       seed=np.random.default_rng(None))  # one batch: the seed only picks class subsamples
    np.testing.assert_allclose(v[~is_valid], -g, rtol=1e-10)


def test_sinkhorn_duals_agree_with_exact_ranking_on_a_generic_problem() -> None:
    rng = np.random.default_rng(2)
    X, V = rng.normal(size=(80, 3)), rng.normal(size=(70, 3))
    a, b = rng.dirichlet(np.full(80, 5.0)), rng.dirichlet(np.full(70, 5.0))
    M = ot_cost_matrix(X, V)
    ge = calibrated_gradients(solve_ot(M, a, b, method="exact").f)
    gs = calibrated_gradients(solve_ot(M, a, b, method="sinkhorn", reg=0.01, max_iter=5000).f)
    assert np.corrcoef(ge, gs)[0, 1] > 0.99
