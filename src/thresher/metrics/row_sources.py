"""Rows read one block at a time: arrays, memory maps and :class:`NpyRows` files (out of core).

The sharded routes of the set metrics read ``X[start:stop]`` per shard, so ``X`` may be
any object with a 2-D ``shape`` and slice indexing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._validation import check_matrix, fail
from thresher.errors import DataError

__all__ = ["NpyRows", "row_shape", "read_rows", "take_rows"]


class NpyRows:
    """Read rows of a 2-D ``.npy`` file lazily (memory-mapped), so shards load only their rows.

    Picklable by path, so Ray workers open the file themselves instead of receiving the
    whole array.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(path, np.eye(3))
    >>> src = NpyRows(path); src.shape, src[1:3].tolist()
    ((3, 3), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.shape: tuple[int, int] = tuple(np.load(self.path, mmap_mode="r").shape)  # type: ignore[assignment]
        if len(self.shape) != 2:
            raise DataError(f"`path` of NpyRows must hold a 2-D array; got shape {self.shape}.")

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r")[rows], dtype=np.float64)

    def __len__(self) -> int:
        return self.shape[0]


def row_shape(X: Any, owner: str) -> tuple[int, int]:
    """Return ``(n, d)`` of a non-empty 2-D array or row source; fail naming ``X`` of ``owner`` otherwise."""
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise fail("X", owner, "a 2-D array or row source", X if shape is None else f"shape {shape}")
    if shape[0] == 0:
        raise fail("X", owner, "a non-empty array", f"shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def read_rows(X: Any, start: int, stop: int, owner: str) -> np.ndarray:
    """Return rows ``start:stop`` of an array or row source as a checked float matrix."""
    return check_matrix(np.asarray(X[start:stop]), "X", owner)


def take_rows(X: Any, idx: np.ndarray, owner: str) -> np.ndarray:
    """Gather rows ``idx`` from an array (fancy indexing) or a slice-only row source."""
    if isinstance(X, np.ndarray):
        return check_matrix(X[idx], "X", owner)
    return check_matrix(np.concatenate([np.asarray(X[int(i) : int(i) + 1]) for i in idx]), "X", owner)
