"""The target set of attribution scores (rows where a column is true) and their shared test table.

TracIn, gradient similarity, mimic and influence all score rows by how much they help a
*target set* (a validation split, a task's examples), given by a column: rows where
``target`` is non-zero/true.
"""

from __future__ import annotations

import numpy as np

from thresher._validation import fail
from thresher.data.table import Table

__all__ = ["target_mask", "grad_conformance_table"]


def target_mask(table: Table, target: str, owner: str) -> np.ndarray:
    """Return the boolean mask of the rows where column ``target`` is true; fail when none is.

    Examples
    --------
    >>> target_mask(Table(columns={"t": np.array([0, 1, 2])}), "t", "demo").tolist()
    [False, True, True]
    """
    v = np.asarray(table.column(target))
    mask = v.astype(bool) if v.dtype != object else np.array([bool(x) for x in v])
    if not mask.any():
        raise fail("target", owner, f"a column with at least one true row; {target!r} has none", target)
    return mask



def grad_conformance_table() -> Table:
    """Return a small table with gradient matrices, a target flag and embeddings for conformance tests."""
    rng = np.random.default_rng(0)
    n, K, d = 40, 3, 6
    y = np.arange(n) % 3
    G = rng.normal(size=(n, K * d)) + np.tile(np.eye(3)[y] @ rng.normal(size=(3, d)), K)
    return Table(
        np.arange(700, 700 + n, dtype=np.int64),
        columns={"label": y, "flag.target": (np.arange(n) % 5 == 0)},
        matrices={"grad.ckpt": G, "grad.mimic": rng.uniform(-1, 1, size=(n, K)), "embeddings": rng.normal(size=(n, 3)) + np.eye(3)[y] * 2},
        meta={"grad.n_checkpoints": K, "grad.lrs": [0.1, 0.05, 0.01]},
    )

