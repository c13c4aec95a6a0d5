"""Per-test-row predictions of every training run, kept compactly for paired statistics.

Each training run of the harness keeps, for every test row, the predicted class (int16)
and the probability given to the true class (float32): 6 bytes a row, so 200 runs on a
10,000-row test set take 12 MB. From these and the test labels every reported metric,
and the paired difference of any two runs with the same seed, can be recomputed without
retraining. In a run directory they live in ``predictions/``: ``test.npz`` (test row ids,
label codes, optional group) and one ``<arm>__f=<fraction>__s=<seed>__m=<model>.npz`` per
run, each written atomically.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from thresher._validation import fail
from thresher.store.atomic import write_bytes

__all__ = ["Predictions", "run_key"]

_SAFE = re.compile(r"[^A-Za-z0-9_.=+-]")


def run_key(arm: str, fraction: float, seed: int, model: str) -> str:
    """Return the file-safe key of one training run, e.g. ``ccs__f=0.1__s=0__m=mlp``.

    Examples
    --------
    >>> run_key("top k", 0.1, 0, "mlp")
    'top-k__f=0.1__s=0__m=mlp'
    """
    return _SAFE.sub("-", f"{arm}__f={round(float(fraction), 6):g}__s={int(seed)}__m={model}")


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


class Predictions:
    """Test labels plus each run's predicted classes and true-class probabilities.

    Parameters
    ----------
    y
        Test label codes ``0..n_classes-1``.
    n_classes
        Number of classes of the evaluation.
    row_id
        Test row ids (stored for reference).
    group
        Optional test ``group`` values (for worst-group accuracy).
    path
        A ``predictions/`` folder: runs are written there as they are added and read
        from there when not in memory.

    Examples
    --------
    >>> p = Predictions(np.array([0, 1, 1]), 2)
    >>> pred, p_true = p.add("a", 0.5, 0, "m", np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]]))
    >>> p.correct("a", 0.5, [0], "m").tolist()
    [[True, True, False]]
    """

    def __init__(
        self,
        y: np.ndarray,
        n_classes: int,
        *,
        row_id: np.ndarray | None = None,
        group: np.ndarray | None = None,
        path: str | Path | None = None,
    ) -> None:
        self.y = np.asarray(y, dtype=np.int64)
        self.n_classes = int(n_classes)
        self.row_id = np.arange(len(self.y)) if row_id is None else np.asarray(row_id)
        if self.row_id.dtype == object:  # string ids: stored as fixed-width strings (no pickling)
            self.row_id = self.row_id.astype(str)
        self.group = None if group is None else np.asarray(group).astype(str)
        self.path = None if path is None else Path(path)
        self._runs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.path is not None:
            arrays = {"y": self.y, "n_classes": np.array(self.n_classes), "row_id": self.row_id}
            if self.group is not None:
                arrays["group"] = self.group
            test = self.path / "test.npz"
            if not test.exists():
                write_bytes(test, _npz(**arrays))

    @classmethod
    def load(cls, path: str | Path) -> Predictions | None:
        """Open a stored ``predictions/`` folder (``None`` when it has no ``test.npz``)."""
        p = Path(path)
        if not (p / "test.npz").exists():
            return None
        with np.load(p / "test.npz", allow_pickle=False) as z:
            group = z["group"] if "group" in z.files else None
            return cls(z["y"], int(z["n_classes"]), row_id=z["row_id"], group=group, path=p)

    def add(self, arm: str, fraction: float, seed: int, model: str, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record one run's test probabilities ``(n_test, n_classes)``; return (pred, p_true)."""
        P = np.asarray(proba, dtype=np.float64)
        if P.shape != (len(self.y), self.n_classes):
            raise fail("proba", "Predictions.add", f"shape {(len(self.y), self.n_classes)}", P.shape)
        pred = P.argmax(axis=1).astype(np.int16)
        p_true = P[np.arange(len(self.y)), self.y].astype(np.float32)
        key = run_key(arm, fraction, seed, model)
        self._runs[key] = (pred, p_true)
        if self.path is not None:
            write_bytes(self.path / f"{key}.npz", _npz(pred=pred, p_true=p_true))
        return pred, p_true

    def get(self, arm: str, fraction: float, seed: int, model: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Return (pred, p_true) of one run, or ``None`` when it was not stored."""
        key = run_key(arm, fraction, seed, model)
        if key in self._runs:
            return self._runs[key]
        if self.path is not None and (self.path / f"{key}.npz").exists():
            with np.load(self.path / f"{key}.npz", allow_pickle=False) as z:
                self._runs[key] = (z["pred"], z["p_true"])
            return self._runs[key]
        return None

    def has(self, arm: str, fraction: float, seed: int, model: str) -> bool:
        return self.get(arm, fraction, seed, model) is not None

    def _stack(self, arm: str, fraction: float, seeds: Any, model: str, which: int) -> np.ndarray:
        out = []
        for s in seeds:
            r = self.get(arm, fraction, int(s), model)
            if r is None:
                raise fail("seeds", "Predictions", f"stored predictions of {arm} at {fraction:g}", f"seed {s} missing")
            out.append(r[which])
        return np.stack(out)

    def predicted(self, arm: str, fraction: float, seeds: Any, model: str) -> np.ndarray:
        """Return predicted classes ``(n_seeds, n_test)``."""
        return self._stack(arm, fraction, seeds, model, 0).astype(np.int64)

    def correct(self, arm: str, fraction: float, seeds: Any, model: str) -> np.ndarray:
        """Return 0/1 correctness ``(n_seeds, n_test)``."""
        return self.predicted(arm, fraction, seeds, model) == self.y[None, :]

    def p_true(self, arm: str, fraction: float, seeds: Any, model: str) -> np.ndarray:
        """Return the probability of the true class ``(n_seeds, n_test)``."""
        return self._stack(arm, fraction, seeds, model, 1).astype(np.float64)
