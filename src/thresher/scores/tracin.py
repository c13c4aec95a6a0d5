"""TracIn and gradient similarity (LESS): a row's gradient against the target set's, over checkpoints.

Both read ``grad.ckpt`` (n, n_checkpoints * dim) with ``meta["grad.n_checkpoints"]`` and
``meta["grad.lrs"]``, as made by :func:`thresher.signals.checkpoint_grads.checkpoint_gradients`.

* TracInCP (Pruthi et al., "Estimating Training Data Influence by Tracing Gradient
  Descent", NeurIPS 2020): learning-rate-weighted dot products.
* Gradient similarity (Xia et al., "LESS: Selecting Influential Data for Targeted
  Instruction Tuning", ICML 2024): learning-rate-weighted cosines.

The target set is given by a column (see :mod:`thresher.scores.target_set`); a positive
score means the row helps the target set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.scores.base import BaseScorer
from thresher.scores.target_set import grad_conformance_table, target_mask

__all__ = ["tracin_scores", "grad_similarity_scores", "TracIn", "GradSimilarity"]


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


class _GradScorer(BaseScorer):
    requires = frozenset({"grad.ckpt"})

    def __init__(self, target: str = "flag.target") -> None:
        self.target = target

    def _inputs(self, table: Table) -> tuple[np.ndarray, np.ndarray, int, Any]:
        owner = type(self).__name__
        table.require([self.target], owner)
        if "grad.n_checkpoints" not in table.meta:
            raise DataError(f"table of {owner} must carry meta['grad.n_checkpoints'] alongside 'grad.ckpt'.")
        return table.matrix("grad.ckpt"), target_mask(table, self.target, owner), int(table.meta["grad.n_checkpoints"]), table.meta.get("grad.lrs")

    @classmethod
    def conformance_table(cls) -> Table:
        return grad_conformance_table()


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

