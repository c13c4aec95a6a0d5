"""The Executor contract, the local executor, and the choice of executor by name.

Work that can be split is written as a function of one
:class:`~thresher.execute.shards.Shard` (a contiguous range of items plus a
``SeedSequence`` child). An executor maps that function over the
shards and yields results in shard order. Because every shard's randomness comes from
``SeedSequence(seed).spawn(n_shards)``, not from which worker ran it, the local and Ray
executors give identical results for the same seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from thresher.errors import InvalidParameterError
from thresher.execute.shards import Shard, make_shards, run_shard, spawn_seeds

# Shard, make_shards and spawn_seeds live in thresher.execute.shards (below both
# executors); they are re-exported here because every sharded module imports them
# with the executor from this path.
__all__ = ["Shard", "Executor", "LocalExecutor", "make_shards", "get_executor", "spawn_seeds", "run_shard"]

log = logging.getLogger(__name__)
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Map a function over shards, yielding results in shard order."""

    name: str

    def map(self, fn: Callable[[Shard], R], shards: Sequence[Shard]) -> Iterator[R]: ...


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
