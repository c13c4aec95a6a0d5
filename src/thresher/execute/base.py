"""The Executor contract, shards with their own seeds, and the local executor.

Work that can be split is written as a function of one :class:`Shard` (a contiguous
range of items plus a ``SeedSequence`` child). An executor maps that function over the
shards and yields results in shard order. Because every shard's randomness comes from
``SeedSequence(seed).spawn(n_shards)``, not from which worker ran it, the local and Ray
executors give identical results for the same seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from thresher._typing import Seed
from thresher._validation import check_int
from thresher.errors import InvalidParameterError, ShardError, ThresherError

__all__ = ["Shard", "Executor", "LocalExecutor", "make_shards", "get_executor", "spawn_seeds"]

log = logging.getLogger(__name__)
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


@runtime_checkable
class Executor(Protocol):
    """Map a function over shards, yielding results in shard order."""

    name: str

    def map(self, fn: Callable[[Shard], R], shards: Sequence[Shard]) -> Iterator[R]: ...


def run_shard(fn: Callable[[Shard], R], shard: Shard) -> R:
    """Call ``fn(shard)``; wrap unexpected failures so the error names the shard."""
    try:
        return fn(shard)
    except ThresherError:
        raise
    except Exception as exc:  # re-raised with the shard named; not swallowed
        raise ShardError(f"shard {shard.index} (items {shard.start}..{shard.stop - 1}) failed: {exc!r}") from exc


class LocalExecutor:
    """Run shards one after another in this process (the default).

    Examples
    --------
    >>> list(LocalExecutor().map(lambda s: s.size, make_shards(5, shard_size=2)))
    [2, 2, 1]
    """

    name = "local"

    def map(self, fn: Callable[[Shard], R], shards: Sequence[Shard]) -> Iterator[R]:
        for shard in shards:
            yield run_shard(fn, shard)


def get_executor(executor: str | Executor | None = None, **params: Any) -> Executor:
    """Return an executor: ``None``/``"local"`` for local, ``"ray"`` for :class:`RayExecutor`."""
    if executor is None or executor == "local":
        return LocalExecutor()
    if executor == "ray":
        from thresher.execute.ray_executor import RayExecutor

        return RayExecutor(**params)
    if isinstance(executor, Executor):
        return executor
    raise InvalidParameterError(f"`executor` must be 'local', 'ray' or an Executor; got {executor!r}.")
