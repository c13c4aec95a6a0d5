"""Read several score columns as one oriented, standardised matrix (for fusion and ODiS).

Each ``score.<name>`` column is oriented so that larger means "more worth keeping": a
column whose scorer has ``higher_is_better = False`` is negated. The orientation comes from
the scorer registered under ``<name>`` unless given explicitly (needed for columns written
under a recipe label, which the registry does not know). Columns are then z-scored
(mean 0, standard deviation 1 over the rows; a constant column becomes all zeros).

This lives in ``select/`` because both the ``fuse`` scorer and the ``odis`` selector read
it, and scores already sit above ``select.base``; keeping it here avoids a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from thresher._validation import fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError, NonFiniteError

__all__ = ["orientations_for", "oriented_scores", "standardise", "example_score_table"]


def orientations_for(columns: Sequence[str], higher_is_better: Sequence[bool] | None, owner: str) -> tuple[bool, ...]:
    """Return ``higher_is_better`` per column, from the argument or the scorer registry.

    Examples
    --------
    >>> orientations_for(["score.margin", "score.knn_distance"], None, "demo")
    (True, False)
    """
    from thresher._registry import SCORERS

    cols = list(columns)
    if higher_is_better is not None:
        hib = list(higher_is_better)
        if len(hib) != len(cols) or not all(isinstance(h, (bool, np.bool_)) for h in hib):
            raise fail("higher_is_better", owner, f"a list of {len(cols)} booleans (one per column)", higher_is_better)
        return tuple(bool(h) for h in hib)
    out = []
    for c in cols:
        name = c[len("score.") :] if c.startswith("score.") else c
        if name not in SCORERS:
            raise InvalidParameterError(
                f"`higher_is_better` of {owner} must be given for column {c!r}: no registered scorer is named "
                f"{name!r}; got None."
            )
        out.append(bool(SCORERS.get(name).higher_is_better))
    return tuple(out)


def standardise(V: np.ndarray) -> np.ndarray:
    """Return ``V`` with each column z-scored (constant columns become zeros).

    Examples
    --------
    >>> standardise(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    mu = V.mean(axis=0)
    sd = V.std(axis=0)
    return np.asarray((V - mu) / np.where(sd > 0, sd, 1.0))


def oriented_scores(
    table: Table, columns: Sequence[str], higher_is_better: Sequence[bool] | None, owner: str, *, min_columns: int = 1
) -> np.ndarray:
    """Return the (n_rows, n_columns) matrix of the columns, each oriented so larger is better (not scaled).

    Examples
    --------
    >>> t = Table(columns={"score.margin": np.array([0.1, 0.9]), "score.knn_distance": np.array([2.0, 1.0])})
    >>> oriented_scores(t, ["score.margin", "score.knn_distance"], None, "demo").tolist()
    [[0.1, -2.0], [0.9, -1.0]]
    """
    cols = list(columns) if not isinstance(columns, str) else [columns]
    if len(cols) < min_columns or len(set(cols)) != len(cols):
        raise fail("columns", owner, f"at least {min_columns} distinct score column names", columns)
    hib = orientations_for(cols, higher_is_better, owner)
    table.require(cols, owner)
    V = np.column_stack([np.asarray(table.column(c), dtype=np.float64) for c in cols])
    bad = ~np.isfinite(V)
    if bad.any():
        j = int(np.argwhere(bad)[0][1])
        raise NonFiniteError(
            f"`columns` of {owner} must be finite; got {int(bad.sum())} NaN/inf value(s), first in {cols[j]!r}."
        )
    return np.asarray(V * np.where(np.asarray(hib), 1.0, -1.0)[None, :])


def example_score_table(n: int = 60, seed: int = 0) -> Table:
    """Return a small labelled table with embeddings and three score columns (for conformance tests).

    ``score.margin`` and ``score.knn_distance`` carry registered names (orientation looked
    up); ``score.example`` is unregistered.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    X = rng.normal(scale=3.0, size=(3, 5))[labels] + rng.normal(size=(n, 5))
    return Table(
        np.arange(500, 500 + n, dtype=np.int64),
        columns={
            "label": labels,
            "score.margin": rng.random(n),
            "score.knn_distance": rng.gamma(2.0, size=n),
            "score.example": rng.normal(size=n),
        },
        matrices={"embeddings": X},
    )
