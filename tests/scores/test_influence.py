"""TracIn, gradient similarity, mimic and influence functions against closed forms and retraining."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.scores.influence import (
    Influence,
    _design,
    _logreg_grads,
    _logreg_hessian,
    fit_logreg,
    inverse_hvp,
    logreg_influence,
)
from thresher.scores.tracin import GradSimilarity, TracIn, grad_similarity_scores, tracin_scores


def test_tracin_on_linear_regression_equals_analytic_dot_products() -> None:
    # f(x) = w.x, loss (w.x - y)^2 / 2, gradient (w.x - y) x; SGD checkpoints w_k, lr_k
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=12)
    target = np.zeros(12, dtype=bool)
    target[[2, 7]] = True
    w = np.zeros(3)
    lrs = [0.1, 0.05, 0.02]
    ckpts = []
    for lr in lrs:
        for i in range(12):
            w = w - lr * (w @ X[i] - y[i]) * X[i]
        ckpts.append(w.copy())
    G = np.hstack([(X @ wk - y)[:, None] * X for wk in ckpts])
    expected = np.zeros(12)
    for i in range(12):
        for k, wk in enumerate(ckpts):
            gi = (wk @ X[i] - y[i]) * X[i]
            expected[i] += lrs[k] * np.mean([gi @ ((wk @ X[j] - y[j]) * X[j]) for j in (2, 7)])
    np.testing.assert_allclose(tracin_scores(G, target, 3, lrs), expected, rtol=1e-12)
    t = Table(columns={"flag.target": target}, matrices={"grad.ckpt": G}, meta={"grad.n_checkpoints": 3, "grad.lrs": lrs})
    np.testing.assert_allclose(TracIn().score(t), expected, rtol=1e-12)


def test_grad_similarity_hand_computed() -> None:
    G = np.array([[1.0, 0.0, 0.0, 2.0], [3.0, 4.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]])
    target = np.array([False, False, True])
    lrs = [2.0, 1.0]
    # checkpoint 0 target g = [1, 1]; checkpoint 1 target g = [0, 1]
    expected = [2 * (1 / np.sqrt(2)) + 1 * 1.0, 2 * (7 / (5 * np.sqrt(2))) + 0.0, 2 * 1.0 + 1.0]
    np.testing.assert_allclose(grad_similarity_scores(G, target, 2, lrs), expected)
    t = Table(columns={"flag.target": target.astype(int)}, matrices={"grad.ckpt": G},
              meta={"grad.n_checkpoints": 2, "grad.lrs": lrs})
    np.testing.assert_allclose(GradSimilarity().score(t), expected)


def _blobs(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 3)) + 1.2 * np.c_[y, -y, np.zeros(n)]
    return X, y


def test_fit_logreg_matches_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 2)) + 2 * np.eye(3, 2)[y]
    theta = fit_logreg(X, y, l2=0.5).reshape(3, 3)
    # sklearn penalises every coefficient when the intercept is a feature column
    sk = LogisticRegression(C=2.0, fit_intercept=False, tol=1e-12, max_iter=10000).fit(_design(X), y)
    np.testing.assert_allclose(theta, sk.coef_, atol=1e-5)


def test_closed_form_hessian_matches_finite_differences() -> None:
    X, y = _blobs(30)
    Xb = _design(X)
    y3 = y + (np.arange(30) % 3 == 0)  # three classes
    th = np.random.default_rng(1).normal(size=3 * 4) * 0.3
    H = _logreg_hessian(th, Xb, 3, 0.7)
    eps = 1e-6
    num = np.empty_like(H)
    for j in range(len(th)):
        e = np.zeros_like(th)
        e[j] = eps
        gp = _logreg_grads(th + e, Xb, y3, 3).sum(axis=0) + 0.7 * (th + e)
        gm = _logreg_grads(th - e, Xb, y3, 3).sum(axis=0) + 0.7 * (th - e)
        num[:, j] = (gp - gm) / (2 * eps)
    np.testing.assert_allclose(H, num, atol=1e-5)


def _target_loss(theta: np.ndarray, Xt: np.ndarray, yt: np.ndarray) -> float:
    Z = _design(Xt) @ theta.reshape(2, -1).T
    Z = Z - Z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(yt)), yt]))


def test_logreg_influence_correlates_with_leave_one_out_retraining() -> None:
    X, y = _blobs(250, seed=3)
    Xt, yt = _blobs(100, seed=4)
    l2 = 1.0
    theta = fit_logreg(X, y, l2=l2)
    base = _target_loss(theta, Xt, yt)
    predicted = logreg_influence(X, y, Xt, yt, l2=l2)
    actual = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        th_i = fit_logreg(X[keep], y[keep], l2=l2, n_classes=2, theta0=theta)
        actual[i] = _target_loss(th_i, Xt, yt) - base
    r = np.corrcoef(predicted, actual)[0, 1]
    assert r >= 0.9, r


def test_influence_scorer_equals_function_on_the_same_split() -> None:
    X, y = _blobs(80, seed=5)
    target = np.arange(80) >= 60
    t = Table(columns={"label": y, "flag.target": target}, matrices={"embeddings": X})
    s = Influence(l2=0.5).score(t)
    expected = logreg_influence(X[~target], y[~target], X[target], y[target], l2=0.5)
    np.testing.assert_allclose(s[~target], expected, rtol=1e-8, atol=1e-12)


def test_inverse_hvp_cg_and_lissa_solve_a_spd_system() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    A = A @ A.T / 6 + 0.5 * np.eye(6)
    v = rng.normal(size=6)
    exact = np.linalg.solve(A + 0.1 * np.eye(6), v)
    np.testing.assert_allclose(inverse_hvp(lambda u, r: A @ u, v, damping=0.1), exact, rtol=1e-6)
    scale = float(np.linalg.eigvalsh(A).max()) + 1
    lissa = inverse_hvp(lambda u, r: A @ u, v, method="lissa", damping=0.1, scale=scale, max_iter=2000)
    np.testing.assert_allclose(lissa, exact, rtol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("method", ["cg", "lissa"])
def test_nn_influence_on_a_linear_model_equals_the_exact_formula(method: str) -> None:
    torch = pytest.importorskip("torch")
    from thresher.scores.influence import nn_influence

    X, y = _blobs(60, seed=7)
    Xt, yt = _blobs(20, seed=8)
    n, damping = len(y), 0.05
    theta = fit_logreg(X, y, l2=n * damping).reshape(2, 4)
    lin = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(theta[:, :3]))
        lin.bias.copy_(torch.tensor(theta[:, 3]))
    exact = logreg_influence(X, y, Xt, yt, l2=n * damping, theta=theta.ravel())
    got = nn_influence(lin, X, y, Xt, yt, method=method, damping=damping, max_iter=100 if method == "cg" else 300,
                       scale=2.0)
    tol = 1e-6 if method == "cg" else 1e-3  # LiSSA converges geometrically, CG in at most 8 steps
    np.testing.assert_allclose(got, exact, rtol=tol, atol=tol * np.abs(exact).max())


@pytest.mark.torch
def test_mimic_alignment_on_a_linear_model() -> None:
    torch = pytest.importorskip("torch")
    from thresher.signals.checkpoint_grads import mimic_alignment

    X, y = _blobs(10, seed=9)
    cur, ref = torch.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    Wc = np.c_[cur.weight.detach().numpy(), cur.bias.detach().numpy()]
    Wr = np.c_[ref.weight.detach().numpy(), ref.bias.detach().numpy()]
    G = _logreg_grads(Wc.ravel(), _design(X), y, 2)
    # parameter order in the net: weight (2x3) then bias (2): reorder the closed form to match
    G_net = np.hstack([G.reshape(10, 2, 4)[:, :, :3].reshape(10, 6), G.reshape(10, 2, 4)[:, :, 3]])
    d = np.r_[(Wr - Wc)[:, :3].ravel(), (Wr - Wc)[:, 3]]
    expected = -(G_net @ d) / (np.linalg.norm(G_net, axis=1) * np.linalg.norm(d))
    np.testing.assert_allclose(mimic_alignment([cur], ref, X, y)[:, 0], expected, rtol=1e-6)
