"""Classification metrics from stored test predictions, vectorised for bootstrap resamples.

The harness stores, per training run, each test row's predicted class and the
probability given to its true class; every metric here is computed from those two
arrays and the test labels (and ``group`` when the test table has one). The batch
functions take an ``(n_resamples, n)`` array of row positions so the paired bootstrap of
:mod:`thresher.evaluate.stats` costs one ``bincount`` per resample. Definitions match
scikit-learn's ``accuracy_score``, ``balanced_accuracy_score``,
``f1_score(average="macro", zero_division=0)`` and ``log_loss`` (the tests compare).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "LOG_LOSS_EPS",
    "confusion_batch",
    "macro_f1_batch",
    "balanced_accuracy_batch",
    "row_log_loss",
    "per_class_accuracy",
    "group_accuracy",
    "run_metrics",
]

LOG_LOSS_EPS = 1e-15


def confusion_batch(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Return confusion counts ``(n_resamples, C, C)`` (true x predicted) of the rows ``idx``."""
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    idx = np.atleast_2d(np.asarray(idx, dtype=np.int64))
    B = idx.shape[0]
    C = int(n_classes)
    out = np.empty((B, C, C), dtype=np.int64)
    step = max(1, 2_000_000 // max(1, idx.shape[1]))
    for b0 in range(0, B, step):
        sub = idx[b0 : b0 + step]
        flat = (np.arange(len(sub))[:, None] * C * C + y[sub] * C + pred[sub]).ravel()
        out[b0 : b0 + len(sub)] = np.bincount(flat, minlength=len(sub) * C * C).reshape(len(sub), C, C)
    return out


def macro_f1_batch(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Return macro-F1 per resample over the classes present in the true or predicted labels.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1]); p = np.array([0, 1, 1, 1])
    >>> round(float(macro_f1_batch(y, p, np.arange(4)[None, :], 2)[0]), 4)
    0.7333
    """
    cm = confusion_batch(y, pred, idx, n_classes)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    denom = support + predicted
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present)
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def balanced_accuracy_batch(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the mean per-class recall per resample over the classes present in ``y``.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 1]); p = np.array([0, 0, 0, 0])
    >>> float(balanced_accuracy_batch(y, p, np.arange(4)[None, :], 2)[0])
    0.5
    """
    cm = confusion_batch(y, pred, idx, n_classes)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    return recall.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def row_log_loss(p_true: np.ndarray) -> np.ndarray:
    """Return each row's log-loss ``-log p(true class)``, clipped as scikit-learn clips."""
    p = np.clip(np.asarray(p_true, dtype=np.float64), LOG_LOSS_EPS, 1.0)
    return -np.log(p)


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the accuracy (recall) of each class; NaN for a class absent from ``y``."""
    y = np.asarray(y, dtype=np.int64)
    hits = np.bincount(y, weights=(np.asarray(pred) == y).astype(np.float64), minlength=n_classes)
    n = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.divide(hits, n, out=np.full(n_classes, np.nan), where=n > 0)


def group_accuracy(correct: np.ndarray, group: np.ndarray) -> dict[str, float]:
    """Return the accuracy within each group value (keys are the values as strings)."""
    g = np.asarray(group).astype(str)
    c = np.asarray(correct, dtype=np.float64)
    return {str(v): float(c[g == v].mean()) for v in np.unique(g)}


def run_metrics(
    y: np.ndarray, pred: np.ndarray, p_true: np.ndarray, n_classes: int, group: np.ndarray | None = None
) -> dict[str, Any]:
    """Return one training run's test metrics: accuracy, macro-F1, balanced accuracy, log-loss (+ worst group).

    Examples
    --------
    >>> y = np.array([0, 1, 1, 2]); p = np.array([0, 1, 2, 2])
    >>> m = run_metrics(y, p, np.array([0.9, 0.8, 0.3, 0.6]), 3, group=np.array(["a", "a", "b", "b"]))
    >>> m["accuracy"], m["worst_group_accuracy"]
    (0.75, 0.5)
    """
    all_rows = np.arange(len(y))[None, :]
    correct = np.asarray(pred) == np.asarray(y)
    out: dict[str, Any] = {
        "accuracy": float(correct.mean()),
        "macro_f1": float(macro_f1_batch(y, pred, all_rows, n_classes)[0]),
        "balanced_accuracy": float(balanced_accuracy_batch(y, pred, all_rows, n_classes)[0]),
        "log_loss": float(row_log_loss(p_true).mean()),
    }
    if group is not None:
        out["worst_group_accuracy"] = float(min(group_accuracy(correct, group).values()))
    return out
