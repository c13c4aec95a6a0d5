"""Per-example gradients with ``torch.func`` (vmap over grad), optionally randomly projected.

Gradient-based scores (GraNd, TracIn, gradient similarity, mimic, influence) all need
the gradient of the loss of *one* example with respect to the model's parameters. A
Python loop over examples is slow (one backward pass each); ``torch.func.vmap`` over
``torch.func.grad`` computes a whole batch of per-example gradients in one vectorised
pass. ``last_layer=True`` restricts the gradient to the parameters of the last layer
(the cheap approximation used by EL2N-style analyses and by TracIn in practice).

Storing full per-example gradients for 60,000 examples of a 100k-parameter model would
take 24 GB, so :func:`projected_gradients` multiplies each batch of gradients by a fixed
random Gaussian matrix (Johnson-Lindenstrauss, as in TRAK and LESS) and only keeps the
``dim``-dimensional projections; memory is ``batch_size * n_params + n_params * dim +
n * dim`` floats. The projection matrix is generated block by block from the seed, so it
is never materialised for very large models.

Built on these: input gradients and VoG in :mod:`thresher.signals.vog`, EL2N/GraNd runs
in :mod:`thresher.signals.data_diet`, checkpoint gradient matrices for TracIn and mimic
in :mod:`thresher.signals.checkpoint_grads`.

torch is imported inside the functions (``pip install thresher[torch]``).
"""


from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from thresher._torch import import_torch
from thresher._typing import Seed, seed_int
from thresher._validation import check_int, fail

__all__ = [
    "import_torch",
    "parameter_names",
    "per_example_gradients",
    "per_example_gradients_loop",
    "per_example_grad_norms",
    "projection_block",
    "projected_gradients",
]


def parameter_names(model: Any, last_layer: bool = False) -> list[str]:
    """Return the names of the parameters gradients are taken with respect to.

    With ``last_layer`` only the parameters of the last module that owns parameters
    (e.g. the final ``Linear``) are returned.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> parameter_names(net), parameter_names(net, last_layer=True)
    (['0.weight', '0.bias', '2.weight', '2.bias'], ['2.weight', '2.bias'])
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise fail("model", "parameter_names", "a module with trainable parameters", type(model).__name__)
    if not last_layer:
        return names
    prefix = names[-1].rsplit(".", 1)[0] if "." in names[-1] else ""
    return [n for n in names if (n.rsplit(".", 1)[0] if "." in n else "") == prefix]


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _as_tensors(torch: Any, X: Any, y: Any, device: Any, dtype: Any = None) -> tuple[Any, Any]:
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
    if dtype is not None and dtype != Xt.dtype:
        Xt = torch.as_tensor(np.asarray(X), device=device).to(dtype)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
    if Xt.shape[0] != yt.shape[0]:
        raise fail("y", "per_example_gradients", f"one label per row of X ({Xt.shape[0]})", int(yt.shape[0]))
    return Xt, yt


def _head_split(model: Any, names: list[str]) -> int | None:
    """Index of the first Sequential child holding a gradient parameter, when it is not 0.

    For ``last_layer`` gradients of an ``nn.Sequential`` the frozen body is run once per
    batch as an ordinary forward pass and only the head is differentiated per example.
    """
    import torch

    if not isinstance(model, torch.nn.Sequential):
        return None
    keys = list(model._modules.keys())
    first = min(keys.index(n.split(".", 1)[0]) for n in names)
    return first if first > 0 else None


def _per_example_fn(model: Any, names: list[str]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Return (vmapped grad function ``fn(train_params, X, y)``, trainable params, frozen params+buffers)."""
    import torch
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters()}
    train = {n: params[n] for n in names}
    frozen = {n: p for n, p in params.items() if n not in train}
    frozen.update({n: b.detach() for n, b in model.named_buffers()})
    split = _head_split(model, names)
    body, head = (None, model) if split is None else (model[:split], model[split:])
    head_frozen = {n: v for n, v in frozen.items() if split is None or int(n.split(".", 1)[0]) >= split}

    def loss_one(tp: dict[str, Any], x: Any, t: Any) -> Any:
        out = functional_call(head, {**head_frozen, **tp}, (x.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, t.unsqueeze(0))

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))
    if body is None:
        return per_example, train, frozen

    def fn(tp: dict[str, Any], X: Any, y: Any) -> Any:
        with torch.no_grad():
            feats = body(X)  # the frozen layers: one batched forward pass
        return per_example(tp, feats, y)

    return fn, train, frozen


def _flat(torch: Any, grads: dict[str, Any], names: list[str]) -> Any:
    return torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in names], dim=1)


def per_example_gradients(
    model: Any, X: Any, y: Any, *, last_layer: bool = False, batch_size: int = 256
) -> np.ndarray:
    """Return the per-example cross-entropy gradients, one flattened row per example.

    Computed with ``torch.func.vmap(torch.func.grad(...))`` over batches of
    ``batch_size`` examples; the model is evaluated as given (call ``model.eval()``
    first to freeze dropout/batch-norm statistics).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` mapping a batch of inputs to logits.
    X, y
        Inputs (n, ...) and integer class labels (n,).
    last_layer
        Only the parameters of the last layer (see :func:`parameter_names`).

    Returns
    -------
    ndarray, float32, shape (n, n_params)

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(3, 2)
    >>> G = per_example_gradients(net, np.ones((4, 3)), np.array([0, 1, 0, 1]))
    >>> G.shape
    (4, 8)
    """
    torch = import_torch()
    check_int(batch_size, "batch_size", "per_example_gradients", low=1)
    names = parameter_names(model, last_layer)
    fn, train, _ = _per_example_fn(model, names)
    dev = next(model.parameters()).device
    Xt, yt = _as_tensors(torch, X, y, dev, next(model.parameters()).dtype)
    sizes = [int(train[n].numel()) for n in names]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((len(yt), int(offsets[-1])), dtype=np.float32)
    for sl in _batches(len(yt), batch_size):
        g = fn(train, Xt[sl], yt[sl])
        b = int(yt[sl].shape[0])
        for j, name in enumerate(names):  # write each tensor's block in place: no concatenated copy
            out[sl, offsets[j] : offsets[j + 1]] = g[name].reshape(b, -1).detach().cpu().numpy()
    return out


def per_example_gradients_loop(model: Any, X: Any, y: Any, *, last_layer: bool = False) -> np.ndarray:
    """Return per-example gradients with one autograd backward pass per example.

    The slow reference the vmap route is checked (and benchmarked) against.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(3, 2)
    >>> X, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    >>> bool(np.allclose(per_example_gradients_loop(net, X, y), per_example_gradients(net, X, y), atol=1e-6))
    True
    """
    torch = import_torch()
    names = parameter_names(model, last_layer)
    params = dict(model.named_parameters())
    dev = next(model.parameters()).device
    Xt, yt = _as_tensors(torch, X, y, dev, next(model.parameters()).dtype)
    rows = []
    for i in range(len(yt)):
        loss = torch.nn.functional.cross_entropy(model(Xt[i : i + 1]), yt[i : i + 1])
        gs = torch.autograd.grad(loss, [params[n] for n in names])
        rows.append(torch.cat([g.reshape(-1) for g in gs]).detach().cpu().numpy())
    return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def per_example_grad_norms(
    model: Any, X: Any, y: Any, *, last_layer: bool = False, batch_size: int = 256
) -> np.ndarray:
    """Return the L2 norm of each example's loss gradient (the GraNd quantity), float64 (n,).

    Gradients are formed batch by batch and reduced at once, so memory is
    ``batch_size * n_params`` floats whatever ``n`` is.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(3, 2)
    >>> X, y = np.ones((2, 3)), np.array([0, 1])
    >>> bool(np.allclose(per_example_grad_norms(net, X, y), np.linalg.norm(per_example_gradients(net, X, y), axis=1)))
    True
    """
    torch = import_torch()
    check_int(batch_size, "batch_size", "per_example_grad_norms", low=1)
    names = parameter_names(model, last_layer)
    fn, train, _ = _per_example_fn(model, names)
    dev = next(model.parameters()).device
    Xt, yt = _as_tensors(torch, X, y, dev, next(model.parameters()).dtype)
    out = np.empty(len(yt), dtype=np.float64)
    for sl in _batches(len(yt), batch_size):
        g = fn(train, Xt[sl], yt[sl])
        # per-tensor norms in the gradient's dtype (no float64 copy of the batch), squared and summed in float64
        sq = sum(torch.linalg.vector_norm(g[n].reshape(g[n].shape[0], -1), dim=1).double().pow(2) for n in names)
        out[sl] = torch.sqrt(sq).cpu().numpy()
    return out


def projection_block(n_rows: int, dim: int, seed: int, block: int) -> np.ndarray:
    """Return rows of the Gaussian projection matrix for one parameter block (float32).

    Entries are N(0, 1/dim), so projected inner products are unbiased estimates of the
    true ones. Block ``block`` is drawn from ``SeedSequence([seed, block])``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
    return (rng.standard_normal((n_rows, dim), dtype=np.float32) / np.float32(np.sqrt(dim))).astype(np.float32)


def projected_gradients(
    model: Any,
    X: Any,
    y: Any,
    *,
    dim: int = 512,
    seed: Seed = 0,
    last_layer: bool = False,
    batch_size: int = 256,
    param_block: int = 65536,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return per-example gradients randomly projected to ``dim`` dimensions, float32 (n, dim).

    ``G_proj = G @ P`` with ``P`` a (n_params, dim) Gaussian matrix with N(0, 1/dim)
    entries (Johnson-Lindenstrauss), so dot products and norms of projected gradients
    approximate those of the full gradients. ``P`` is generated in blocks of
    parameter rows per parameter tensor from ``seed``; the same seed (and
    ``param_block``) gives the same projection for every model of the same
    architecture, so gradients from different
    checkpoints (TracIn) or data sets (LESS targets) are comparable.

    Parameters
    ----------
    out
        Optional preallocated (n, dim) float32 array to fill, e.g. a ``np.memmap`` under
        the run directory, so the result never has to sit in RAM.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(3, 2)
    >>> X, y = np.random.default_rng(0).normal(size=(6, 3)), np.arange(6) % 2
    >>> P = projected_gradients(net, X, y, dim=4, seed=1)
    >>> P.shape, P.dtype
    ((6, 4), dtype('float32'))
    """
    torch = import_torch()
    owner = "projected_gradients"
    check_int(dim, "dim", owner, low=1)
    check_int(batch_size, "batch_size", owner, low=1)
    check_int(param_block, "param_block", owner, low=1)
    s = seed_int(seed)
    if s is None:
        s = int(np.random.default_rng(seed).integers(2**31))  # type: ignore[arg-type]
    names = parameter_names(model, last_layer)
    fn, train, _ = _per_example_fn(model, names)
    dev = next(model.parameters()).device
    Xt, yt = _as_tensors(torch, X, y, dev, next(model.parameters()).dtype)
    n = len(yt)
    n_params = sum(int(train[k].numel()) for k in names)
    if out is None:
        out = np.empty((n, dim), dtype=np.float32)
    elif out.shape != (n, dim):
        raise fail("out", owner, f"an array of shape {(n, dim)}", out.shape)
    # P is laid out parameter tensor by parameter tensor, each cut into blocks of at
    # most ``param_block`` rows; each block has its own seed, so it can be regenerated
    # on demand. Blocks are cached when all of P fits in 1 GiB (float32).
    bounds = []
    for t_idx, name in enumerate(names):
        size = int(train[name].numel())
        bounds += [(name, t_idx, c, lo, min(lo + param_block, size)) for c, lo in enumerate(range(0, size, param_block))]
    keep = n_params * dim * 4 <= 1 << 30
    cache: dict[tuple[int, int], Any] = {}

    def block(t_idx: int, c: int, rows: int) -> Any:
        if (t_idx, c) in cache:
            return cache[(t_idx, c)]
        t = torch.from_numpy(projection_block(rows, dim, s, t_idx * 1_000_003 + c)).to(dev)
        if keep:
            cache[(t_idx, c)] = t
        return t

    for sl in _batches(n, batch_size):
        grads = fn(train, Xt[sl], yt[sl])
        b = int(yt[sl].shape[0])
        acc = torch.zeros((b, dim), dtype=torch.float32, device=dev)
        for name, t_idx, c, lo, hi in bounds:
            # project each parameter tensor's gradient in place: no (batch, n_params) copy
            acc += grads[name].reshape(b, -1)[:, lo:hi] @ block(t_idx, c, hi - lo)
        out[sl] = acc.cpu().numpy()
        del grads
    return out

