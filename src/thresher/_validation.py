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
