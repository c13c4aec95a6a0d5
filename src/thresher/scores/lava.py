"""LAVA: data valuation by the gradient of an optimal-transport distance, without training.

Just, Kang, Wang, Zeng, Ko, Jin and Jia, "LAVA: Data Valuation without Pre-Specified
Learning Algorithms" (ICLR 2023). The label-aware OT distance (OTDD cost, see
:mod:`thresher.metrics.ot`) between the training set and a clean validation set bounds
the validation loss of any model trained on the training set; how that distance moves
when a little mass is shifted onto training row ``i`` (and taken evenly from all the
others) is row ``i``'s *calibrated gradient*

``g_i = f_i - (1 / (N - 1)) * sum_{j != i} f_j``,

with ``f`` the dual potentials of the training side (POT). A large ``g_i`` means that
adding weight to the row moves the training set away from the validation set: mislabelled
and off-distribution rows come out on top.

Scale: one transport problem holds an ``N x M`` cost matrix, so beyond ``batch_size``
training rows the rows are split at random into batches of at most ``batch_size`` (as in
SAVA, Kessler et al., "SAVA: Scalable Learning-Agnostic Data Valuation", 2024),
stratified by label so every batch has the training set's class shares (otherwise a
class that a batch happens to over-sample shifts all its rows' gradients), and each
batch is solved against the whole validation set; the class-to-class label distances are
computed once for all batches so every batch sees the same ground cost. Calibrated
gradients are centred within their batch (SAVA additionally weights batches by a
batch-level transport plan; with random, equally sized batches drawn from one training
set that weighting is a near-constant and is left out). Batches run through any Executor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed, as_generator
from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.metrics.ot import label_distances, ot_cost_matrix, solve_ot
from thresher.scores.base import BaseScorer
from thresher.scores.valuation import resolve_valid

__all__ = ["calibrated_gradients", "lava_gradients", "LAVA"]


def calibrated_gradients(f: np.ndarray) -> np.ndarray:
    """Return LAVA's calibrated gradients ``f_i - mean_{j != i} f_j`` of dual potentials ``f``.

    This is the directional derivative of the OT value along moving mass onto row ``i``
    from all the others evenly (a direction that keeps the total mass), so it does not
    depend on the constant the potentials are defined up to.

    Examples
    --------
    >>> calibrated_gradients(np.array([1.0, 2.0, 3.0])).tolist()
    [-1.5, 0.0, 1.5]
    """
    f = np.asarray(f, dtype=np.float64)
    n = len(f)
    if n < 2:
        raise fail("f", "calibrated_gradients", "at least 2 potentials", n)
    return np.asarray(f * (n / (n - 1)) - f.sum() / (n - 1))


def _stratified_batches(y: np.ndarray, n_batches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split rows into ``n_batches`` random batches with (nearly) the training set's class shares."""
    if n_batches == 1:
        return [np.arange(len(y))]
    slot = np.empty(len(y), dtype=np.int64)
    start = 0
    for c in np.unique(y):  # deal each class's rows round-robin, continuing where the last class stopped
        idx = np.flatnonzero(y == c)
        slot[rng.permutation(idx)] = (start + np.arange(len(idx))) % n_batches
        start = (start + len(idx)) % n_batches
    return [np.flatnonzero(slot == b) for b in range(n_batches)]


def lava_gradients(
    X: Any,
    y: Any,
    X_valid: Any,
    y_valid: Any,
    *,
    label_weight: float = 1.0,
    batch_size: int = 5000,
    method: str = "sinkhorn",
    reg: float = 0.1,
    max_exact_cells: int = 4_000_000,
    max_per_class: int = 500,
    seed: Seed = 0,
    executor: Executor | None = None,
) -> np.ndarray:
    """Return each training row's calibrated gradient of the label-aware OT distance to the validation set.

    Higher = more harmful (LAVA ranks rows by this, largest first). Rows are solved in
    random batches of at most ``batch_size`` against the whole validation set (see the
    module docstring); ``method``/``reg`` are passed to
    :func:`~thresher.metrics.ot.solve_ot`. The default is entropic OT (Sinkhorn with
    ``reg`` times the mean cost), as in the paper: its dual potentials are unique, while
    the exact problem with uniform masses is degenerate and its potentials are not
    (``"exact"`` is there for non-degenerate problems and checks).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]); y = np.repeat([0, 1], 20)
    >>> y_noisy = y.copy(); y_noisy[0] = 1                      # row 0 sits in class 0's cloud
    >>> g = lava_gradients(X, y_noisy, X + 0.1, y)
    >>> int(np.argmax(g))
    0
    """
    owner = "lava_gradients"
    Xa = check_matrix(X, "X", owner)
    Va = check_matrix(X_valid, "X_valid", owner)
    if Va.shape[1] != Xa.shape[1]:
        raise fail("X_valid", owner, f"an array with {Xa.shape[1]} columns like `X`", Va)
    ya, yva = np.asarray(y), np.asarray(y_valid)
    if ya.shape != (len(Xa),) or yva.shape != (len(Va),):
        raise fail("y", owner, "one label per row of X and of X_valid", f"{ya.shape} and {yva.shape}")
    check_int(batch_size, "batch_size", owner, low=2)
    check_float(label_weight, "label_weight", owner, low=0.0)
    n = len(Xa)
    if n < 2:
        raise fail("X", owner, "at least 2 training rows", n)
    rng = as_generator(seed)
    ca, cb, W = label_distances(Xa, ya, Va, yva, max_per_class=max_per_class, seed=rng)
    lab_cost = label_weight * W[np.searchsorted(ca, ya)][:, np.searchsorted(cb, yva)]
    n_batches = -(-n // batch_size)
    batches = _stratified_batches(ya, n_batches, rng)

    def run(shard: Shard) -> np.ndarray:
        out = []
        for b in range(shard.start, shard.stop):
            rows = batches[b]
            M = ot_cost_matrix(Xa[rows], Va) + lab_cost[rows]
            res = solve_ot(M, method=method, reg=reg, max_exact_cells=max_exact_cells)
            out.append(calibrated_gradients(res.f))
        return np.concatenate(out)

    ex = get_executor(executor)
    shards = make_shards(n_batches, shard_size=1, seed=0)
    parts = list(ex.map(run, shards))
    g = np.empty(n)
    for rows, part in zip(batches, parts):
        g[rows] = part
    return g


@register_scorer("lava")
class LAVA(BaseScorer):
    """Value each row by minus its LAVA calibrated OT gradient toward a clean validation set.

    Just et al., "LAVA: Data Valuation without Pre-Specified Learning Algorithms" (ICLR
    2023): no model is trained; the label-aware OT distance (OTDD cost on
    ``embeddings`` and ``label``) to the validation set is differentiated with respect to
    each training row's mass. Higher = more worth keeping; mislabelled rows score lowest.

    Parameters
    ----------
    valid
        A validation :class:`Table` or the name of a ``split`` value (those rows get NaN).
    batch_size
        Training rows per transport problem (random batches beyond it, SAVA-style).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (12, 2)), rng.normal(6, 1, (12, 2))])
    >>> y = np.repeat([0, 1], 12); y[0] = 1
    >>> split = np.where(np.arange(24) % 3 == 2, "valid", "train").astype(object)
    >>> v = LAVA().score(Table(columns={"label": y, "split": split}, matrices={"embeddings": X}))
    >>> int(np.nanargmin(v))
    0
    """

    name = "lava"
    higher_is_better = True
    requires = frozenset({"embeddings", "label"})

    def __init__(self, valid: Table | str = "valid", label_weight: float = 1.0, batch_size: int = 5000,
                 method: str = "sinkhorn", reg: float = 0.1, executor: Executor | None = None) -> None:
        self.valid = valid
        self.label_weight = label_weight
        self.batch_size = batch_size
        self.method = method
        self.reg = reg
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        split = resolve_valid(table, self.valid, owner, allow_none=False)
        assert split.X_valid is not None and split.y_valid is not None
        pos = split.train_positions
        g = lava_gradients(
            table.embeddings[pos], np.asarray(table.labels)[pos], split.X_valid, split.y_valid,
            label_weight=self.label_weight, batch_size=self.batch_size, method=self.method, reg=self.reg,
            seed=rng, executor=self.executor,
        )
        out = np.full(table.n_rows, np.nan)
        out[pos] = -g
        return out

    @classmethod
    def make_example(cls) -> LAVA:
        return cls(batch_size=16)

    @classmethod
    def conformance_table(cls) -> Table:
        rng = np.random.default_rng(0)
        n = 40
        labels = np.arange(n) % 3
        X = rng.normal(size=(n, 4)) + 3.0 * np.eye(3, 4)[labels]
        split = np.where(np.arange(n) % 4 == 0, "valid", "train").astype(object)
        return Table(np.arange(800, 800 + n), columns={"label": labels, "split": split}, matrices={"embeddings": X})
