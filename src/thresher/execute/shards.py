"""Shards: contiguous ranges of items, each with its own seed, and how one shard is run.

Work that can be split is written as a function of one :class:`Shard` (a contiguous
range of items plus a ``SeedSequence`` child). Because every shard's randomness comes
from ``SeedSequence(seed).spawn(n_shards)``, not from which worker ran it, every
executor (:mod:`thresher.execute.base`, :mod:`thresher.execute.ray_executor`) gives
identical results for the same seed. This module is the layer below the executors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from thresher._typing import Seed
from thresher._validation import check_int
from thresher.errors import InvalidParameterError, ShardError, ThresherError

__all__ = ["Shard", "make_shards", "spawn_seeds", "run_shard"]

R = TypeVar("R")


@dataclass(frozen=True)
class Shard:
    """A contiguous range ``[start, stop)`` of items with its own seed."""

    index: int
    start: int
    stop: int
    seed: np.random.SeedSequence

    @property
    def size(self) -> int:
        return self.stop - self.start

    def rng(self) -> np.random.Generator:
        """Return this shard's Generator (same for every executor)."""
        return np.random.default_rng(self.seed)

    def slice(self) -> slice:
        return slice(self.start, self.stop)


def spawn_seeds(seed: Seed, n: int) -> list[np.random.SeedSequence]:
    """Return ``n`` independent child seed sequences of ``seed``."""
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif isinstance(seed, np.random.Generator):
        root = np.random.SeedSequence(int(seed.integers(2**63)))
    else:
        root = np.random.SeedSequence(seed)
    return root.spawn(n)


def make_shards(n_items: int, *, shard_size: int | None = None, n_shards: int | None = None, seed: Seed = None) -> list[Shard]:
    """Split ``n_items`` into contiguous shards, each with a child seed.

    Give either ``shard_size`` or ``n_shards`` (default: one shard).

    Examples
    --------
    >>> [(s.start, s.stop) for s in make_shards(10, shard_size=4)]
    [(0, 4), (4, 8), (8, 10)]
    """
    check_int(n_items, "n_items", "make_shards", low=0)
    if shard_size is not None and n_shards is not None:
        raise InvalidParameterError("make_shards takes `shard_size` or `n_shards`, not both; got both.")
    if shard_size is not None:
        check_int(shard_size, "shard_size", "make_shards", low=1)
        bounds = list(range(0, n_items, shard_size)) + [n_items]
    else:
        k = 1 if n_shards is None else check_int(n_shards, "n_shards", "make_shards", low=1)
        k = max(1, min(k, n_items)) if n_items else 1
        bounds = [round(i * n_items / k) for i in range(k + 1)]
    if n_items == 0:
        bounds = [0, 0]
    seeds = spawn_seeds(seed, len(bounds) - 1)
    return [Shard(i, bounds[i], bounds[i + 1], seeds[i]) for i in range(len(bounds) - 1)]


def run_shard(fn: Callable[[Shard], R], shard: Shard) -> R:
    """Call ``fn(shard)``; wrap unexpected failures so the error names the shard."""
    try:
        return fn(shard)
    except ThresherError:
        raise
    except Exception as exc:  # re-raised with the shard named; not swallowed
        raise ShardError(f"shard {shard.index} (items {shard.start}..{shard.stop - 1}) failed: {exc!r}") from exc

