"""ThreadExecutor: shard order, per-shard seeds equal to the serial executor's, errors, BLAS limits, overlap."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from thresher._threads import threads
from thresher.errors import InvalidParameterError, ShardError
from thresher.execute import LocalExecutor, ThreadExecutor, get_executor, make_shards


def _draw(shard):
    return shard.rng().random(3).tolist()


@pytest.mark.parametrize("n_workers", [1, 2, 3])
def test_results_in_shard_order_with_the_serial_seeds(n_workers: int) -> None:
    shards = make_shards(50, shard_size=4, seed=11)
    serial = list(LocalExecutor().map(_draw, shards))
    assert list(ThreadExecutor(n_workers, max_in_flight=1).map(_draw, shards)) == serial
    children = np.random.SeedSequence(11).spawn(len(shards))
    assert serial[5] == np.random.default_rng(children[5]).random(3).tolist()


def test_order_kept_when_later_shards_finish_first() -> None:
    def slow_first(shard):
        time.sleep(0.05 if shard.index == 0 else 0.0)
        return shard.index

    assert list(ThreadExecutor(3).map(slow_first, make_shards(9, shard_size=1))) == list(range(9))


def test_shards_overlap_in_time() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(shard):  # deadlocks (BrokenBarrierError) unless two shards run at once
        barrier.wait()
        return shard.index

    assert list(ThreadExecutor(2).map(meet, make_shards(2, shard_size=1))) == [0, 1]


def test_error_names_the_shard_and_bad_workers() -> None:
    def boom(shard):
        if shard.index == 2:
            raise ZeroDivisionError("x")
        return 0

    with pytest.raises(ShardError, match="shard 2 \\(items 4..5\\)"):
        list(ThreadExecutor(2).map(boom, make_shards(8, shard_size=2)))
    with pytest.raises(InvalidParameterError, match="`n_workers` of ThreadExecutor"):
        list(ThreadExecutor(0).map(_draw, make_shards(4, shard_size=2)))


def test_blas_threads_split_between_workers() -> None:
    seen: list[int] = []

    def blas_limit(shard):
        pools = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        seen.append(max(pools) if pools else 1)
        return 0

    with threads(4):
        list(ThreadExecutor(2).map(blas_limit, make_shards(4, shard_size=1)))
    assert seen == [2, 2, 2, 2]  # 4 threads over 2 workers
    assert get_executor("threads", n_workers=2).n_workers == 2
