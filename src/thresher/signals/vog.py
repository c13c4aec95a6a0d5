"""Input gradients and their variance over checkpoints: the VoG difficulty signal.

Agarwal, D'souza and Hooker, "Estimating Example Difficulty Using Variance of
Gradients" (CVPR 2022). The ``vog`` scorer (:mod:`thresher.scores.dynamics`)
class-normalises :func:`gradient_variance`.

torch is imported inside the functions (``pip install thresher[torch]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._torch import import_torch
from thresher._validation import fail
from thresher.signals.gradients import _as_tensors, _batches

__all__ = ["input_gradients", "gradient_variance"]


def input_gradients(model: Any, X: Any, y: Any, *, batch_size: int = 512) -> np.ndarray:
    """Return the gradient of each example's true-class logit w.r.t. its input, float32 (n, ...).

    This is the per-checkpoint quantity behind VoG (Agarwal et al.); the logit of the
    labelled class is differentiated (not the loss), as in the paper.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> g = input_gradients(net, np.ones((2, 3)), np.array([0, 1]))
    >>> bool(np.allclose(g[0], net.weight[0].detach().numpy()))
    True
    """
    torch = import_torch()
    dev = next(model.parameters()).device
    Xt, yt = _as_tensors(torch, X, y, dev, next(model.parameters()).dtype)
    out = []
    for sl in _batches(len(yt), batch_size):
        xb = Xt[sl].clone().requires_grad_(True)
        logits = model(xb)
        sel = logits.gather(1, yt[sl].unsqueeze(1)).sum()
        (g,) = torch.autograd.grad(sel, xb)
        out.append(g.detach().cpu().numpy())
    return np.concatenate(out) if out else np.zeros_like(np.asarray(X, dtype=np.float32))


def gradient_variance(models: Any, X: Any, y: Any, *, batch_size: int = 512) -> np.ndarray:
    """Return raw VoG per example: mean over input features of the std of input gradients.

    Agarwal, D'souza and Hooker, "Estimating Example Difficulty Using Variance of
    Gradients" (CVPR 2022): for checkpoints t = 1..K, S_t = d logit_y / d x;
    VoG = mean_p sqrt(mean_t (S_t,p - mean_t S_t,p)^2). Accumulated one checkpoint at
    a time (Welford), so memory is two (n, d) arrays whatever K is. Class
    normalisation is done by the ``vog`` scorer.

    Examples
    --------
    >>> import torch
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = a.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    ...     _ = b.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    >>> gradient_variance([a, b], np.zeros((2, 2)), np.array([0, 1])).tolist()
    [0.5, 0.0]
    """
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    k = 0
    for model in models:
        g = input_gradients(model, X, y, batch_size=batch_size).reshape(len(np.asarray(y)), -1).astype(np.float64)
        k += 1
        if mean is None or m2 is None:
            mean, m2 = g.copy(), np.zeros_like(g)
            continue
        delta = g - mean
        mean += delta / k
        m2 += delta * (g - mean)
    if mean is None or m2 is None:
        raise fail("models", "gradient_variance", "at least one checkpoint", 0)
    return np.asarray(np.sqrt(m2 / k).mean(axis=1), dtype=np.float64)

