"""Ray executor: the same contract as the local one, with shards run as Ray tasks.

Install with ``pip install thresher[ray]``. If Ray is not initialised, a local instance
is started with ``num_cpus`` workers. The function is put in the object store once
(``ray.put``) so large arrays captured by it are shipped once, not once per task; at most
``max_in_flight`` tasks are pending at a time to bound memory.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from thresher.errors import MissingDependencyError, ShardError
from thresher.execute.shards import Shard, run_shard

log = logging.getLogger(__name__)
R = TypeVar("R")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "the Ray executor needs the `ray` package; install it with: pip install 'thresher[ray]'"
        ) from None
    return ray


class RayExecutor:
    """Run shards as Ray tasks; results come back in shard order.

    Parameters
    ----------
    num_cpus
        CPUs for a local Ray instance started by this executor (ignored when Ray is
        already initialised or ``address`` is given).
    address
        Address of an existing Ray cluster (``"auto"`` to join the local one).
    max_in_flight
        Most tasks submitted but not yet collected.
    """

    name = "ray"

    def __init__(self, num_cpus: int | None = None, address: str | None = None, max_in_flight: int = 8) -> None:
        self.num_cpus = num_cpus
        self.address = address
        self.max_in_flight = max_in_flight

    def _ensure_ray(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is not None:
                kw["address"] = self.address
            elif self.num_cpus is not None:
                kw["num_cpus"] = self.num_cpus
            ray.init(**kw)
        return ray

    def map(self, fn: Callable[[Shard], R], shards: Sequence[Shard]) -> Iterator[R]:
        ray = self._ensure_ray()
        remote = ray.remote(run_shard)
        fn_ref = ray.put(fn)
        pending: deque[tuple[Shard, Any]] = deque()
        it = iter(shards)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.max_in_flight:
                try:
                    shard = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((shard, remote.remote(fn_ref, shard)))
            if not pending:
                return
            shard, ref = pending.popleft()
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                if isinstance(cause, ShardError):
                    raise cause from None
                raise ShardError(f"shard {shard.index} (items {shard.start}..{shard.stop - 1}) failed: {cause!r}") from exc
