"""Influence functions: the effect of removing a training row on a target set's loss.

Koh and Liang, "Understanding Black-box Predictions via Influence Functions" (ICML 2017):

* :func:`logreg_influence` (and the ``influence`` scorer): exact influence for
  L2-regularised multinomial logistic regression, with the closed-form Hessian
  (:func:`fit_logreg` fits it by Newton's method);
* :func:`nn_influence`: for small networks, one inverse-Hessian-vector product solved by
  conjugate gradient or LiSSA (:func:`inverse_hvp`; Agarwal, Bullins & Hazan, JMLR 2017).

Gradient-tracing attribution lives apart: TracIn and gradient similarity in
:mod:`thresher.scores.tracin`, mimic in :mod:`thresher.scores.mimic`, the checkpoint
gradient matrices they read in :mod:`thresher.signals.checkpoint_grads`. The target set
is given by a column (see :mod:`thresher.scores.target_set`); a positive score means the
row helps the target set. torch is imported inside :func:`nn_influence`
(``pip install thresher[torch]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._torch import import_torch
from thresher._typing import Seed
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.scores.base import BaseScorer
from thresher.scores.target_set import grad_conformance_table, target_mask
from thresher.signals.gradients import _flat, _per_example_fn, parameter_names

__all__ = ["fit_logreg", "logreg_influence", "nn_influence", "inverse_hvp", "Influence"]


# --------------------------------------------------- exact logistic regression
def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    return np.asarray(P / P.sum(axis=1, keepdims=True))


def _design(X: np.ndarray) -> np.ndarray:
    return np.hstack([np.asarray(X, dtype=np.float64), np.ones((len(X), 1))])


def _logreg_grads(theta: np.ndarray, Xb: np.ndarray, y: np.ndarray, C: int) -> np.ndarray:
    """Per-example gradients of the cross-entropy, (n, C*(d+1)), theta laid out (C, d+1)."""
    P = _softmax(Xb @ theta.reshape(C, -1).T)
    P[np.arange(len(y)), y] -= 1.0
    return np.asarray((P[:, :, None] * Xb[:, None, :]).reshape(len(y), -1))


def _logreg_hessian(theta: np.ndarray, Xb: np.ndarray, C: int, l2: float) -> np.ndarray:
    """Closed-form Hessian of sum_i CE_i + l2/2 ||theta||^2: sum_i (diag p - p p^T) kron x x^T."""
    P = _softmax(Xb @ theta.reshape(C, -1).T)
    D = Xb.shape[1]
    H = np.zeros((C * D, C * D))
    for a in range(C):
        for b in range(a, C):
            w = P[:, a] * ((a == b) - P[:, b])
            blk = (Xb * w[:, None]).T @ Xb
            H[a * D : (a + 1) * D, b * D : (b + 1) * D] = blk
            H[b * D : (b + 1) * D, a * D : (a + 1) * D] = blk.T
    return H + l2 * np.eye(C * D)


def fit_logreg(
    X: Any, y: Any, *, l2: float = 1.0, n_classes: int | None = None, tol: float = 1e-10, max_iter: int = 100,
    theta0: np.ndarray | None = None,
) -> np.ndarray:
    """Fit multinomial logistic regression by Newton's method; return theta (C*(d+1),).

    Minimises ``sum_i CE(softmax(W x_i + b), y_i) + l2/2 * (||W||^2 + ||b||^2)`` (the
    intercept is penalised too, which keeps the Hessian positive definite despite the
    softmax's shift invariance). Converges to machine precision in a few steps, which
    is what leave-one-out checks of influence need.
    """
    owner = "fit_logreg"
    check_float(l2, "l2", owner, low=0.0, low_open=True)
    Xb = _design(np.asarray(X, dtype=np.float64))
    yn = np.asarray(y, dtype=np.int64)
    C = int(yn.max()) + 1 if n_classes is None else int(n_classes)
    theta = np.zeros(C * Xb.shape[1]) if theta0 is None else np.array(theta0, dtype=np.float64)

    def objective(t: np.ndarray) -> float:
        Z = Xb @ t.reshape(C, -1).T
        zmax = Z.max(axis=1)
        lse = zmax + np.log(np.exp(Z - zmax[:, None]).sum(axis=1))
        return float((lse - Z[np.arange(len(yn)), yn]).sum() + 0.5 * l2 * t @ t)

    f = objective(theta)
    for _ in range(max_iter):
        g = _logreg_grads(theta, Xb, yn, C).sum(axis=0) + l2 * theta
        H = _logreg_hessian(theta, Xb, C, l2)
        step = np.linalg.solve(H, g)
        t = 1.0
        while True:  # backtracking line search keeps Newton monotone
            cand = theta - t * step
            fc = objective(cand)
            if fc <= f - 1e-4 * t * (g @ step) or t < 1e-10:
                break
            t *= 0.5
        theta, f = cand, fc
        if np.abs(g).max() < tol:
            break
    return theta


def logreg_influence(
    X: Any, y: Any, X_target: Any, y_target: Any, *, l2: float = 1.0, n_classes: int | None = None,
    theta: np.ndarray | None = None,
) -> np.ndarray:
    """Return the exact influence of removing each training row on the mean target loss.

    Koh and Liang, "Understanding Black-box Predictions via Influence Functions" (ICML
    2017), with the closed-form Hessian of logistic regression: removing row i moves the
    optimum by about ``H^{-1} g_i`` (H the Hessian of the regularised *sum* of losses),
    so the mean target loss changes by ``I_i = grad L_target . H^{-1} g_i``. Positive:
    the row helps the target set (removing it raises the target loss).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)
    >>> I = logreg_influence(X, y, X[:5], y[:5])
    >>> I.shape, bool(np.isfinite(I).all())
    ((40,), True)
    """
    Xn = np.asarray(X, dtype=np.float64)
    yn = np.asarray(y, dtype=np.int64)
    C = int(max(yn.max(), np.asarray(y_target).max())) + 1 if n_classes is None else int(n_classes)
    n_params = C * (Xn.shape[1] + 1)
    if n_params > 6000:
        raise fail("X", "logreg_influence", "at most 6000 parameters (classes x (features+1)) for an exact Hessian; "
                   "use nn_influence (conjugate gradient) for larger models", n_params)
    th = fit_logreg(Xn, yn, l2=l2, n_classes=C) if theta is None else theta
    Xb = _design(Xn)
    G = _logreg_grads(th, Xb, yn, C)
    gT = _logreg_grads(th, _design(np.asarray(X_target, dtype=np.float64)), np.asarray(y_target, dtype=np.int64), C).mean(axis=0)
    s = np.linalg.solve(_logreg_hessian(th, Xb, C, l2), gT)
    return np.asarray(G @ s, dtype=np.float64)


# ------------------------------------------------------- iterative iHVP for nets
def inverse_hvp(
    hvp: Any, v: np.ndarray, *, method: str = "cg", damping: float = 0.01, max_iter: int = 200, tol: float = 1e-8,
    scale: float = 10.0, rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Solve ``(H + damping I) s = v`` given a Hessian-vector product ``hvp(u, rng)``.

    ``"cg"``: conjugate gradient (H must be positive semi-definite, e.g. at a minimum;
    damping makes it definite). ``"lissa"``: the Neumann-series recursion of Agarwal,
    Bullins and Hazan (LiSSA), ``h <- v + h - (H + damping I) h / scale``, returning
    ``h / scale``; ``hvp`` may then use a random minibatch (stochastic estimate).

    Examples
    --------
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]])
    >>> s = inverse_hvp(lambda u, rng: A @ u, np.array([1.0, 0.0]), damping=0.0)
    >>> bool(np.allclose(A @ s, [1.0, 0.0]))
    True
    """
    owner = "inverse_hvp"
    check_choice(method, "method", owner, ("cg", "lissa"))
    check_float(damping, "damping", owner, low=0.0)
    check_int(max_iter, "max_iter", owner, low=1)
    v = np.asarray(v, dtype=np.float64)

    def op(u: np.ndarray) -> np.ndarray:
        return np.asarray(hvp(u, rng), dtype=np.float64) + damping * u

    if method == "cg":
        x = np.zeros_like(v)
        r = v.copy()
        p = r.copy()
        rs = r @ r
        vn = np.sqrt(v @ v)
        for _ in range(max_iter):
            if np.sqrt(rs) <= tol * max(vn, 1e-300):
                break
            Ap = op(p)
            alpha = rs / (p @ Ap)
            x += alpha * p
            r -= alpha * Ap
            rs_new = r @ r
            p = r + (rs_new / rs) * p
            rs = rs_new
        return x
    check_float(scale, "scale", owner, low=0.0, low_open=True)
    h = v.copy()
    for _ in range(max_iter):
        h = v + h - op(h) / scale
    return h / scale


def nn_influence(
    model: Any,
    X: Any,
    y: Any,
    X_target: Any,
    y_target: Any,
    *,
    method: str = "cg",
    damping: float = 0.01,
    max_iter: int = 100,
    scale: float = 10.0,
    hvp_batch_size: int | None = None,
    seed: Seed = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Return influence of removing each training row on the mean target loss, for a small net.

    The same quantity as :func:`logreg_influence`, for the objective
    ``mean_i CE_i + damping/2 ||theta||^2`` (damping stands in for weight decay and
    makes a non-convex Hessian invertible): ``I_i = (1/n) grad L_target . (H +
    damping I)^{-1} g_i``. One inverse-Hessian-vector product is solved (CG or LiSSA,
    with exact Hessian-vector products by double back-propagation),
    then every training gradient is dotted with it batch by batch (vmap).

    ``hvp_batch_size`` makes each Hessian-vector product use a random minibatch (for
    LiSSA on large sets); ``None`` uses every training row.
    """
    torch = import_torch()
    from torch.func import functional_call, grad

    owner = "nn_influence"
    check_int(batch_size, "batch_size", owner, low=1)
    if hvp_batch_size is not None:
        check_int(hvp_batch_size, "hvp_batch_size", owner, low=1)
    names = parameter_names(model)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    shapes = [params[n].shape for n in names]
    sizes = [int(params[n].numel()) for n in names]
    dtype = next(model.parameters()).dtype
    Xt = torch.as_tensor(np.asarray(X)).to(dtype)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n = len(yt)

    def unflat(vec: Any) -> dict[str, Any]:
        out, at = {}, 0
        for nm, sh, sz in zip(names, shapes, sizes):
            out[nm] = vec[at : at + sz].reshape(sh)
            at += sz
        return out

    def mean_loss(tp: dict[str, Any], xb: Any, yb: Any) -> Any:
        logits = functional_call(model, {**params, **buffers, **tp}, (xb,))
        return torch.nn.functional.cross_entropy(logits, yb)

    theta = {n: params[n] for n in names}

    def hvp(u: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if hvp_batch_size is not None and rng is not None:
            idx = torch.as_tensor(rng.choice(n, size=min(hvp_batch_size, n), replace=False))
            xb, yb = Xt[idx], yt[idx]
        else:
            xb, yb = Xt, yt
        # exact Hessian-vector product by double back-propagation
        tp = {nm: theta[nm].clone().requires_grad_(True) for nm in names}
        gs = torch.autograd.grad(mean_loss(tp, xb, yb), [tp[nm] for nm in names], create_graph=True)
        tang = unflat(torch.as_tensor(u).to(dtype))
        dot = sum((g * tang[nm]).sum() for g, nm in zip(gs, names))
        hv = torch.autograd.grad(dot, [tp[nm] for nm in names])
        return torch.cat([h.reshape(-1) for h in hv]).detach().double().numpy()

    gT_d = grad(mean_loss)(theta, torch.as_tensor(np.asarray(X_target)).to(dtype),
                           torch.as_tensor(np.asarray(y_target, dtype=np.int64)))
    gT = torch.cat([gT_d[nm].reshape(-1) for nm in names]).double().numpy()
    rng = np.random.default_rng(seed)  # type: ignore[arg-type]
    s = inverse_hvp(hvp, gT, method=method, damping=damping, max_iter=max_iter, scale=scale, rng=rng)
    st = torch.as_tensor(s)
    fn, train, _ = _per_example_fn(model, names)
    out = np.empty(n)
    for b in range(0, n, batch_size):
        G = _flat(torch, fn(train, Xt[b : b + batch_size], yt[b : b + batch_size]), names)
        out[b : b + batch_size] = (G.double() @ st.double()).numpy() / n
    return out



@register_scorer("influence")
class Influence(BaseScorer):
    """Exact influence of each row on a target set's loss, for logistic regression on embeddings.

    Koh and Liang, "Understanding Black-box Predictions via Influence Functions" (ICML
    2017). L2-regularised multinomial logistic regression (strength ``l2``) is fitted
    by Newton's method on the non-target rows; every row's score is
    ``grad L_target . H^{-1} g_i`` with the closed-form Hessian: the predicted rise of
    the mean target loss if the row were removed (for target rows: if a training row
    with that gradient were removed). Higher = more helpful.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2)); y = (X[:, 0] > 0).astype(int)
    >>> t = Table(columns={"label": y, "flag.target": np.arange(30) < 5}, matrices={"embeddings": X})
    >>> Influence().score(t).shape
    (30,)
    """

    name = "influence"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})

    def __init__(self, target: str = "flag.target", l2: float = 1.0) -> None:
        self.target = target
        self.l2 = l2

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.signals.oof import label_codes

        owner = type(self).__name__
        table.require([self.target], owner)
        check_float(self.l2, "l2", owner, low=0.0, low_open=True)
        T = target_mask(table, self.target, owner)
        if T.all():
            raise fail("target", owner, "a column that leaves some training rows", self.target)
        codes, classes = label_codes(table, owner)
        X = table.embeddings
        th = fit_logreg(X[~T], codes[~T], l2=self.l2, n_classes=len(classes))
        C = len(classes)
        Xb = _design(X)
        G = _logreg_grads(th, Xb, codes, C)
        gT = G[T].mean(axis=0)
        s = np.linalg.solve(_logreg_hessian(th, Xb[~T], C, self.l2), gT)
        return np.asarray(G @ s, dtype=np.float64)

    @classmethod
    def conformance_table(cls) -> Table:
        return grad_conformance_table()
