"""Record a training run: per-epoch, per-example logits and per-epoch checkpoints.

Plug it into any PyTorch loop in two lines::

    rec = TrainingRecorder(run_dir, row_ids=train_ids, n_classes=10)
    for epoch in range(rec.start_epoch, n_epochs):
        for ids, xb, yb in loader:
            logits = model(xb); loss = ...; loss.backward(); opt.step()
            rec.log(ids, logits, yb)            # per batch
        rec.checkpoint(model, lr=lr)            # per epoch

Layout under ``<run>/dynamics/`` (every file written atomically):

``row_id.npy``          the rows, in the order of the signal matrices
``labels.npy``          the label code of each row (as logged)
``epochs/logits_0003.npy``   (n, n_classes) float32 logits of epoch 3, NaN for rows not seen
``checkpoints/epoch_0003.pt``  the model's ``state_dict`` after epoch 3
``meta.json``           completed epochs, learning rates, number of classes

Each epoch is its own ``.npy`` file (memory-mapped on read), never one giant pickle. An
interrupted run resumes: ``start_epoch`` is the first epoch without a checkpoint, and
:meth:`TrainingRecorder.load_checkpoint` restores the weights of the last one.

From the logged logits, :func:`dynamics_signals` derives the per-epoch matrices the
dynamics scorers read (``dyn.margin``, ``dyn.prob``, ``dyn.correct``, ``dyn.loss``,
``dyn.el2n``); logits are recorded as seen during training, in the minibatch where
the example was used (as forgetting events and AUM are defined).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed, seed_int
from thresher._validation import check_int, fail
from thresher.data.table import Table
from thresher.errors import DataError, RunDirError
from thresher.execute.base import Executor
from thresher.signals.oof import SignalResult, label_codes
from thresher.store.atomic import atomic_path, write_json

__all__ = [
    "TrainingRecorder",
    "dynamics_signals",
    "load_dynamics",
    "attach_dynamics",
    "TrainingDynamics",
    "DYNAMICS_MATRICES",
    "CheckpointGradients",
    "load_checkpoints",
]

DYNAMICS_MATRICES = ("dyn.margin", "dyn.prob", "dyn.correct", "dyn.loss", "dyn.el2n", "dyn.seen")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)


class TrainingRecorder:
    """Store per-epoch, per-example logits and per-epoch checkpoints of one training run.

    Parameters
    ----------
    path
        The run directory (a path or a :class:`~thresher.store.RunDir`); files go under
        ``<path>/<subdir>/``.
    row_ids
        The rows that will be logged (their order fixes the order of the signals).
    n_classes
        Number of logits per example.
    subdir
        Sub-directory name, so several runs (e.g. seeds) can share a run directory.

    Examples
    --------
    >>> import tempfile, torch
    >>> rec = TrainingRecorder(tempfile.mkdtemp(), row_ids=[10, 11, 12], n_classes=2)
    >>> rec.log([12, 10], torch.tensor([[0.0, 2.0], [1.0, 0.0]]), torch.tensor([1, 0]))
    >>> rec.log([11], torch.tensor([[3.0, 0.0]]), torch.tensor([1]))
    >>> rec.checkpoint(torch.nn.Linear(2, 2), lr=0.1)
    >>> rec.completed_epochs, rec.start_epoch
    (1, 1)
    >>> dynamics_signals(rec.path.parent)["dyn.margin"].ravel().tolist()
    [1.0, -3.0, 2.0]
    """

    def __init__(
        self, path: Any, *, row_ids: Any, n_classes: int, subdir: str = "dynamics"
    ) -> None:
        owner = "TrainingRecorder"
        root = Path(getattr(path, "path", path))
        self.path = root / subdir
        self.n_classes = check_int(n_classes, "n_classes", owner, low=1)
        ids = np.asarray(row_ids)
        if ids.ndim != 1 or len(ids) == 0:
            raise fail("row_ids", owner, "a non-empty 1-D array", ids.shape)
        if len(np.unique(ids)) != len(ids):
            raise fail("row_ids", owner, "unique", "duplicates")
        self.row_ids = ids
        self._index = {k: i for i, k in enumerate(ids.tolist())}
        self.path.mkdir(parents=True, exist_ok=True)
        stored = self.path / "row_id.npy"
        if stored.exists():
            old = np.load(stored, allow_pickle=True)
            if len(old) != len(ids) or not np.array_equal(old, ids):
                raise RunDirError(
                    f"`row_ids` of TrainingRecorder must match the rows already recorded in {str(self.path)!r}; "
                    "use another subdir to record a different set of rows."
                )
        else:
            with atomic_path(stored) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, ids, allow_pickle=bool(ids.dtype == object))
        meta = self.meta()
        if meta and meta.get("n_classes") != self.n_classes:
            raise RunDirError(f"`n_classes` of TrainingRecorder must be {meta.get('n_classes')} to resume; got {n_classes}.")
        if not meta:
            write_json(self.path / "meta.json", {"n_classes": self.n_classes, "completed_epochs": 0, "lrs": []})
        self._labels = self._load_labels()
        self._buf = self._new_buffer()

    # ------------------------------------------------------------------ state
    def meta(self) -> dict[str, Any]:
        p = self.path / "meta.json"
        return dict(json.loads(p.read_text(encoding="utf-8"))) if p.exists() else {}

    @property
    def completed_epochs(self) -> int:
        """Number of epochs with a stored checkpoint and logits."""
        return int(self.meta().get("completed_epochs", 0))

    @property
    def start_epoch(self) -> int:
        """First epoch still to train (0 for a fresh run, later when resuming)."""
        return self.completed_epochs

    def _load_labels(self) -> np.ndarray:
        p = self.path / "labels.npy"
        return np.load(p) if p.exists() else np.full(len(self.row_ids), -1, dtype=np.int64)

    def _new_buffer(self) -> np.ndarray:
        return np.full((len(self.row_ids), self.n_classes), np.nan, dtype=np.float32)

    # -------------------------------------------------------------- recording
    def log(self, row_ids: Any, logits: Any, labels: Any) -> None:
        """Record a batch's logits (as computed in the training step) for the current epoch."""
        owner = "TrainingRecorder.log"
        ids = np.asarray(row_ids.detach().cpu().numpy() if hasattr(row_ids, "detach") else row_ids).reshape(-1)
        z = np.asarray(logits.detach().cpu().numpy() if hasattr(logits, "detach") else logits, dtype=np.float32)
        y = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels).reshape(-1)
        if z.ndim != 2 or z.shape != (len(ids), self.n_classes):
            raise fail("logits", owner, f"shape ({len(ids)}, {self.n_classes})", z.shape)
        if len(y) != len(ids):
            raise fail("labels", owner, f"one label per row id ({len(ids)})", len(y))
        try:
            pos = np.fromiter((self._index[k] for k in ids.tolist()), dtype=np.int64, count=len(ids))
        except KeyError as exc:
            raise DataError(f"row id {exc.args[0]!r} of TrainingRecorder.log was not passed as `row_ids`.") from None
        self._buf[pos] = z
        self._labels[pos] = y.astype(np.int64)

    def checkpoint(self, model: Any = None, *, lr: float | None = None, optimizer: Any = None) -> None:
        """Close the current epoch: store its logits and (when given) the model's weights.

        ``lr`` is the epoch's learning rate, used by TracIn to weight checkpoints. With
        ``optimizer`` its state is stored too (only the latest), so a resumed run
        continues exactly where it stopped.
        """
        epoch = self.completed_epochs
        _save_npy(self.path / "labels.npy", self._labels)
        _save_npy(self.path / "epochs" / f"logits_{epoch:04d}.npy", self._buf)
        if model is not None:
            from thresher.signals.gradients import import_torch

            torch = import_torch()
            with atomic_path(self.path / "checkpoints" / f"epoch_{epoch:04d}.pt") as tmp:
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        if optimizer is not None:
            from thresher.signals.gradients import import_torch

            torch = import_torch()
            with atomic_path(self.path / "checkpoints" / "optimizer.pt") as tmp:
                torch.save(optimizer.state_dict(), tmp)
        meta = self.meta()
        meta["completed_epochs"] = epoch + 1
        meta["lrs"] = list(meta.get("lrs", []))[:epoch] + [None if lr is None else float(lr)]
        write_json(self.path / "meta.json", meta)
        self._buf = self._new_buffer()

    # ---------------------------------------------------------------- reading
    def checkpoint_paths(self) -> list[Path]:
        """Paths of the stored checkpoints, in epoch order."""
        d = self.path / "checkpoints"
        return sorted(d.glob("epoch_*.pt")) if d.exists() else []

    def load_checkpoint(self, model: Any, epoch: int | None = None) -> Any:
        """Load the weights of ``epoch`` (default: the last) into ``model`` and return it."""
        from thresher.signals.gradients import import_torch

        torch = import_torch()
        paths = self.checkpoint_paths()
        if not paths:
            raise RunDirError(f"run directory {str(self.path)!r} has no checkpoints.")
        p = paths[-1] if epoch is None else self.path / "checkpoints" / f"epoch_{epoch:04d}.pt"
        if not p.exists():
            raise RunDirError(f"checkpoint {str(p)!r} does not exist.")
        model.load_state_dict(torch.load(p, weights_only=True))
        return model

    def load_optimizer(self, optimizer: Any) -> bool:
        """Restore the stored optimizer state into ``optimizer``; False when none is stored."""
        from thresher.signals.gradients import import_torch

        p = self.path / "checkpoints" / "optimizer.pt"
        if not p.exists():
            return False
        optimizer.load_state_dict(import_torch().load(p, weights_only=True))
        return True

    def logits(self, epoch: int, *, mmap: bool = True) -> np.ndarray:
        """Return the (n, n_classes) logits recorded in ``epoch``."""
        return np.load(self.path / "epochs" / f"logits_{epoch:04d}.npy", mmap_mode="r" if mmap else None)


def dynamics_signals(path: Any, subdir: str = "dynamics", epochs: Any = None) -> dict[str, np.ndarray]:
    """Derive the per-epoch matrices (n, n_epochs) the dynamics scorers read.

    ``dyn.margin``: assigned-class logit minus the largest other logit (AUM's margin);
    ``dyn.prob``: softmax probability of the assigned class; ``dyn.correct``: 1 when
    the arg-max is the assigned class; ``dyn.loss``: cross-entropy; ``dyn.el2n``: L2
    norm of softmax minus one-hot; ``dyn.seen``: 1 where the row was logged in that
    epoch. Tables hold finite values only, so entries of unlogged epochs are 0 and
    ``dyn.seen`` masks them (the dynamics scorers honour it).
    """
    d = Path(getattr(path, "path", path)) / subdir
    meta_p = d / "meta.json"
    if not meta_p.exists():
        raise RunDirError(f"{str(d)!r} holds no recorded training run.")
    meta = json.loads(meta_p.read_text(encoding="utf-8"))
    n_ep = int(meta["completed_epochs"])
    if n_ep == 0:
        raise RunDirError(f"{str(d)!r} has no completed epoch.")
    y = np.load(d / "labels.npy")
    ep = list(range(n_ep)) if epochs is None else [int(e) for e in epochs]
    out = {k: np.zeros((len(y), len(ep))) for k in DYNAMICS_MATRICES}
    rows = np.arange(len(y))
    valid = y >= 0
    yc = np.where(valid, y, 0)
    for j, e in enumerate(ep):
        z = np.load(d / "epochs" / f"logits_{e:04d}.npy").astype(np.float64)
        seen = valid & np.isfinite(z).all(axis=1)
        zt = z[rows, yc]
        other = z.copy()
        other[rows, yc] = -np.inf
        zmax = z.max(axis=1)
        lse = zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))
        p = np.exp(z - lse[:, None])
        onehot = np.zeros_like(p)
        onehot[rows, yc] = 1.0
        vals = {
            "dyn.margin": zt - other.max(axis=1),
            "dyn.prob": p[rows, yc],
            "dyn.correct": (np.argmax(z, axis=1) == yc).astype(np.float64),
            "dyn.loss": lse - zt,
            "dyn.el2n": np.linalg.norm(p - onehot, axis=1),
            "dyn.seen": np.ones(len(y)),
        }
        for k, v in vals.items():
            out[k][:, j] = np.where(seen, v, 0.0)
    return out


def load_dynamics(path: Any, subdir: str = "dynamics") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (row ids, dynamics matrices) of a recorded run."""
    d = Path(getattr(path, "path", path)) / subdir
    ids = np.load(d / "row_id.npy", allow_pickle=True)
    return ids, dynamics_signals(path, subdir)


def attach_dynamics(table: Table, path: Any, subdir: str = "dynamics") -> Table:
    """Return ``table`` restricted to the recorded rows with the dynamics matrices attached."""
    ids, mats = load_dynamics(path, subdir)
    t = table.subset(ids)
    for k, v in mats.items():
        t = t.with_matrix(k, v)
    return t


def load_checkpoints(path: Any, build: Any, subdir: str = "dynamics") -> list[Any]:
    """Return one model per stored checkpoint, each built by ``build()`` and loaded."""
    d = Path(getattr(path, "path", path)) / subdir
    from thresher.signals.gradients import import_torch

    torch = import_torch()
    out = []
    for p in sorted((d / "checkpoints").glob("epoch_*.pt")):
        m = build()
        m.load_state_dict(torch.load(p, weights_only=True))
        m.eval()
        out.append(m)
    return out


def _train_recorded(table: Table, owner: str, model: str, epochs: int, batch_size: int, lr: float, seed: Seed,
                    path: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    from thresher.evaluate.torch_models import build_model, train_classifier

    table.check_not_empty(owner)
    table.require(["embeddings", "label"], owner)
    codes, classes = label_codes(table, owner)
    rec = TrainingRecorder(path, row_ids=table.row_id, n_classes=len(classes))
    shape = table.meta.get("image_shape")
    train_classifier(
        table.embeddings, codes, model=model, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed_int(seed) or 0,
        recorder=rec, row_ids=table.row_id, image_shape=shape, n_classes=len(classes),
    )

    def build() -> Any:
        return build_model(model, table.embeddings.shape[1], len(classes), image_shape=shape)

    return codes, classes, build


@register_signal("dynamics")
class TrainingDynamics:
    """Train a reference PyTorch model with the recorder and return the dynamics matrices.

    Produces the per-epoch matrices of :func:`dynamics_signals` and ``dyn.vog`` (raw
    VoG over the epoch checkpoints, :func:`~thresher.signals.gradients.gradient_variance`).

    Parameters
    ----------
    model
        ``"mlp"`` or ``"cnn"`` (see :mod:`thresher.evaluate.torch_models`).
    epochs, batch_size, lr
        Training schedule.
    run_dir
        Where to record (resumable); a temporary directory when ``None``.
    """

    name = "dynamics"
    produces = (*DYNAMICS_MATRICES, "dyn.vog")
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self, model: str = "mlp", epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, run_dir: Any = None
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.run_dir = run_dir

    @follows_threads(torch=True)
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Train once on every row of ``table``; return the per-epoch matrices and ``dyn.vog``."""
        import tempfile

        from thresher.signals.vog import gradient_variance

        with tempfile.TemporaryDirectory() as tmp:
            path = tmp if self.run_dir is None else self.run_dir
            codes, classes, build = _train_recorded(
                table, "TrainingDynamics", self.model, self.epochs, self.batch_size, self.lr, seed, path
            )
            mats = dynamics_signals(path)
            mats["dyn.vog"] = gradient_variance(load_checkpoints(path, build), table.embeddings, codes)[:, None]
        return SignalResult(mats, {"classes": classes.tolist()})


@register_signal("checkpoint_gradients")
class CheckpointGradients:
    """Train with the recorder; return projected gradients per checkpoint and mimic alignments.

    ``grad.ckpt`` (n, K * dim): randomly projected per-example gradients at each epoch
    checkpoint (read by ``tracin`` and ``grad_similarity``, with ``meta`` entries
    ``grad.n_checkpoints`` and ``grad.lrs``). ``grad.mimic`` (n, K - 1): alignment of
    each row's negative gradient at checkpoints 0..K-2 with the direction to the final
    weights, the reference model of the mimic score (read by ``mimic``).

    Parameters
    ----------
    dim
        Projection dimension (memory is n * K * dim float32).
    last_layer
        Project last-layer gradients only.
    """

    name = "checkpoint_gradients"
    produces = ("grad.ckpt", "grad.mimic")
    requires = frozenset({"embeddings", "label"})

    def __init__(
        self, model: str = "mlp", epochs: int = 5, batch_size: int = 128, lr: float = 1e-3, dim: int = 256,
        last_layer: bool = False, run_dir: Any = None,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dim = dim
        self.last_layer = last_layer
        self.run_dir = run_dir

    @follows_threads(torch=True)
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Train once on every row of ``table``; return ``grad.ckpt`` and ``grad.mimic``."""
        import tempfile

        from thresher.signals.checkpoint_grads import checkpoint_gradients, mimic_alignment

        owner = "CheckpointGradients"
        check_int(self.epochs, "epochs", owner, low=2)
        with tempfile.TemporaryDirectory() as tmp:
            path = tmp if self.run_dir is None else self.run_dir
            codes, classes, build = _train_recorded(table, owner, self.model, self.epochs, self.batch_size, self.lr, seed, path)
            models = load_checkpoints(path, build)
            lrs = TrainingRecorder(path, row_ids=table.row_id, n_classes=len(classes)).meta()["lrs"]
            X = table.embeddings
            G = checkpoint_gradients(models, X, codes, dim=self.dim, seed=seed, last_layer=self.last_layer)
            M = mimic_alignment(models[:-1], models[-1], X, codes)
        meta = {"classes": classes.tolist(), "grad.n_checkpoints": len(models), "grad.lrs": lrs}
        return SignalResult({"grad.ckpt": G.astype(np.float64), "grad.mimic": M}, meta)
