"""An attribution matrix A (n_train x n_test), written block by block to a file, and its reductions.

``A[i, j] > 0`` means training row ``i`` helps test row ``j`` (lowers its loss or raises
its margin). Every estimator here has the form ``A = diag(r) Phi Psi^T``: a feature row
``phi_i`` per training row, computed block by block from the model, and a feature row
``psi_j`` per test row, held in memory (n_test x D):

* TracIn (Pruthi et al., NeurIPS 2020), :func:`tracin_attribution`:
  ``phi = psi = [sqrt(lr_k) P^T g^k]_k`` (projected loss gradients at each checkpoint);
* gradient similarity (LESS: Xia et al., ICML 2024), :func:`grad_similarity_attribution`:
  lr-weighted cosines of projected gradients, the training side optionally replaced by
  the Adam update direction ``m' / (sqrt(v') + eps)`` built from the optimizer's moments
  at each checkpoint, as LESS does;
* influence functions (Koh and Liang, ICML 2017), :mod:`thresher.scores.influence_matrix`;
* TRAK (Park et al., ICML 2023), :mod:`thresher.scores.trak`.

:func:`attribution_matrix` streams the blocks of ``A`` into a ``.npy`` file (written under
a temporary name and renamed) with plain file writes, so resident memory is one block plus
``Psi`` whatever the size of ``A`` (60,000 x 10,000 float32 is 2.4 GB on disk). Reductions
read the file back block by block: :meth:`AttributionMatrix.mean` (over test rows: the
TracIn / influence scorers' quantity), :meth:`AttributionMatrix.group_max` (max over target
groups of the group mean: LESS) and :meth:`AttributionMatrix.top_k` (the strongest
attributors of each test row).

torch is imported inside the functions that need it (``pip install thresher[torch]``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thresher._typing import Seed, seed_int
from thresher._validation import check_int, fail
from thresher.store.atomic import atomic_path, write_json

__all__ = [
    "AttributionMatrix",
    "attribution_matrix",
    "load_attribution",
    "projected_features",
    "tracin_attribution",
    "grad_similarity_attribution",
    "adam_moments",
]


@dataclass(frozen=True)
class AttributionMatrix:
    """An (n_train, n_test) float32 attribution matrix, in memory or in a ``.npy`` file."""

    shape: tuple[int, int]
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    data: np.ndarray | None = None

    def blocks(self, block_rows: int = 4096) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, A[rows])`` blocks of training rows, read with plain file reads."""
        n, m = self.shape
        if self.data is not None:
            for s in range(0, n, block_rows):
                yield slice(s, min(s + block_rows, n)), np.asarray(self.data[s : s + block_rows])
            return
        assert self.path is not None
        with open(self.path, "rb") as fh:
            if np.lib.format.read_magic(fh) == (1, 0):
                np.lib.format.read_array_header_1_0(fh)
            else:
                np.lib.format.read_array_header_2_0(fh)
            for s in range(0, n, block_rows):
                r = min(block_rows, n - s)
                yield slice(s, s + r), np.fromfile(fh, dtype=np.float32, count=r * m).reshape(r, m)

    def to_numpy(self) -> np.ndarray:
        """Return the whole matrix in memory (small matrices only)."""
        if self.data is not None:
            return np.asarray(self.data)
        return np.concatenate([b for _, b in self.blocks()]) if self.shape[0] else np.zeros(self.shape, np.float32)

    def column(self, j: int) -> np.ndarray:
        """Return the attributions of every training row to test row ``j`` (float64)."""
        return np.concatenate([b[:, j].astype(np.float64) for _, b in self.blocks()])

    def mean(self, columns: Any = None) -> np.ndarray:
        """Return the mean over test rows (or over ``columns``) of each training row's attributions."""
        cols = slice(None) if columns is None else np.asarray(columns)
        return np.concatenate([b[:, cols].mean(axis=1, dtype=np.float64) for _, b in self.blocks()])

    def group_max(self, groups: Any) -> np.ndarray:
        """Return, for each training row, the max over test-row groups of its mean attribution (LESS)."""
        g = np.asarray(groups)
        if g.shape != (self.shape[1],):
            raise fail("groups", "AttributionMatrix.group_max", f"one group per test row ({self.shape[1]})", g.shape)
        members = [np.flatnonzero(g == v) for v in np.unique(g)]
        return np.concatenate([np.stack([b[:, idx].mean(axis=1, dtype=np.float64) for idx in members], axis=1).max(axis=1)
                               for _, b in self.blocks()])

    def top_k(self, k: int, *, largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return (training positions (n_test, k), their attributions) of each test row's top ``k``.

        ``largest=False`` gives the strongest opponents instead. Ties go to the lower position.
        """
        check_int(k, "k", "AttributionMatrix.top_k", low=1, high=self.shape[0])
        sign = 1.0 if largest else -1.0
        m = self.shape[1]
        best_v = np.full((m, 0), -np.inf)
        best_i = np.zeros((m, 0), dtype=np.int64)
        for rows, b in self.blocks(block_rows=1024):  # small blocks: the float64 copy and its partition stay small
            v = sign * b.T.astype(np.float64)  # (m, block)
            kk = min(k, v.shape[1])
            part = np.argpartition(-v, kk - 1, axis=1)[:, :kk] if kk < v.shape[1] else np.broadcast_to(
                np.arange(v.shape[1]), v.shape)
            v = np.hstack([best_v, np.take_along_axis(v, part, 1)])
            i = np.hstack([best_i, rows.start + part])
            order = np.lexsort((i, -v), axis=1)[:, :k]
            best_v, best_i = np.take_along_axis(v, order, 1), np.take_along_axis(i, order, 1)
        return best_i, sign * best_v


def attribution_matrix(
    train_features: Callable[[slice], np.ndarray],
    n_train: int,
    test_features: np.ndarray,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    path: str | os.PathLike[str] | None = None,
    row_scale: np.ndarray | None = None,
    block_rows: int = 4096,
) -> AttributionMatrix:
    """Return ``A = diag(row_scale) Phi Psi^T``, computing ``Phi`` one block of training rows at a time.

    ``train_features(rows)`` returns ``Phi[rows]`` (len(rows), D); ``test_features`` is
    ``Psi`` (n_test, D). With ``path`` the blocks are appended to a ``.npy`` file (float32,
    written under a temporary name, renamed when complete, with ``<path>.json`` holding
    the method and parameters); without it the matrix is kept in memory.

    Examples
    --------
    >>> Phi = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]); Psi = np.array([[1.0, 1.0]])
    >>> attribution_matrix(lambda r: Phi[r], 3, Psi, method="dot", block_rows=2).to_numpy().ravel().tolist()
    [1.0, 2.0, 2.0]
    """
    owner = "attribution_matrix"
    check_int(n_train, "n_train", owner, low=1)
    check_int(block_rows, "block_rows", owner, low=1)
    Psi = np.asarray(test_features, dtype=np.float32)
    if Psi.ndim != 2:
        raise fail("test_features", owner, "a 2-D array (n_test, D)", Psi)
    scale = None if row_scale is None else np.asarray(row_scale, dtype=np.float32)
    if scale is not None and scale.shape != (n_train,):
        raise fail("row_scale", owner, f"one value per training row ({n_train})", scale.shape)
    m = Psi.shape[0]
    info = {"method": method, "shape": [n_train, m], "params": params or {}}

    def block(rows: slice) -> np.ndarray:
        Phi = np.asarray(train_features(rows), dtype=np.float32)
        if Phi.shape != (rows.stop - rows.start, Psi.shape[1]):
            raise fail("train_features", owner, f"a block of shape ({rows.stop - rows.start}, {Psi.shape[1]})", Phi.shape)
        out = Phi @ Psi.T
        if scale is not None:
            out *= scale[rows, None]
        return np.asarray(out, dtype=np.float32)

    slices = [slice(s, min(s + block_rows, n_train)) for s in range(0, n_train, block_rows)]
    if path is None:
        data = np.concatenate([block(r) for r in slices])
        return AttributionMatrix((n_train, m), method, dict(info["params"]), None, data)
    target = Path(path)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                     "shape": (n_train, m)})
            for r in slices:
                fh.write(np.ascontiguousarray(block(r)).tobytes())
    write_json(target.with_suffix(target.suffix + ".json"), info)
    return AttributionMatrix((n_train, m), method, dict(info["params"]), target, None)


def load_attribution(path: str | os.PathLike[str]) -> AttributionMatrix:
    """Open a stored attribution matrix (its ``.npy`` file and ``.json`` sidecar) without reading it."""
    p = Path(path)
    info = json.loads(p.with_suffix(p.suffix + ".json").read_text())
    return AttributionMatrix(tuple(info["shape"]), info["method"], info["params"], p, None)  # type: ignore[arg-type]


# ------------------------------------------------------------------ gradient features
def _seed(seed: Seed) -> int:
    s = seed_int(seed)
    return int(np.random.default_rng(seed).integers(2**31)) if s is None else s  # type: ignore[arg-type]


def projected_features(
    models: Sequence[Any], X: Any, y: Any, *, dim: int, seed: int, last_layer: bool = False,
    weights: Any = None, normalize: bool = False, batch_size: int = 256,
) -> np.ndarray:
    """Return ``[w_k * P^T g_i^k]_k`` (n, K*dim) float32: projected loss gradients at each checkpoint.

    ``normalize`` scales each checkpoint's block to unit length (for cosines). The same
    projection (``seed``) is used for every checkpoint and every call, so train and test
    features are comparable.
    """
    from thresher.signals.gradients import projected_gradients

    n = len(np.asarray(y))
    w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.empty((n, len(models) * dim), dtype=np.float32)
    for k, mdl in enumerate(models):
        G = projected_gradients(mdl, X, y, dim=dim, seed=seed, last_layer=last_layer, batch_size=batch_size)
        if normalize:
            nrm = np.linalg.norm(G, axis=1, keepdims=True)
            G = np.divide(G, nrm, out=np.zeros_like(G), where=nrm > 0)
        out[:, k * dim : (k + 1) * dim] = np.float32(w[k]) * G
    return out


def _lrs(lrs: Any, K: int, owner: str) -> np.ndarray:
    a = np.ones(K) if lrs is None else np.asarray([1.0 if v is None else float(v) for v in lrs])
    if a.shape != (K,) or np.any(a < 0):
        raise fail("lrs", owner, f"one learning rate >= 0 per checkpoint ({K})", a.tolist())
    return a


def tracin_attribution(
    models: Sequence[Any], X: Any, y: Any, X_test: Any, y_test: Any, *, lrs: Any = None, dim: int = 512,
    seed: Seed = 0, last_layer: bool = False, path: str | os.PathLike[str] | None = None, block_rows: int = 4096,
) -> AttributionMatrix:
    """Return TracInCP attributions ``A[i, j] = sum_k lr_k (P^T g_i^k) . (P^T g_j^k)``.

    Pruthi et al., "Estimating Training Data Influence by Tracing Gradient Descent"
    (NeurIPS 2020), on randomly projected per-example gradients at the checkpoints
    ``models`` (learning rates ``lrs``). The mean over test rows is the ``tracin`` scorer.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(3, 2)
    >>> X, y = np.random.default_rng(0).normal(size=(6, 3)), np.arange(6) % 2
    >>> tracin_attribution([net], X, y, X[:2], y[:2], dim=8).shape
    (6, 2)
    """
    owner = "tracin_attribution"
    s = _seed(seed)
    w = np.sqrt(_lrs(lrs, len(models), owner))
    Psi = projected_features(models, X_test, y_test, dim=dim, seed=s, last_layer=last_layer, weights=w)
    Xa, ya = np.asarray(X), np.asarray(y)

    def phi(rows: slice) -> np.ndarray:
        return projected_features(models, Xa[rows], ya[rows], dim=dim, seed=s, last_layer=last_layer, weights=w)

    params = {"dim": dim, "seed": s, "last_layer": last_layer, "lrs": (w**2).tolist(), "n_checkpoints": len(models)}
    return attribution_matrix(phi, len(ya), Psi, method="tracin", params=params, path=path, block_rows=block_rows)


def adam_moments(optimizer: Any, model: Any, *, last_layer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return Adam's first and second moments (``exp_avg``, ``exp_avg_sq``) flattened in parameter order.

    The order is that of :func:`thresher.signals.gradients.parameter_names`, the order of
    per-example gradient columns.
    """
    from thresher.signals.gradients import parameter_names

    names = parameter_names(model, last_layer)
    params = dict(model.named_parameters())
    m, v = [], []
    for nm in names:
        st = optimizer.state.get(params[nm], {})
        if "exp_avg" not in st:
            raise fail("optimizer", "adam_moments", "an Adam optimizer that has taken a step on the model", nm)
        m.append(st["exp_avg"].detach().reshape(-1).cpu().numpy())
        v.append(st["exp_avg_sq"].detach().reshape(-1).cpu().numpy())
    return np.concatenate(m).astype(np.float64), np.concatenate(v).astype(np.float64)


def _projection(n_params: int, dim: int, seed: int, cache: dict[int, np.ndarray]) -> np.ndarray:
    """The (n_params, dim) Gaussian projection of the Adam route, N(0, 1/dim), generated once per call."""
    if n_params not in cache:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        cache[n_params] = rng.standard_normal((n_params, dim)) / np.sqrt(dim)
    return cache[n_params]


def _adam_features(
    models: Sequence[Any], moments: Sequence[tuple[np.ndarray, np.ndarray]], X: Any, y: Any, *, dim: int, seed: int,
    last_layer: bool, weights: np.ndarray, betas: tuple[float, float], eps: float, cache: dict[int, np.ndarray],
) -> np.ndarray:
    from thresher.signals.gradients import per_example_gradients

    b1, b2 = betas
    n = len(np.asarray(y))
    out = np.empty((n, len(models) * dim), dtype=np.float32)
    for k, (mdl, (m, v)) in enumerate(zip(models, moments)):
        G = per_example_gradients(mdl, X, y, last_layer=last_layer).astype(np.float64)
        if G.shape[1] != len(m):
            raise fail("moments", "grad_similarity_attribution", f"moments with {G.shape[1]} entries", len(m))
        U = (b1 * m + (1 - b1) * G) / (np.sqrt(b2 * v + (1 - b2) * G**2) + eps)  # LESS's Adam update direction
        P = _projection(G.shape[1], dim, seed, cache)
        Z = U @ P
        nrm = np.linalg.norm(Z, axis=1, keepdims=True)
        out[:, k * dim : (k + 1) * dim] = weights[k] * np.divide(Z, nrm, out=np.zeros_like(Z), where=nrm > 0)
    return out


def _sgd_unit_features(
    models: Sequence[Any], X: Any, y: Any, *, dim: int, seed: int, last_layer: bool, cache: dict[int, np.ndarray],
) -> np.ndarray:
    """Unit-normalised projected plain gradients with the Adam route's projection (for its test side)."""
    from thresher.signals.gradients import per_example_gradients

    out = np.empty((len(np.asarray(y)), len(models) * dim), dtype=np.float32)
    for k, mdl in enumerate(models):
        G = per_example_gradients(mdl, X, y, last_layer=last_layer).astype(np.float64)
        P = _projection(G.shape[1], dim, seed, cache)
        Z = G @ P
        nrm = np.linalg.norm(Z, axis=1, keepdims=True)
        out[:, k * dim : (k + 1) * dim] = np.divide(Z, nrm, out=np.zeros_like(Z), where=nrm > 0)
    return out


def grad_similarity_attribution(
    models: Sequence[Any], X: Any, y: Any, X_test: Any, y_test: Any, *, lrs: Any = None, dim: int = 512,
    seed: Seed = 0, last_layer: bool = False, adam: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    path: str | os.PathLike[str] | None = None, block_rows: int = 4096,
) -> AttributionMatrix:
    """Return LESS-style attributions ``A[i, j] = sum_k lr_k cos(Gamma_i^k, P^T g_j^k)``.

    Xia et al., "LESS: Selecting Influential Data for Targeted Instruction Tuning" (ICML
    2024). Without ``adam``, ``Gamma_i^k`` is the projected loss gradient; with ``adam``
    (one ``(exp_avg, exp_avg_sq)`` pair per checkpoint, see :func:`adam_moments`) it is the
    projected Adam update ``m' / (sqrt(v') + eps)`` with ``m' = b1 m + (1 - b1) g`` and
    ``v' = b2 v + (1 - b2) g^2`` formed from the full per-example gradient (memory: a
    batch of full gradients and an (n_params, dim) projection). Test rows keep plain
    gradients, as in LESS. :meth:`AttributionMatrix.group_max` gives LESS's score.
    """
    owner = "grad_similarity_attribution"
    s = _seed(seed)
    w = _lrs(lrs, len(models), owner)
    Xa, ya = np.asarray(X), np.asarray(y)
    params: dict[str, Any] = {"dim": dim, "seed": s, "last_layer": last_layer, "lrs": w.tolist(),
                              "n_checkpoints": len(models), "adam": adam is not None}
    if adam is None:
        Psi = projected_features(models, X_test, y_test, dim=dim, seed=s, last_layer=last_layer, normalize=True)

        def phi(rows: slice) -> np.ndarray:
            return projected_features(models, Xa[rows], ya[rows], dim=dim, seed=s, last_layer=last_layer,
                                      weights=w, normalize=True)
    else:
        if len(adam) != len(models):
            raise fail("adam", owner, f"one (exp_avg, exp_avg_sq) pair per checkpoint ({len(models)})", len(adam))
        cache: dict[int, np.ndarray] = {}
        Psi = _sgd_unit_features(models, X_test, y_test, dim=dim, seed=s, last_layer=last_layer, cache=cache)

        def phi(rows: slice) -> np.ndarray:
            return _adam_features(models, adam, Xa[rows], ya[rows], dim=dim, seed=s, last_layer=last_layer,
                                  weights=w, betas=betas, eps=eps, cache=cache)

        params.update(betas=list(betas), eps=eps)
    return attribution_matrix(phi, len(ya), Psi, method="grad_similarity", params=params, path=path,
                              block_rows=block_rows)
