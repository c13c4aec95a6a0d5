"""Declarative parameter checks with one message shape.

Every message reads: "`<param>` of <Owner> must be <constraint>; got <value>."
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from thresher.errors import InvalidParameterError, NonFiniteError


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return repr(value)


def fail(param: str, owner: str, constraint: str, value: Any) -> InvalidParameterError:
    """Build (not raise) the standard parameter error."""
    return InvalidParameterError(f"`{param}` of {owner} must be {constraint}; got {_fmt(value)}.")


def check_int(value: Any, param: str, owner: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as int if it is an integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise fail(param, owner, "an integer", value)
    value = int(value)
    if low is not None and value < low:
        raise fail(param, owner, f"an integer >= {low}", value)
    if high is not None and value > high:
        raise fail(param, owner, f"an integer <= {high}", value)
    return value


def check_float(
    value: Any,
    param: str,
    owner: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is a finite real number within the given interval."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise fail(param, owner, "a real number", value)
    v = float(value)
    lo_s = "(" if low_open else "["
    hi_s = ")" if high_open else "]"
    interval = f"in {lo_s}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_s}"
    if not np.isfinite(v):
        raise fail(param, owner, f"finite and {interval}", value)
    if low is not None and (v < low or (low_open and v == low)):
        raise fail(param, owner, interval, value)
    if high is not None and (v > high or (high_open and v == high)):
        raise fail(param, owner, interval, value)
    return v


def check_choice(value: Any, param: str, owner: str, choices: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise fail(param, owner, f"one of {listed}", value)
    return value


def check_matrix(
    x: Any, param: str, owner: str, *, n_rows: int | None = None, keep_float32: bool = False
) -> np.ndarray:
    """Return ``x`` as a finite 2-D float64 array (optionally with ``n_rows`` rows).

    With ``keep_float32`` a float32 array is returned as it is (no float64 copy), for
    callers whose arithmetic is float32-safe.
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise fail(param, owner, "a 2-D array", arr)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise fail(param, owner, "a real numeric array", f"dtype {arr.dtype}")
    if not (keep_float32 and arr.dtype == np.float32):
        arr = np.asarray(arr, dtype=np.float64)
    if n_rows is not None and arr.shape[0] != n_rows:
        raise fail(param, owner, f"an array with {n_rows} rows", arr)
    check_finite(arr, param, owner)
    return arr


def check_finite(arr: np.ndarray, param: str, owner: str) -> None:
    """Raise :class:`NonFiniteError` naming the first bad entry if ``arr`` has NaN or inf."""
    if arr.size and np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        first = tuple(int(i) for i in bad[0])
        raise NonFiniteError(
            f"`{param}` of {owner} must be finite; got {len(bad)} NaN/inf value(s), first at index {first}."
        )


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and bool(np.isnan(v)))


def _missing_positions(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return np.flatnonzero(np.isnan(arr))
    if arr.dtype == object:
        return np.flatnonzero([_is_missing(v) for v in arr.tolist()])
    return np.empty(0, dtype=np.int64)


def check_ids(ids: Any, owner: str, where: str = "") -> None:
    """Raise :class:`DataError` if any row id is missing (None or NaN), naming the first row.

    Examples
    --------
    >>> check_ids(np.array(["a", None], dtype=object), "Table")
    Traceback (most recent call last):
    ...
    thresher.errors.DataError: `row_id` of Table must not be missing; got 1 missing id(s), first at row 1.
    """
    from thresher.errors import DataError

    bad = _missing_positions(np.asarray(ids))
    if len(bad):
        raise DataError(
            f"`row_id` of {owner} must not be missing; got {len(bad)} missing id(s), first at row {int(bad[0])}{where}."
        )


def check_labels(labels: Any, owner: str, where: str = "") -> None:
    """Raise :class:`DataError` if any label is missing (None or NaN), naming the first row.

    Examples
    --------
    >>> check_labels(np.array([0.0, np.nan]), "MyScorer")
    Traceback (most recent call last):
    ...
    thresher.errors.DataError: `label` of MyScorer must not be missing; got 1 missing label(s), first at row 1. Drop those rows or fill them.
    """
    from thresher.errors import DataError

    bad = _missing_positions(np.asarray(labels))
    if len(bad):
        raise DataError(
            f"`label` of {owner} must not be missing; got {len(bad)} missing label(s), first at row {int(bad[0])}{where}. "
            "Drop those rows or fill them."
        )


def check_probs(probs: Any, owner: str, labels: Any = None, *, atol: float = 1e-4) -> np.ndarray:
    """Return ``probs`` as float64 if it is a valid (n_rows, n_classes) probability matrix.

    Each entry must lie in [0, 1] and each row must sum to 1 within ``atol``; with
    ``labels``, integer labels must be class indices below ``n_classes`` and the number
    of distinct labels must not exceed it.

    Examples
    --------
    >>> check_probs(np.array([[0.2, 0.8], [0.5, 0.5]]), "Margin").shape
    (2, 2)
    >>> check_probs(np.array([[2.0, 3.0]]), "Margin")
    Traceback (most recent call last):
    ...
    thresher.errors.DataError: `probs` of Margin must hold probabilities in [0, 1]; got 2.0 at row 0, column 0.
    """
    from thresher.errors import DataError

    arr = np.asarray(probs)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise DataError(f"`probs` of {owner} must be a 2-D (rows x classes) matrix; got shape {arr.shape}.")
    arr = np.asarray(arr, dtype=np.float64)
    check_finite(arr, "probs", owner)
    out = np.argwhere((arr < -atol) | (arr > 1 + atol))
    if len(out):
        i, j = (int(x) for x in out[0])
        raise DataError(f"`probs` of {owner} must hold probabilities in [0, 1]; got {float(arr[i, j])!r} at row {i}, column {j}.")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > atol * max(1, arr.shape[1]))
    if len(off):
        i = int(off[0])
        raise DataError(
            f"`probs` of {owner} must have rows summing to 1 (within {atol:g}); got {len(off)} row(s) that do not, "
            f"first row {i} summing to {sums[i]:.6g}."
        )
    if labels is not None:
        lab = np.asarray(labels)
        n_classes = arr.shape[1]
        if lab.dtype.kind in "iu" and lab.size and (lab.min() < 0 or lab.max() >= n_classes):
            raise DataError(
                f"`label` of {owner} must be class indices 0..{n_classes - 1} (one per `probs` column); "
                f"got {int(lab.max()) if lab.max() >= n_classes else int(lab.min())}."
            )
        n_distinct = len(np.unique(lab.astype(str))) if lab.size else 0
        if n_distinct > n_classes:
            raise DataError(
                f"`probs` of {owner} must have a column per class; got {n_classes} column(s) for {n_distinct} distinct labels."
            )
    return arr


def check_seed(seed: Any, param: str = "seed", owner: str = "the call") -> Any:
    """Return ``seed`` if thresher accepts it: an integer >= 0, a NumPy Generator or SeedSequence, or None.

    Examples
    --------
    >>> check_seed(3)
    3
    >>> check_seed("3")
    Traceback (most recent call last):
    ...
    thresher.errors.InvalidParameterError: `seed` of the call must be an integer >= 0, a numpy Generator or SeedSequence, or None; got '3'.
    """
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise fail(param, owner, "an integer >= 0, a numpy Generator or SeedSequence, or None", seed)
    return int(seed)


def check_score_column(values: Any, column: str, owner: str, *, nan_policy: str = "raise") -> np.ndarray:
    """Return score ``column`` as float64; NaN values raise unless ``nan_policy`` says what to do with them.

    Examples
    --------
    >>> check_score_column(np.array([1.0, np.nan]), "score.x", "TopK")
    Traceback (most recent call last):
    ...
    thresher.errors.NonFiniteError: column 'score.x' of TopK must not hold NaN; got 1 NaN value(s), first at row 1. Pass nan_policy='drop' to leave those rows out of the candidates.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        from thresher.errors import DataError

        raise DataError(f"`by` of {owner} must name a numeric (score) column; got {column!r}, of dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    check_choice(nan_policy, "nan_policy", owner, ("raise", "drop"))
    bad = np.flatnonzero(np.isnan(arr))
    if len(bad) and nan_policy == "raise":
        raise NonFiniteError(
            f"column {column!r} of {owner} must not hold NaN; got {len(bad)} NaN value(s), first at row {int(bad[0])}. "
            "Pass nan_policy='drop' to leave those rows out of the candidates."
        )
    return arr
