"""Gradient-based attribution: TracIn, gradient similarity (LESS), mimic score, influence functions.

Two layers, so the scorers stay cheap and the heavy work is reusable:

* **Functions** that need a model compute per-row matrices from checkpoints:
  :func:`checkpoint_gradients` (randomly projected per-example gradients at each
  recorded checkpoint, bounded memory), :func:`mimic_alignment` (alignment of each
  example's negative gradient with the direction to a reference model's weights),
  :func:`logreg_influence` (exact influence for L2-regularised logistic regression,
  closed-form Hessian) and :func:`nn_influence` (inverse-Hessian-vector product by
  conjugate gradient or LiSSA for small networks).
* **Scorers** read those matrices: ``tracin`` and ``grad_similarity`` read
  ``grad.ckpt`` (n, n_checkpoints * dim) with ``meta["grad.n_checkpoints"]`` and
  ``meta["grad.lrs"]``; ``mimic`` reads ``grad.mimic`` (n, n_checkpoints); the
  ``influence`` scorer fits the logistic regression itself on ``embeddings``.

The *target set* (the rows whose loss we want to reduce: a validation split, a task's
examples) is given by a column: rows where ``target`` is non-zero/true. Scores are
returned for every row; a positive score means the row helps the target set.

torch is imported inside the functions that need it (``pip install thresher[torch]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.scores.base import BaseScorer

__all__ = [
    "checkpoint_gradients",
    "tracin_scores",
    "grad_similarity_scores",
    "mimic_alignment",
    "fit_logreg",
    "logreg_influence",
    "nn_influence",
    "inverse_hvp",
    "TracIn",
    "GradSimilarity",
    "Mimic",
    "Influence",
]


# --------------------------------------------------------------------- signals
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
    from thresher.signals.gradients import projected_gradients

    n = len(np.asarray(y))
    out = np.empty((n, len(models) * dim), dtype=np.float32)
    for k, m in enumerate(models):
        out[:, k * dim : (k + 1) * dim] = projected_gradients(
            m, X, y, dim=dim, seed=seed, last_layer=last_layer, batch_size=batch_size
        )
    return out


def _split_ckpt(G: np.ndarray, n_ckpt: int, owner: str) -> np.ndarray:
    G = np.asarray(G, dtype=np.float64)
    if G.shape[1] % n_ckpt:
        raise DataError(f"matrix 'grad.ckpt' of {owner} must have a multiple of {n_ckpt} columns; got {G.shape[1]}.")
    return G.reshape(G.shape[0], n_ckpt, G.shape[1] // n_ckpt)


def _lrs(lrs: Any, n_ckpt: int, owner: str) -> np.ndarray:
    if lrs is None:
        return np.ones(n_ckpt)
    a = np.array([1.0 if v is None else float(v) for v in lrs])
    if a.shape != (n_ckpt,):
        raise fail("lrs", owner, f"one learning rate per checkpoint ({n_ckpt})", len(a))
    return a


def tracin_scores(G: np.ndarray, target: np.ndarray, n_checkpoints: int, lrs: Any = None) -> np.ndarray:
    """Return TracInCP scores: sum_k lr_k * g_i^k . mean_{t in target} g_t^k.

    Pruthi et al., "Estimating Training Data Influence by Tracing Gradient Descent"
    (NeurIPS 2020). ``G`` is (n, K*dim); ``target`` a boolean mask of target rows.

    Examples
    --------
    >>> G = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    >>> tracin_scores(G, np.array([False, False, True]), 1, [0.5]).tolist()
    [1.0, 1.0, 4.0]
    """
    owner = "tracin_scores"
    T = np.asarray(target, dtype=bool)
    if not T.any():
        raise fail("target", owner, "a mask with at least one target row", 0)
    G3 = _split_ckpt(G, n_checkpoints, owner)
    gbar = G3[T].mean(axis=0)  # (K, dim)
    return np.asarray(np.einsum("nkd,kd,k->n", G3, gbar, _lrs(lrs, n_checkpoints, owner)), dtype=np.float64)


def grad_similarity_scores(G: np.ndarray, target: np.ndarray, n_checkpoints: int, lrs: Any = None) -> np.ndarray:
    """Return sum_k lr_k * cos(g_i^k, mean target gradient at k), LESS-style.

    Xia et al., "LESS: Selecting Influential Data for Targeted Instruction Tuning"
    (ICML 2024) score each training example by the learning-rate-weighted cosine
    between its (projected) gradient and the target gradient over checkpoints.

    Examples
    --------
    >>> G = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    >>> grad_similarity_scores(G, np.array([False, False, True]), 1).round(4).tolist()
    [0.7071, 0.7071, 1.0]
    """
    owner = "grad_similarity_scores"
    T = np.asarray(target, dtype=bool)
    if not T.any():
        raise fail("target", owner, "a mask with at least one target row", 0)
    G3 = _split_ckpt(G, n_checkpoints, owner)
    gbar = G3[T].mean(axis=0)
    num = np.einsum("nkd,kd->nk", G3, gbar)
    den = np.linalg.norm(G3, axis=2) * np.linalg.norm(gbar, axis=1)[None, :]
    cos = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.asarray(cos @ _lrs(lrs, n_checkpoints, owner), dtype=np.float64)


def mimic_alignment(
    models: Sequence[Any], reference: Any, X: Any, y: Any, *, batch_size: int = 256
) -> np.ndarray:
    """Return cos(-g_i(theta_k), theta_ref - theta_k) for each example and checkpoint, (n, K).

    The mimic score ("Evaluating Sample Utility for Data Selection by Mimicking Model
    Weights", Jha et al., 2025): an example is useful when a gradient step on it moves
    the current weights toward a reference model's weights. Full (unprojected)
    per-example gradients are formed batch by batch with vmap and reduced at once.
    """
    from thresher.signals.gradients import _flat, _per_example_fn, import_torch, parameter_names

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
    from thresher.signals.gradients import _flat, _per_example_fn, import_torch, parameter_names

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


# ---------------------------------------------------------------------- scorers
def _target_mask(table: Table, target: str, owner: str) -> np.ndarray:
    v = np.asarray(table.column(target))
    mask = v.astype(bool) if v.dtype != object else np.array([bool(x) for x in v])
    if not mask.any():
        raise fail("target", owner, f"a column with at least one true row; {target!r} has none", target)
    return mask


def _grad_conformance_table() -> Table:
    rng = np.random.default_rng(0)
    n, K, d = 40, 3, 6
    y = np.arange(n) % 3
    G = rng.normal(size=(n, K * d)) + np.tile(np.eye(3)[y] @ rng.normal(size=(3, d)), K)
    return Table(
        np.arange(700, 700 + n, dtype=np.int64),
        columns={"label": y, "flag.target": (np.arange(n) % 5 == 0)},
        matrices={"grad.ckpt": G, "grad.mimic": rng.uniform(-1, 1, size=(n, K)), "embeddings": rng.normal(size=(n, 3)) + np.eye(3)[y] * 2},
        meta={"grad.n_checkpoints": K, "grad.lrs": [0.1, 0.05, 0.01]},
    )


class _GradScorer(BaseScorer):
    requires = frozenset({"grad.ckpt"})

    def __init__(self, target: str = "flag.target") -> None:
        self.target = target

    def _inputs(self, table: Table) -> tuple[np.ndarray, np.ndarray, int, Any]:
        owner = type(self).__name__
        table.require([self.target], owner)
        if "grad.n_checkpoints" not in table.meta:
            raise DataError(f"table of {owner} must carry meta['grad.n_checkpoints'] alongside 'grad.ckpt'.")
        return table.matrix("grad.ckpt"), _target_mask(table, self.target, owner), int(table.meta["grad.n_checkpoints"]), table.meta.get("grad.lrs")

    @classmethod
    def conformance_table(cls) -> Table:
        return _grad_conformance_table()


@register_scorer("tracin")
class TracIn(_GradScorer):
    """TracIn: learning-rate-weighted dot products of a row's gradient with the target gradient.

    Pruthi et al., "Estimating Training Data Influence by Tracing Gradient Descent"
    (NeurIPS 2020), checkpoint version (TracInCP) on randomly projected gradients
    ``grad.ckpt`` (see :func:`checkpoint_gradients`); the target set is the rows where
    column ``target`` is true. Positive scores mark proponents of the target set.

    Examples
    --------
    >>> t = Table(columns={"flag.target": np.array([0, 0, 1])},
    ...           matrices={"grad.ckpt": np.array([[1.0, 0, 2, 0], [0, 1, 0, 1], [1, 1, 1, 1]])},
    ...           meta={"grad.n_checkpoints": 2, "grad.lrs": [1.0, 0.5]})
    >>> TracIn().score(t).tolist()
    [2.0, 1.5, 3.0]
    """

    name = "tracin"
    higher_is_better = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        G, T, K, lrs = self._inputs(table)
        return tracin_scores(G, T, K, lrs)


@register_scorer("grad_similarity")
class GradSimilarity(_GradScorer):
    """Gradient similarity to a target set: lr-weighted cosine with the mean target gradient (LESS).

    Xia et al., "LESS: Selecting Influential Data for Targeted Instruction Tuning"
    (ICML 2024), on randomly projected gradients ``grad.ckpt``.

    Examples
    --------
    >>> t = Table(columns={"flag.target": np.array([0, 1])},
    ...           matrices={"grad.ckpt": np.array([[0.0, 2.0], [1.0, 1.0]])}, meta={"grad.n_checkpoints": 1})
    >>> GradSimilarity().score(t).round(4).tolist()
    [0.7071, 1.0]
    """

    name = "grad_similarity"
    higher_is_better = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        G, T, K, lrs = self._inputs(table)
        return grad_similarity_scores(G, T, K, lrs)


@register_scorer("mimic")
class Mimic(BaseScorer):
    """Mimic score: mean over checkpoints of cos(-gradient, direction to the reference weights).

    "Evaluating Sample Utility for Data Selection by Mimicking Model Weights" (Jha et
    al., 2025). Reads ``grad.mimic`` (n, n_checkpoints) from :func:`mimic_alignment`.

    Examples
    --------
    >>> t = Table(matrices={"grad.mimic": np.array([[0.5, 0.1], [-0.2, 0.0]])})
    >>> Mimic().score(t).round(6).tolist()
    [0.3, -0.1]
    """

    name = "mimic"
    higher_is_better = True
    requires = frozenset({"grad.mimic"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(np.asarray(table.matrix("grad.mimic"), dtype=np.float64).mean(axis=1))

    @classmethod
    def conformance_table(cls) -> Table:
        return _grad_conformance_table()


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
        T = _target_mask(table, self.target, owner)
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
        return _grad_conformance_table()
