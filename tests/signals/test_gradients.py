"""Per-example gradients: vmap vs autograd loop, closed forms for a linear softmax model, projection."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.signals.vog import gradient_variance, input_gradients  # noqa: E402
from thresher.signals.gradients import (  # noqa: E402
    parameter_names,
    per_example_grad_norms,
    per_example_gradients,
    per_example_gradients_loop,
    projected_gradients,
    projection_block,
)

pytestmark = pytest.mark.torch


def _mlp(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def _data(n: int = 20, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("last_layer", [False, True])
def test_vmap_equals_autograd_loop(last_layer: bool) -> None:
    net, (X, y) = _mlp(), _data()
    V = per_example_gradients(net, X, y, last_layer=last_layer, batch_size=7)
    L = per_example_gradients_loop(net, X, y, last_layer=last_layer)
    assert V.shape == L.shape == (20, 27 if last_layer else 6 * 8 + 8 + 27)
    np.testing.assert_allclose(V, L, atol=1e-6, rtol=0)


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)


def test_linear_softmax_gradient_closed_form() -> None:
    # d CE / dW = (p - onehot) x^T, d CE / db = p - onehot
    torch.manual_seed(1)
    lin = torch.nn.Linear(4, 3)
    X, y = _data(10, 4, seed=2)
    W, b = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
    R = _softmax(X.astype(np.float64) @ W.T + b)
    R[np.arange(10), y] -= 1.0
    expected = np.hstack([(R[:, :, None] * X[:, None, :]).reshape(10, -1), R])
    np.testing.assert_allclose(per_example_gradients(lin, X, y), expected, atol=1e-6)
    # GraNd closed form: ||p - y|| * sqrt(||x||^2 + 1)
    norms = np.linalg.norm(R, axis=1) * np.sqrt((X.astype(np.float64) ** 2).sum(axis=1) + 1.0)
    np.testing.assert_allclose(per_example_grad_norms(lin, X, y, batch_size=3), norms, rtol=1e-5)


def test_last_layer_names() -> None:
    assert parameter_names(_mlp(), last_layer=True) == ["2.weight", "2.bias"]


def test_projection_equals_explicit_matrix_product() -> None:
    net, (X, y) = _mlp(), _data()
    dim, block = 16, 20
    G = per_example_gradients(net, X, y).astype(np.float64)
    # rebuild P in the documented layout: per parameter tensor, blocks of `block` rows
    blocks = []
    for t_idx, p in enumerate(net.parameters()):
        size = p.numel()
        for c, lo in enumerate(range(0, size, block)):
            blocks.append(projection_block(min(lo + block, size) - lo, dim, 5, t_idx * 1_000_003 + c))
    P = np.vstack(blocks).astype(np.float64)
    got = projected_gradients(net, X, y, dim=dim, seed=5, param_block=block, batch_size=6)
    np.testing.assert_allclose(got, G @ P, rtol=1e-4, atol=1e-5)


def test_projection_preserves_inner_products() -> None:
    net, (X, y) = _mlp(), _data(30)
    G = per_example_gradients(net, X, y).astype(np.float64)
    Pg = projected_gradients(net, X, y, dim=4096, seed=0).astype(np.float64)
    exact, approx = G @ G.T, Pg @ Pg.T
    # Johnson-Lindenstrauss: relative error ~ sqrt(2/dim) of ||g_i|| ||g_j||
    scale = np.outer(np.linalg.norm(G, axis=1), np.linalg.norm(G, axis=1))
    assert np.max(np.abs(exact - approx) / scale) < 0.15


def test_projection_into_memmap(tmp_path) -> None:
    net, (X, y) = _mlp(), _data()
    mm = np.lib.format.open_memmap(tmp_path / "g.npy", mode="w+", dtype=np.float32, shape=(20, 8))
    projected_gradients(net, X, y, dim=8, seed=3, out=mm)
    mm.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), projected_gradients(net, X, y, dim=8, seed=3))


def test_input_gradients_match_finite_differences() -> None:
    net, (X, y) = _mlp(), _data(3)
    g = input_gradients(net.double(), X.astype(np.float64), y)
    eps = 1e-6
    for i in range(3):
        for j in range(6):
            xp, xm = X[i].astype(np.float64).copy(), X[i].astype(np.float64).copy()
            xp[j] += eps
            xm[j] -= eps
            with torch.no_grad():
                fp = net(torch.tensor(xp)[None])[0, y[i]].item()
                fm = net(torch.tensor(xm)[None])[0, y[i]].item()
            assert g[i, j] == pytest.approx((fp - fm) / (2 * eps), abs=1e-6)


def test_gradient_variance_hand_computed() -> None:
    # linear checkpoints: input gradient of logit y is W[y]; VoG = mean_p std_t W_t[y, p]
    Ws = [np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[3.0, 2.0], [0.0, 1.0]]), np.array([[2.0, 5.0], [0.0, 2.0]])]
    models = []
    for W in Ws:
        lin = torch.nn.Linear(2, 2)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W, dtype=torch.float32))
        models.append(lin)
    v = gradient_variance(models, np.zeros((2, 2)), np.array([0, 1]))
    expected0 = (np.std([1.0, 3.0, 2.0]) + np.std([2.0, 2.0, 5.0])) / 2
    expected1 = (0.0 + np.std([0.0, 1.0, 2.0])) / 2
    np.testing.assert_allclose(v, [expected0, expected1], rtol=1e-6)
