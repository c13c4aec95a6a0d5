"""Per-row gradient matrices from training checkpoints, for TracIn, gradient similarity and mimic.

* :func:`checkpoint_gradients`: randomly projected per-example gradients at each recorded
  checkpoint (bounded memory), read by the ``tracin`` and ``grad_similarity`` scorers as
  ``grad.ckpt`` (Pruthi et al., NeurIPS 2020; Xia et al., ICML 2024).
* :func:`mimic_alignment`: alignment of each example's negative gradient with the
  direction to a reference model's weights, read by the ``mimic`` scorer as
  ``grad.mimic`` (Jha et al., 2025).

torch is imported inside the functions (``pip install thresher[torch]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher._torch import import_torch
from thresher._typing import Seed
from thresher.signals.gradients import _flat, _per_example_fn, parameter_names, projected_gradients

__all__ = ["checkpoint_gradients", "mimic_alignment"]


def checkpoint_gradients(
    models: Sequence[Any],
    X: Any,
    y: Any,
    *,
    dim: int = 512,
    seed: Seed = 0,
    last_layer: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Return projected per-example gradients at each checkpoint, float32 (n, K * dim).

    Columns ``k*dim:(k+1)*dim`` hold checkpoint ``k``; the same projection (``seed``)
    is used at every checkpoint. Attach the result as ``grad.ckpt`` with
    ``meta["grad.n_checkpoints"] = K`` and ``meta["grad.lrs"]``.
    """
    n = len(np.asarray(y))
    out = np.empty((n, len(models) * dim), dtype=np.float32)
    for k, m in enumerate(models):
        out[:, k * dim : (k + 1) * dim] = projected_gradients(
            m, X, y, dim=dim, seed=seed, last_layer=last_layer, batch_size=batch_size
        )
    return out



def mimic_alignment(
    models: Sequence[Any], reference: Any, X: Any, y: Any, *, batch_size: int = 256
) -> np.ndarray:
    """Return cos(-g_i(theta_k), theta_ref - theta_k) for each example and checkpoint, (n, K).

    The mimic score ("Evaluating Sample Utility for Data Selection by Mimicking Model
    Weights", Jha et al., 2025): an example is useful when a gradient step on it moves
    the current weights toward a reference model's weights. Full (unprojected)
    per-example gradients are formed batch by batch with vmap and reduced at once.
    """
    torch = import_torch()
    yn = np.asarray(y, dtype=np.int64)
    dtype = next(models[0].parameters()).dtype if len(models) else torch.float32
    Xt = torch.as_tensor(np.asarray(X)).to(dtype)
    yt = torch.as_tensor(yn)
    ref = dict(reference.named_parameters())
    out = np.empty((len(yn), len(models)))
    for k, m in enumerate(models):
        names = parameter_names(m)
        fn, train, _ = _per_example_fn(m, names)
        d = torch.cat([(ref[n].detach() - train[n]).reshape(-1) for n in names])
        dn = float(d.norm())
        for b in range(0, len(yn), batch_size):
            G = _flat(torch, fn(train, Xt[b : b + batch_size], yt[b : b + batch_size]), names)
            num = -(G @ d)
            den = G.norm(dim=1) * dn
            out[b : b + batch_size, k] = torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num)).numpy()
    return out

