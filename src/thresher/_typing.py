"""Type aliases shared across thresher."""

from __future__ import annotations

from typing import Union

import numpy as np

Seed = Union[int, np.random.Generator, np.random.SeedSequence, None]
"""Anything thresher accepts as a seed; turned into a Generator inside each call."""


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a NumPy Generator for ``seed`` without touching global random state.

    Examples
    --------
    >>> int(as_generator(0).integers(10)) == int(as_generator(0).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    from thresher._validation import check_seed

    return np.random.default_rng(check_seed(seed))


def seed_int(seed: Seed) -> int | None:
    """Return an int for ``seed`` when it has one (for manifests and ``Selection.seed``)."""
    if seed is None:
        return None
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1)[0])
    return None
