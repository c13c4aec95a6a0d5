"""Warn when features have wildly different scales before distances or kernels use them.

Euclidean kNN distances and cosine/RBF kernels weigh every feature by its spread: one
feature measured in thousands (proline in the wine data, an income, a pixel count) next
to features measured in units makes every distance a distance along that one feature,
so kNN scores and Vendi diversity describe that feature alone. The check compares the
largest feature standard deviation with the median of the others; thresher never rescales on its
own (a user's scales can be meaningful), it says so and points at ``standardize``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

__all__ = ["scale_spread", "warn_if_unscaled", "SPREAD_LIMIT"]

log = logging.getLogger(__name__)

SPREAD_LIMIT = 10.0
_SAMPLE_ROWS = 10_000


def scale_spread(X: Any) -> float:
    """Return the largest feature standard deviation over the median of the others (1.0 when undefined).

    Constant features are left out; at most the first 10,000 rows are read, so the check
    is cheap next to the kNN search or kernel it guards.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.tile([-1.0, 1.0], 50), np.tile([-2.0, 2.0], 50), np.tile([-50.0, 50.0], 50)])
    >>> scale_spread(X)  # 50 / median(1, 2)
    33.333333333333336
    >>> scale_spread(np.ones((4, 2)))
    1.0
    """
    A = np.asarray(X[:_SAMPLE_ROWS], dtype=np.float64)
    if A.ndim != 2 or A.shape[0] < 2 or A.shape[1] < 2:
        return 1.0
    std = A.std(axis=0)
    std = std[std > 0]
    if len(std) < 2:
        return 1.0
    std = np.sort(std)
    return float(std[-1] / np.median(std[:-1]))  # the median of the others: with two features, their ratio


def warn_if_unscaled(X: Any, owner: str, *, limit: float = SPREAD_LIMIT) -> bool:
    """Log one warning when the features' scales differ by more than ``limit``; return whether they do.

    The same matrix (by shape and spread) is reported once per owner, so a method that
    searches neighbours in several shards warns once.

    Examples
    --------
    >>> import numpy as np
    >>> warn_if_unscaled(np.column_stack([np.arange(5.0), 1000 * np.arange(5.0) ** 2]), "doctest")
    True
    >>> warn_if_unscaled(np.random.default_rng(0).normal(size=(50, 4)), "doctest")
    False
    """
    spread = scale_spread(X)
    if spread <= limit:
        return False
    _warn_once(owner, tuple(np.shape(X)), round(spread, 3))
    return True


@functools.lru_cache(maxsize=64)
def _warn_once(owner: str, shape: tuple[int, ...], spread: float) -> None:
    log.warning(
        "%s: the features' scales differ wildly (the largest standard deviation is %.3g times the median of the others), so distances "
        "and kernels are dominated by a few features; standardise them (`standardize = true` in [data], "
        "`--standardize` on the command line) unless the scales are meaningful.",
        owner,
        spread,
    )
