"""A local executor that runs shards on a thread pool (NumPy and BLAS release the GIL).

The heavy parts of sharded work here (BLAS products, sorts, ufunc loops, bincount,
scikit-learn's compiled kNN) run without the GIL, so threads share one copy of the data
and need no pickling, unlike processes. Results come back in shard order and each
shard's randomness comes from its own ``SeedSequence`` child, so
:class:`ThreadExecutor`, :class:`~thresher.execute.base.LocalExecutor` and the Ray
executor return the same values for the same seed.

BLAS pools are limited for the duration of the map to ``threads // n_workers`` each
(through :func:`thresher._threads.threads`, the one ``threads`` setting), so ``n_workers``
shards at a time do not oversubscribe the cores.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from thresher._threads import get_threads, threads
from thresher._validation import check_int
from thresher.execute.shards import Shard, run_shard

__all__ = ["ThreadExecutor"]

log = logging.getLogger(__name__)
R = TypeVar("R")


class ThreadExecutor:
    """Run shards on ``n_workers`` threads of this process, yielding results in shard order.

    Parameters
    ----------
    n_workers
        Threads running shards; ``None``: the ``threads`` setting
        (:func:`thresher.get_threads`) at the time of the call.
    max_in_flight
        Shards submitted ahead per worker (bounds the results held at once).

    Examples
    --------
    >>> from thresher.execute import LocalExecutor
    >>> from thresher.execute.shards import make_shards
    >>> draw = lambda s: int(s.rng().integers(100))
    >>> shards = make_shards(3, shard_size=1, seed=0)
    >>> list(ThreadExecutor(2).map(draw, shards)), list(LocalExecutor().map(draw, shards))
    ([80, 66, 65], [80, 66, 65])
    """

    name = "threads"

    def __init__(self, n_workers: int | None = None, max_in_flight: int = 2) -> None:
        self.n_workers = n_workers
        self.max_in_flight = max_in_flight

    def map(self, fn: Callable[[Shard], R], shards: Sequence[Shard]) -> Iterator[R]:
        owner = type(self).__name__
        total = get_threads()
        n = total if self.n_workers is None else check_int(self.n_workers, "n_workers", owner, low=1)
        ahead = check_int(self.max_in_flight, "max_in_flight", owner, low=1)
        n = max(1, min(n, len(shards)))
        if n == 1:  # nothing to overlap: run in this thread, with the full thread budget
            for shard in shards:
                yield run_shard(fn, shard)
            return
        per_worker = max(1, total // n)
        log.debug("%s: %d workers, %d BLAS threads each, %d shards", owner, n, per_worker, len(shards))
        # the limit is process-wide: while this generator is suspended, the caller's own
        # BLAS calls run under it too
        with threads(per_worker), ThreadPoolExecutor(n, thread_name_prefix="thresher") as pool:
            pending: deque[Future[R]] = deque()
            it = iter(shards)
            try:
                for shard in it:
                    pending.append(pool.submit(run_shard, fn, shard))
                    if len(pending) >= n * ahead:
                        break
                while pending:
                    result = pending.popleft().result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append(pool.submit(run_shard, fn, nxt))
                    yield result
            finally:  # a failed shard or an abandoned map: drop what has not started
                for f in pending:
                    f.cancel()
