"""Attribution matrices against closed forms: exact logistic-regression influence, analytic TRAK, NumPy reductions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.scores.attribution import (  # noqa: E402
    adam_moments,
    attribution_matrix,
    grad_similarity_attribution,
    load_attribution,
    tracin_attribution,
)
from thresher.scores.influence import fit_logreg, logreg_influence  # noqa: E402
from thresher.scores.tracin import tracin_scores  # noqa: E402
from thresher.scores.influence_matrix import influence_attribution  # noqa: E402
from thresher.scores.trak import trak_attribution  # noqa: E402
from thresher.signals.checkpoint_grads import checkpoint_gradients  # noqa: E402
from thresher.signals.gradients import per_example_gradients_loop  # noqa: E402


def _data(seed: int = 0, n: int = 120, d: int = 4, C: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    X = rng.normal(size=(n, d)) + 1.5 * np.eye(C, d)[y]
    return X, y


def _linear(theta: np.ndarray, d: int, C: int):
    net = torch.nn.Linear(d, C).double()
    T = theta.reshape(C, d + 1)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(T[:, :d]))
        net.bias.copy_(torch.as_tensor(T[:, d]))
    return net


def test_memmapped_matrix_equals_in_memory_and_reductions_match_numpy(tmp_path) -> None:
    rng = np.random.default_rng(0)
    Phi, Psi, r = rng.normal(size=(103, 7)), rng.normal(size=(11, 7)), rng.uniform(0.5, 2, 103)
    mem = attribution_matrix(lambda s: Phi[s], 103, Psi, method="x", row_scale=r, block_rows=10)
    disk = attribution_matrix(lambda s: Phi[s], 103, Psi, method="x", row_scale=r, block_rows=10,
                              path=tmp_path / "a.npy")
    other = attribution_matrix(lambda s: Phi[s], 103, Psi, method="x", row_scale=r, block_rows=17)
    ref = (r[:, None] * (Phi @ Psi.T)).astype(np.float32)
    np.testing.assert_allclose(mem.to_numpy(), ref, rtol=1e-5, atol=1e-5)
    assert np.array_equal(mem.to_numpy(), disk.to_numpy())
    np.testing.assert_allclose(other.to_numpy(), mem.to_numpy(), rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), mem.to_numpy())
    again = load_attribution(tmp_path / "a.npy")
    assert again.shape == (103, 11) and again.method == "x"
    A = mem.to_numpy().astype(np.float64)
    for M in (mem, again):
        np.testing.assert_allclose(M.mean(), A.mean(axis=1), rtol=1e-6)
        np.testing.assert_allclose(M.column(4), A[:, 4])
        groups = np.arange(11) % 3
        np.testing.assert_allclose(M.group_max(groups),
                                   np.max([A[:, groups == g].mean(axis=1) for g in range(3)], axis=0), rtol=1e-6)
        idx, val = M.top_k(5)
        for j in range(11):
            assert np.array_equal(idx[j], np.argsort(-A[:, j], kind="stable")[:5])
            np.testing.assert_allclose(val[j], A[idx[j], j])
        low, _ = M.top_k(3, largest=False)
        assert np.array_equal(low[2], np.argsort(A[:, 2], kind="stable")[:3])


def test_influence_columns_agree_with_exact_logistic_regression() -> None:
    X, y = _data()
    n, d, C, l2 = len(y), X.shape[1], 3, 1.0
    Xt, yt = _data(1, n=12)
    theta = fit_logreg(X, y, l2=l2, n_classes=C)
    net = _linear(theta, d, C)
    A = influence_attribution(net, X, y, Xt, yt, damping=l2 / n, max_iter=500)
    for j in range(len(yt)):
        exact = logreg_influence(X, y, Xt[j : j + 1], yt[j : j + 1], l2=l2, n_classes=C, theta=theta)
        assert np.corrcoef(A.column(j), exact)[0, 1] >= 0.95
        np.testing.assert_allclose(A.column(j), exact, rtol=1e-3, atol=1e-4 * np.abs(exact).max())
    # the mean over test rows is the influence on the mean test loss
    np.testing.assert_allclose(A.mean(), logreg_influence(X, y, Xt, yt, l2=l2, n_classes=C, theta=theta),
                               rtol=1e-3, atol=1e-5)


def test_tracin_mean_is_the_tracin_scorer() -> None:
    X, y = _data(2, n=50)
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)) for _ in range(2)]
    Xt, yt = X[:6], y[:6]
    A = tracin_attribution(nets, X, y, Xt, yt, lrs=[0.5, 0.1], dim=16, seed=3, block_rows=7)
    G = checkpoint_gradients(nets, np.vstack([X, Xt]), np.concatenate([y, yt]), dim=16, seed=3)
    target = np.r_[np.zeros(50, bool), np.ones(6, bool)]
    np.testing.assert_allclose(A.mean(), tracin_scores(G, target, 2, [0.5, 0.1])[:50], rtol=1e-4, atol=1e-6)


def _margin_grads(theta: np.ndarray, X: np.ndarray, y: np.ndarray, C: int) -> np.ndarray:
    """Analytic gradient of z_y - logsumexp_{c != y} z_c for a linear softmax model (weight then bias)."""
    Z = np.hstack([X, np.ones((len(X), 1))]) @ theta.reshape(C, -1).T
    Zo = Z.copy()
    Zo[np.arange(len(y)), y] = -np.inf
    q = np.exp(Zo - np.logaddexp.reduce(Zo, axis=1, keepdims=True))
    dz = -q
    dz[np.arange(len(y)), y] = 1.0
    return np.hstack([(dz[:, :, None] * X[:, None, :]).reshape(len(y), -1), dz])


def test_trak_equals_its_closed_form_when_the_projection_spans_the_gradients() -> None:
    # softmax margin gradients span r = (C - 1)(d + 1) dimensions; with dim = r a Gaussian projection
    # is invertible on that span and cancels: Phi P (P^T Phi^T Phi P)^-1 P^T phi = Phi (Phi^T Phi)^+ phi
    C, d = 3, 3
    X, y = _data(3, n=80, d=d, C=C)
    Xt, yt = _data(4, n=5, d=d, C=C)
    models, expected = [], []
    Q = np.zeros(len(y))
    for s in range(2):
        theta = fit_logreg(X, y, l2=1.0 + s, n_classes=C)
        models.append(_linear(theta, d, C).float())
        F, Ft = _margin_grads(theta, X, y, C), _margin_grads(theta, Xt, yt, C)
        expected.append(F @ np.linalg.pinv(F.T @ F) @ Ft.T)
        Z = np.hstack([X, np.ones((len(X), 1))]) @ theta.reshape(C, -1).T
        P = np.exp(Z - np.logaddexp.reduce(Z, axis=1, keepdims=True))
        Q += (1 - P[np.arange(len(y)), y]) / 2
    A = trak_attribution(models, X, y, Xt, yt, dim=(C - 1) * (d + 1), lam=0.0, seed=1).to_numpy()
    ref = Q[:, None] * np.mean(expected, axis=0)
    np.testing.assert_allclose(A, ref, rtol=2e-2, atol=2e-3 * np.abs(ref).max())


def test_grad_similarity_cosines_and_the_adam_direction() -> None:
    X, y = _data(5, n=30)
    torch.manual_seed(1)
    net = torch.nn.Linear(4, 3)
    A = grad_similarity_attribution([net], X, y, X[:3], y[:3], dim=64, seed=0).to_numpy()
    np.testing.assert_allclose(np.diag(A[:3]), 1.0, rtol=1e-5)  # a row's cosine with itself
    assert np.all(np.abs(A) <= 1 + 1e-5)
    # one Adam step, then LESS's update direction against a NumPy computation on loop gradients
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = torch.nn.functional.cross_entropy(net(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(y))
    loss.backward()
    opt.step()
    m, v = adam_moments(opt, net)
    G = per_example_gradients_loop(net, X, y).astype(np.float64)
    assert m.shape == (G.shape[1],)
    Aa = grad_similarity_attribution([net], X, y, X[:4], y[:4], dim=4000, seed=2, adam=[(m, v)]).to_numpy()
    U = (0.9 * m + 0.1 * G) / (np.sqrt(0.999 * v + 0.001 * G**2) + 1e-8)
    # a long Gaussian projection nearly preserves cosines (JL)
    cos = (U / np.linalg.norm(U, axis=1, keepdims=True)) @ (G[:4] / np.linalg.norm(G[:4], axis=1, keepdims=True)).T
    np.testing.assert_allclose(Aa, cos, atol=0.06)
    assert np.corrcoef(Aa.ravel(), cos.ravel())[0, 1] > 0.95
