"""Ground truth for attributions: the linear datamodeling score and a counterfactual removal check.

* **LDS** (Park et al., "TRAK: Attributing Model Behavior at Scale", ICML 2023): draw
  ``M`` random subsets holding a fraction ``alpha`` of the training rows, retrain on
  each, and record the model output (the margin) on every test row. An attribution
  matrix ``A`` predicts the output on subset ``S`` as ``sum_{i in S} A[i, j]``; the LDS of
  test row ``j`` is the Spearman correlation, over the ``M`` subsets, between predicted
  and actual outputs, and the LDS is its mean over test rows. The retrainings (the
  expensive part) are a :class:`SubsetOutputs` that any number of methods are scored
  against; their seeds are stored (``SeedSequence`` entropy and spawn index per subset),
  so :func:`retrain_subsets` rebuilds exactly the same subsets and outputs.
* **Counterfactual check** (as in Ilyas et al., "Datamodels", ICML 2022, and Koh and
  Liang's retraining checks): for a test row, remove its ``k`` strongest attributors,
  retrain with the same seed, and measure the drop of its margin; compare with removing
  ``k`` random rows. Reported per test row and as the mean paired difference with a
  t interval over test rows.

``train_fn(indices, seed) -> outputs`` trains a model on the training rows ``indices``
with ``seed`` and returns the outputs on the test rows (:func:`torch_margin_trainer`
builds one for the reference PyTorch models).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from thresher._validation import check_float, check_int, fail
from thresher.store.atomic import atomic_path, write_json

__all__ = [
    "SubsetOutputs",
    "retrain_subsets",
    "lds",
    "LDSResult",
    "counterfactual_check",
    "CounterfactualResult",
    "torch_margin_trainer",
    "margins",
]

TrainFn = Callable[[np.ndarray, int], np.ndarray]


def margins(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return ``z_y - logsumexp_{c != y} z_c`` per row (TRAK's output function, log p/(1-p)).

    Examples
    --------
    >>> margins(np.array([[2.0, 0.0]]), np.array([0])).tolist()
    [2.0]
    """
    z = np.asarray(logits, dtype=np.float64)
    yy = np.asarray(y, dtype=np.int64)
    zo = z.copy()
    zo[np.arange(len(yy)), yy] = -np.inf
    return np.asarray(z[np.arange(len(yy)), yy] - np.logaddexp.reduce(zo, axis=1))


@dataclass(frozen=True)
class SubsetOutputs:
    """Retrainings on random subsets: which rows (``masks``), the outputs, and the seeds that made them."""

    masks: np.ndarray  # (M, n_train) bool
    outputs: np.ndarray  # (M, n_test) float64
    alpha: float
    entropy: int
    train_seeds: np.ndarray  # (M,) int64

    def save(self, path: str | os.PathLike[str]) -> None:
        """Store as ``<path>`` (npz, atomic) with the seeds also in ``<path>.json``."""
        p = Path(path)
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, masks=self.masks, outputs=self.outputs, train_seeds=self.train_seeds)
        write_json(p.with_suffix(p.suffix + ".json"), {"alpha": self.alpha, "entropy": self.entropy,
                                                       "n_subsets": len(self.masks), "n_train": self.masks.shape[1]})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SubsetOutputs:
        p = Path(path)
        info = json.loads(p.with_suffix(p.suffix + ".json").read_text())
        with np.load(p) as z:
            return cls(z["masks"], z["outputs"], float(info["alpha"]), int(info["entropy"]), z["train_seeds"])


def _subset_plan(n_train: int, n_subsets: int, alpha: float, entropy: int) -> tuple[np.ndarray, np.ndarray]:
    size = max(1, int(round(alpha * n_train)))
    masks = np.zeros((n_subsets, n_train), dtype=bool)
    seeds = np.empty(n_subsets, dtype=np.int64)
    for m, child in enumerate(np.random.SeedSequence(entropy).spawn(n_subsets)):
        rng = np.random.default_rng(child)
        masks[m, rng.choice(n_train, size=size, replace=False)] = True
        seeds[m] = int(rng.integers(2**31))
    return masks, seeds


def retrain_subsets(
    train_fn: TrainFn, n_train: int, *, n_subsets: int = 50, alpha: float = 0.5, seed: int = 0,
    path: str | os.PathLike[str] | None = None,
) -> SubsetOutputs:
    """Train on ``n_subsets`` random ``alpha``-subsets and return their test outputs.

    Subset ``m`` and its training seed come from child ``m`` of ``SeedSequence(seed)``,
    so the same ``seed`` gives the same subsets and (with a deterministic ``train_fn``)
    the same outputs. With ``path`` the result is stored (and read back on a later call
    with the same plan instead of retraining).

    Examples
    --------
    >>> fn = lambda idx, s: np.array([float(len(idx)), float(idx.sum())])
    >>> out = retrain_subsets(fn, 10, n_subsets=3, alpha=0.5, seed=1)
    >>> out.outputs[:, 0].tolist(), bool(np.array_equal(out.masks, retrain_subsets(fn, 10, n_subsets=3, seed=1).masks))
    ([5.0, 5.0, 5.0], True)
    """
    owner = "retrain_subsets"
    check_int(n_train, "n_train", owner, low=2)
    check_int(n_subsets, "n_subsets", owner, low=2)
    check_float(alpha, "alpha", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    check_int(seed, "seed", owner, low=0)
    masks, seeds = _subset_plan(n_train, n_subsets, alpha, seed)
    if path is not None and Path(path).exists():
        stored = SubsetOutputs.load(path)
        if np.array_equal(stored.masks, masks) and np.array_equal(stored.train_seeds, seeds):
            return stored
    outs = np.stack([np.asarray(train_fn(np.flatnonzero(mk), int(s)), dtype=np.float64) for mk, s in zip(masks, seeds)])
    res = SubsetOutputs(masks, outs, float(alpha), int(seed), seeds)
    if path is not None:
        res.save(path)
    return res


@dataclass(frozen=True)
class LDSResult:
    """The mean LDS over test rows, its standard error, and each test row's LDS."""

    value: float
    std_error: float
    per_test: np.ndarray
    n_subsets: int
    alpha: float
    params: dict[str, Any] = field(default_factory=dict)


def lds(A: Any, subsets: SubsetOutputs) -> LDSResult:
    """Return the linear datamodeling score of attribution matrix ``A`` (n_train, n_test).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(20, 3))
    >>> masks = rng.random((30, 20)) < 0.5
    >>> sub = SubsetOutputs(masks, masks @ A + 5.0, 0.5, 0, np.arange(30))
    >>> lds(A, sub).value
    1.0
    """
    Am = np.asarray(A.to_numpy() if hasattr(A, "to_numpy") else A, dtype=np.float64)
    if Am.shape != (subsets.masks.shape[1], subsets.outputs.shape[1]):
        raise fail("A", "lds", f"an array of shape {(subsets.masks.shape[1], subsets.outputs.shape[1])}", Am.shape)
    pred = subsets.masks.astype(np.float64) @ Am  # (M, n_test)
    per = np.array([stats.spearmanr(pred[:, j], subsets.outputs[:, j]).statistic for j in range(Am.shape[1])])
    per = np.nan_to_num(per, nan=0.0)  # a constant column carries no ranking
    se = float(per.std(ddof=1) / np.sqrt(len(per))) if len(per) > 1 else float("nan")
    return LDSResult(float(per.mean()), se, per, len(subsets.masks), subsets.alpha, {"entropy": subsets.entropy})


@dataclass(frozen=True)
class CounterfactualResult:
    """Margin drops after removing the top-k attributors vs k random rows, per test row."""

    k: int
    test_rows: np.ndarray
    drop_top: np.ndarray
    drop_random: np.ndarray
    mean_difference: float
    ci_low: float
    ci_high: float


def counterfactual_check(
    A: Any, train_fn: TrainFn, n_train: int, test_rows: Sequence[int], *, k: int = 50, seed: int = 0,
    base: np.ndarray | None = None, random_drops: np.ndarray | None = None, confidence: float = 0.95,
) -> CounterfactualResult:
    """Remove each test row's ``k`` top attributors, retrain, and compare its margin drop with ``k`` random rows.

    Every retraining uses the same training seed as the full-data model (``seed``), so
    the differences are paired. ``base`` (the full-data outputs) and ``random_drops``
    (from a previous call with the same ``seed``) can be passed to reuse retrainings
    across methods. The interval is a t interval over test rows of ``drop_top - drop_random``.
    """
    owner = "counterfactual_check"
    check_int(k, "k", owner, low=1, high=n_train - 1)
    rows = np.asarray(test_rows, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    full = np.arange(n_train)
    out0 = np.asarray(train_fn(full, seed), dtype=np.float64) if base is None else np.asarray(base)
    drop_top = np.empty(len(rows))
    for t, j in enumerate(rows):
        col = A.column(int(j)) if hasattr(A, "column") else np.asarray(A)[:, j]
        top = np.lexsort((np.arange(n_train), -np.asarray(col, dtype=np.float64)))[:k]
        drop_top[t] = out0[j] - np.asarray(train_fn(np.setdiff1d(full, top), seed), dtype=np.float64)[j]
    if random_drops is None:
        random_drops = np.empty(len(rows))
        for t, j in enumerate(rows):
            rem = rng.choice(n_train, size=k, replace=False)
            random_drops[t] = out0[j] - np.asarray(train_fn(np.setdiff1d(full, rem), seed), dtype=np.float64)[j]
    diff = drop_top - random_drops
    mean = float(diff.mean())
    if len(diff) > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    else:
        half = float("nan")
    return CounterfactualResult(k, rows, drop_top, np.asarray(random_drops), mean, mean - half, mean + half)


def torch_margin_trainer(
    X: Any, y: Any, X_test: Any, y_test: Any, *, n_classes: int | None = None, **train_kwargs: Any,
) -> TrainFn:
    """Return ``train_fn(indices, seed)``: train a reference PyTorch model on those rows, return test margins.

    ``train_kwargs`` go to :func:`thresher.evaluate.torch_models.train_classifier`
    (``model``, ``epochs``, ``lr``, ``hidden``, ``threads``...).
    """
    from thresher.evaluate.torch_models import predict_logits, train_classifier

    Xa, ya = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)
    Xt, yt = np.asarray(X_test, dtype=np.float32), np.asarray(y_test, dtype=np.int64)
    C = int(max(ya.max(), yt.max())) + 1 if n_classes is None else int(n_classes)

    def fn(indices: np.ndarray, seed: int) -> np.ndarray:
        net = train_classifier(Xa[indices], ya[indices], seed=int(seed), n_classes=C, **train_kwargs)
        return margins(predict_logits(net, Xt), yt)

    return fn
