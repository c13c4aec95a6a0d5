"""Reference PyTorch models (an MLP and a small CNN) and the trainer that records them.

:func:`train_classifier` is a plain minibatch loop (Adam, cross-entropy) that, when
given a :class:`~thresher.signals.recorder.TrainingRecorder`, logs every batch's
logits and checkpoints every epoch, and resumes from the last checkpoint. It also
accepts a per-epoch schedule of row subsets, which is how RS2 (a fresh random subset
each epoch) is trained. ``MLPModel`` (``"mlp"``) and ``CNNModel`` (``"cnn"``) wrap it as
reference models for the evaluation harness.

torch is imported inside the functions; the trainer runs inside
:func:`thresher.threads` (``threads=``, else the ``threads`` setting), which sets
``torch.set_num_threads`` and the BLAS/OpenMP pools for the call and restores them after.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher._registry import register_model
from thresher._threads import follows_threads
from thresher._threads import threads as thread_limit
from thresher._torch import import_torch
from thresher._validation import check_choice, check_float, check_int, fail

__all__ = ["build_model", "train_classifier", "predict_logits", "MLPModel", "CNNModel"]

log = logging.getLogger(__name__)


def build_model(
    kind: str, n_features: int, n_classes: int, *, hidden: int = 128, image_shape: Sequence[int] | None = None
) -> Any:
    """Return an untrained ``torch.nn.Module`` mapping flat feature rows to logits.

    ``"mlp"``: Linear(d, hidden) - ReLU - Linear(hidden, hidden//2)... kept small: one
    hidden layer of ``hidden`` units (784-128-10 has 101,770 parameters). ``"cnn"``: two
    3x3 conv layers (16, 32 channels) with max pooling and a linear head; rows are
    reshaped to ``image_shape`` (default: a square single-channel image).

    Examples
    --------
    >>> net = build_model("mlp", 784, 10)
    >>> sum(p.numel() for p in net.parameters())
    101770
    """
    torch = import_torch()
    nn = torch.nn
    owner = "build_model"
    check_choice(kind, "kind", owner, ("mlp", "cnn"))
    check_int(n_features, "n_features", owner, low=1)
    check_int(n_classes, "n_classes", owner, low=1)
    if kind == "mlp":
        check_int(hidden, "hidden", owner, low=1)
        return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    if image_shape is None:
        side = int(round(math.sqrt(n_features)))
        if side * side != n_features:
            raise fail("image_shape", owner, "given when the features are not a square image", None)
        image_shape = (1, side, side)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if int(np.prod(shape)) != n_features:
        raise fail("image_shape", owner, f"a shape with {n_features} pixels", shape)
    c, h, w = shape
    flat = 32 * (h // 4) * (w // 4)
    return nn.Sequential(
        nn.Unflatten(1, shape),
        nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, n_classes),
    )


def _epoch_rows(n: int, epoch_indices: Sequence[np.ndarray] | None, epoch: int) -> np.ndarray:
    if epoch_indices is None:
        return np.arange(n)
    return np.asarray(epoch_indices[epoch], dtype=np.int64)


@follows_threads(torch=True)
def train_classifier(
    X: Any,
    y: Any,
    *,
    model: Any = "mlp",
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    sample_weight: Any = None,
    recorder: Any = None,
    row_ids: Any = None,
    epoch_indices: Sequence[np.ndarray] | None = None,
    n_classes: int | None = None,
    hidden: int = 128,
    image_shape: Sequence[int] | None = None,
    threads: int | None = None,
) -> Any:
    """Train a classifier with Adam and cross-entropy; return the trained module (in eval mode).

    Parameters
    ----------
    X, y
        Feature rows (n, d) and integer labels 0..C-1.
    model
        ``"mlp"``, ``"cnn"`` or a ``torch.nn.Module`` to train in place.
    sample_weight
        Per-row loss weights (the weighted mean is minimised).
    recorder
        A TrainingRecorder: each batch's logits are logged with ``row_ids`` and each
        epoch ends with ``recorder.checkpoint(model, lr=lr, optimizer=opt)``. Training
        resumes at ``recorder.start_epoch`` from the stored weights and optimizer state
        (bit-for-bit the same result as an uninterrupted run).
    epoch_indices
        One array of row positions per epoch (RS2's per-epoch subsets); every row
        every epoch when ``None``.
    threads
        Threads for torch and BLAS during the call (restored after); ``None``: the
        ``threads`` setting (:func:`thresher.set_threads`, default the machine's cores).

    Examples
    --------
    >>> from thresher.data.datasets import load_digits
    >>> t = load_digits()
    >>> net = train_classifier(t.embeddings, t.labels, epochs=5, lr=3e-3, seed=0)
    >>> acc = (predict_logits(net, t.embeddings).argmax(1) == t.labels).mean()
    >>> bool(acc > 0.9)
    True
    """
    torch = import_torch()
    owner = "train_classifier"
    check_int(epochs, "epochs", owner, low=1)
    check_int(batch_size, "batch_size", owner, low=1)
    check_float(lr, "lr", owner, low=0.0, low_open=True)
    Xn = np.asarray(X, dtype=np.float32)
    yn = np.asarray(y, dtype=np.int64)
    if Xn.ndim != 2 or len(Xn) != len(yn) or len(yn) == 0:
        raise fail("X", owner, "a non-empty 2-D array with one row per label", Xn.shape)
    if yn.min() < 0:
        raise fail("y", owner, "integer class codes >= 0", int(yn.min()))
    C = int(yn.max()) + 1 if n_classes is None else check_int(n_classes, "n_classes", owner, low=int(yn.max()) + 1)
    if epoch_indices is not None and len(epoch_indices) < epochs:
        raise fail("epoch_indices", owner, f"one index array per epoch ({epochs})", len(epoch_indices))
    if recorder is not None and row_ids is None:
        raise fail("row_ids", owner, "given with a recorder", None)
    ids = None if row_ids is None else np.asarray(row_ids)
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))  # parameter initialisation uses the default generator
    net = build_model(model, Xn.shape[1], C, hidden=hidden, image_shape=image_shape) if isinstance(model, str) else model
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    start = 0
    if recorder is not None and recorder.start_epoch > 0:
        recorder.load_checkpoint(net)
        recorder.load_optimizer(opt)
        start = recorder.start_epoch
        # advance the shuffling generator as if the finished epochs had run
        for e in range(start):
            torch.randperm(len(_epoch_rows(len(yn), epoch_indices, e)), generator=gen)
        log.info("resuming training at epoch %d", start)
    Xt = torch.from_numpy(Xn)
    yt = torch.from_numpy(yn)
    wt = None if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
    for epoch in range(start, epochs):
        net.train()
        rows = _epoch_rows(len(yn), epoch_indices, epoch)
        perm = rows[torch.randperm(len(rows), generator=gen).numpy()]
        for b in range(0, len(perm), batch_size):
            idx = perm[b : b + batch_size]
            it = torch.from_numpy(idx)
            logits = net(Xt[it])
            losses = torch.nn.functional.cross_entropy(logits, yt[it], reduction="none")
            loss = losses.mean() if wt is None else (losses * wt[it]).sum() / wt[it].sum().clamp_min(1e-12)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if recorder is not None:
                recorder.log(ids[idx], logits, yt[it])  # type: ignore[index]
        if recorder is not None:
            recorder.checkpoint(net, lr=lr, optimizer=opt)
    net.eval()
    return net


@follows_threads(torch=True)
def predict_logits(net: Any, X: Any, *, batch_size: int = 4096) -> np.ndarray:
    """Return the model's logits for ``X`` (float64, (n, n_classes))."""
    torch = import_torch()
    Xn = np.asarray(X, dtype=np.float32)
    out = []
    net.eval()
    with torch.no_grad():
        for b in range(0, len(Xn), batch_size):
            out.append(net(torch.from_numpy(Xn[b : b + batch_size])).numpy())
    return np.concatenate(out).astype(np.float64)


class _TorchReference:
    """Shared ``fit_score`` of the PyTorch reference models."""

    name = "torch"
    kind = "mlp"

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 1e-3,
        hidden: int = 128,
        image_shape: Sequence[int] | None = None,
        n_classes: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.hidden = hidden
        self.image_shape = image_shape
        self.n_classes = n_classes
        self.threads = threads

    def _train(self, X: np.ndarray, y: np.ndarray, seed: int, sample_weight: Any, epoch_indices: Any) -> Any:
        C = self.n_classes if self.n_classes is not None else int(np.max(y)) + 1
        return train_classifier(
            X, y, model=self.kind, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed,
            sample_weight=sample_weight, epoch_indices=epoch_indices, n_classes=C, hidden=self.hidden,
            image_shape=self.image_shape, threads=self.threads,
        )

    def fit_score(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """Train on (X_train, y_train) and return accuracy on (X_test, y_test)."""
        classes, ytr = np.unique(np.concatenate([y_train, y_test]), return_inverse=True)
        ytr, yte = ytr[: len(y_train)], ytr[len(y_train) :]
        with thread_limit(self.threads):  # training and prediction under one limit
            net = self._train(X_train, ytr, seed, sample_weight, None)
            return float(np.mean(predict_logits(net, X_test).argmax(axis=1) == yte))

    def fit_score_epochs(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        seed: int,
        epoch_indices: Sequence[np.ndarray],
    ) -> float:
        """Train with a different subset of rows each epoch (RS2) and return test accuracy."""
        classes, ytr = np.unique(np.concatenate([y_train, y_test]), return_inverse=True)
        ytr, yte = ytr[: len(y_train)], ytr[len(y_train) :]
        with thread_limit(self.threads):  # training and prediction under one limit
            net = self._train(X_train, ytr, seed, None, epoch_indices)
            return float(np.mean(predict_logits(net, X_test).argmax(axis=1) == yte))


@register_model("mlp")
class MLPModel(_TorchReference):
    """One-hidden-layer PyTorch MLP trained with Adam (101,770 parameters on 784-d, 10 classes).

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> tr, te = split_table(load_digits())
    >>> acc = MLPModel(epochs=5, lr=3e-3).fit_score(tr.embeddings, tr.labels, te.embeddings, te.labels, seed=0)
    >>> bool(acc > 0.9)
    True
    """

    name = "mlp"
    kind = "mlp"


@register_model("cnn")
class CNNModel(_TorchReference):
    """Small two-layer PyTorch CNN (16 and 32 3x3 filters) on square single-channel images."""

    name = "cnn"
    kind = "cnn"
