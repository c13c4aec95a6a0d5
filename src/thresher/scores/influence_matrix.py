"""Influence-function attributions for every (training row, test row) pair of a small network.

Koh and Liang, "Understanding Black-box Predictions via Influence Functions" (ICML 2017):
removing training row ``i`` changes the loss of test row ``j`` by about

``A[i, j] = (1/n) grad L_j . (H + damping I)^{-1} g_i``

for the objective ``mean_i CE_i + damping/2 ||theta||^2`` (the convention of
:func:`thresher.scores.influence.nn_influence`; positive = the row helps). One
inverse-Hessian-vector product is solved per test row with the existing
:func:`~thresher.scores.influence.inverse_hvp` (conjugate gradient or LiSSA) on exact
Hessian-vector products (forward-over-reverse with ``torch.func``), then each block of
training rows' full per-example gradients is multiplied by the solutions and written by
:func:`~thresher.scores.attribution.attribution_matrix`. Memory: the solutions are an
(n_test, n_params) array, so this route is for small networks and modest test sets
(TracIn and TRAK work on projected gradients at any size).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_float, check_int
from thresher.scores.attribution import AttributionMatrix, attribution_matrix

__all__ = ["influence_attribution"]


def influence_attribution(
    model: Any, X: Any, y: Any, X_test: Any, y_test: Any, *, method: str = "cg", damping: float = 0.01,
    max_iter: int = 100, scale: float = 10.0, hvp_batch_size: int | None = None, seed: Seed = 0,
    path: str | os.PathLike[str] | None = None, block_rows: int = 4096,
) -> AttributionMatrix:
    """Return the (n_train, n_test) influence matrix of a network (one iHVP per test row).

    Column ``j`` equals ``nn_influence(model, X, y, X_test[j:j+1], y_test[j:j+1])`` and
    the mean over columns equals ``nn_influence`` on the whole test set (influence is
    linear in the target gradient). ``hvp_batch_size`` draws a random minibatch per
    Hessian-vector product (stochastic LiSSA).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(2, 2)
    >>> X = np.random.default_rng(0).normal(size=(20, 2)); y = (X[:, 0] > 0).astype(int)
    >>> influence_attribution(net, X, y, X[:3], y[:3], damping=0.1).shape
    (20, 3)
    """
    from thresher.scores.influence import inverse_hvp
    from thresher._torch import import_torch
    from thresher.signals.gradients import parameter_names, per_example_gradients

    torch = import_torch()
    from torch.func import functional_call, grad, jvp

    owner = "influence_attribution"
    check_choice(method, "method", owner, ("cg", "lissa"))
    check_float(damping, "damping", owner, low=0.0)
    check_int(max_iter, "max_iter", owner, low=1)
    names = parameter_names(model)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    shapes = [params[n].shape for n in names]
    sizes = [int(params[n].numel()) for n in names]
    dtype = next(model.parameters()).dtype
    Xt = torch.as_tensor(np.asarray(X)).to(dtype)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n = len(yt)
    theta = torch.cat([params[nm].reshape(-1) for nm in names])

    def loss_flat(vec: Any, xb: Any, yb: Any) -> Any:
        tp, at = {}, 0
        for nm, sh, sz in zip(names, shapes, sizes):
            tp[nm] = vec[at : at + sz].reshape(sh)
            at += sz
        out = functional_call(model, {**params, **buffers, **tp}, (xb,))
        return torch.nn.functional.cross_entropy(out, yb)

    def hvp(u: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if hvp_batch_size is not None and rng is not None:
            idx = torch.as_tensor(rng.choice(n, size=min(hvp_batch_size, n), replace=False))
            xb, yb = Xt[idx], yt[idx]
        else:
            xb, yb = Xt, yt
        g = lambda v: grad(loss_flat)(v, xb, yb)  # noqa: E731
        hv = jvp(g, (theta,), (torch.as_tensor(u).to(dtype),))[1]
        return np.asarray(hv.detach().double().numpy())

    rng = as_generator(seed)
    G_test = per_example_gradients(model, X_test, y_test).astype(np.float64)
    S = np.stack([inverse_hvp(hvp, g, method=method, damping=damping, max_iter=max_iter, scale=scale, rng=rng)
                  for g in G_test]) if len(G_test) else np.zeros((0, int(theta.numel())))
    Xa, ya = np.asarray(X), np.asarray(y)

    def phi(rows: slice) -> np.ndarray:
        return per_example_gradients(model, Xa[rows], ya[rows])

    info = {"method": method, "damping": damping, "max_iter": max_iter, "scale": scale, "hvp_batch_size": hvp_batch_size}
    return attribution_matrix(phi, n, S / n, method="influence", params=info, path=path, block_rows=block_rows)
