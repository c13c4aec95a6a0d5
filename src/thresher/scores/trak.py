"""TRAK-style attributions: projected output gradients, the TRAK kernel, an ensemble of checkpoints.

Park, Georgiev, Ilyas, Leclerc and Madry, "TRAK: Attributing Model Behavior at Scale"
(ICML 2023). For each model ``m`` of an ensemble (here: checkpoints, or independently
trained models) and the model output ``f(z) = log(p_y / (1 - p_y))`` (the margin of the
labelled class), with ``Phi_m`` the randomly projected gradients ``P^T grad f`` of the
training rows and ``phi_m(z)`` those of a test row,

``A = Q_bar (.) (1/M) sum_m Phi_m (Phi_m^T Phi_m + lam I)^{-1} phi_m(z)^T``,

``Q_bar`` the ensemble mean of each training row's ``1 - p_y`` (TRAK's one-step Newton
weighting for the logistic loss). The output gradient is obtained from the projected loss
gradient by the exact identity ``grad f = -grad CE / (1 - p_y)``, so the projection is
:func:`thresher.signals.gradients.projected_gradients` itself; ``1 - p_y`` is computed
from the logits in float64 and floored at ``1e-6``. ``lam`` is relative to the mean
diagonal of the kernel. TRAK's optional soft-thresholding of the scores is not applied.

Two passes over the training rows: one accumulates each model's (dim x dim) kernel, the
second writes ``A`` block by block (:func:`~thresher.scores.attribution.attribution_matrix`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher._typing import Seed
from thresher._validation import check_float, check_int, fail
from thresher.scores.attribution import AttributionMatrix, _seed, attribution_matrix

__all__ = ["trak_attribution", "one_minus_p"]


def one_minus_p(model: Any, X: Any, y: Any, *, batch_size: int = 4096) -> np.ndarray:
    """Return ``1 - p_y`` per row from the model's logits (float64, stable, floored at 1e-6).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(1, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[0.0], [0.0]]))
    >>> one_minus_p(net, np.ones((1, 1)), np.array([0])).tolist()
    [0.5]
    """
    from thresher._torch import import_torch

    torch = import_torch()
    dtype = next(model.parameters()).dtype
    Xn, yn = np.asarray(X), np.asarray(y, dtype=np.int64)
    out = np.empty(len(yn))
    with torch.no_grad():
        for b in range(0, len(yn), batch_size):
            z = model(torch.as_tensor(Xn[b : b + batch_size]).to(dtype)).double().numpy()
            yy = yn[b : b + batch_size]
            lse = np.logaddexp.reduce(z, axis=1)
            zo = z.copy()
            zo[np.arange(len(yy)), yy] = -np.inf
            out[b : b + batch_size] = np.exp(np.logaddexp.reduce(zo, axis=1) - lse)
    return np.maximum(out, 1e-6)


def _output_grads(model: Any, X: Any, y: Any, *, dim: int, seed: int, last_layer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (projected grad of the margin, 1 - p_y) for the rows."""
    from thresher.signals.gradients import projected_gradients

    q = one_minus_p(model, X, y)
    G = projected_gradients(model, X, y, dim=dim, seed=seed, last_layer=last_layer)
    return (-G / q[:, None].astype(np.float32)).astype(np.float32), q


def trak_attribution(
    models: Sequence[Any], X: Any, y: Any, X_test: Any, y_test: Any, *, dim: int = 512, seed: Seed = 0,
    lam: float = 1e-6, last_layer: bool = False, path: str | os.PathLike[str] | None = None, block_rows: int = 4096,
) -> AttributionMatrix:
    """Return TRAK attributions of every training row to every test row (ensemble over ``models``).

    Positive = the training row raises the test row's margin. See the module docstring
    for the estimator; ``dim`` is the projection dimension (the same projection for
    every model), ``lam`` the ridge relative to the kernel's mean diagonal.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> nets = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)]
    >>> X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30) % 2
    >>> trak_attribution(nets, X, y, X[:4], y[:4], dim=6).shape
    (30, 4)
    """
    owner = "trak_attribution"
    if len(models) < 1:
        raise fail("models", owner, "at least one model (checkpoint)", 0)
    check_int(dim, "dim", owner, low=1)
    check_int(block_rows, "block_rows", owner, low=1)
    check_float(lam, "lam", owner, low=0.0)
    s = _seed(seed)
    Xa, ya = np.asarray(X), np.asarray(y)
    n, M = len(ya), len(models)
    Q = np.zeros(n)
    Psi = []
    for mdl in models:
        K = np.zeros((dim, dim))
        for b in range(0, n, block_rows):
            Phi, q = _output_grads(mdl, Xa[b : b + block_rows], ya[b : b + block_rows], dim=dim, seed=s,
                                   last_layer=last_layer)
            K += Phi.T.astype(np.float64) @ Phi.astype(np.float64)
            Q[b : b + block_rows] += q / M
        K += lam * max(float(np.trace(K)) / dim, 1e-300) * np.eye(dim)
        phi_t, _ = _output_grads(mdl, X_test, y_test, dim=dim, seed=s, last_layer=last_layer)
        Psi.append(np.linalg.solve(K, phi_t.T.astype(np.float64)).T)  # (n_test, dim)

    def phi(rows: slice) -> np.ndarray:
        return np.hstack([_output_grads(mdl, Xa[rows], ya[rows], dim=dim, seed=s, last_layer=last_layer)[0] / M
                          for mdl in models])

    params = {"dim": dim, "seed": s, "lam": lam, "last_layer": last_layer, "n_models": M}
    return attribution_matrix(phi, n, np.hstack(Psi), method="trak", params=params, path=path, row_scale=Q,
                              block_rows=block_rows)
