"""Executors: shard layout, per-shard seeds, error naming, local == Ray."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.errors import ShardError
from thresher.execute import LocalExecutor, get_executor, make_shards


def _draw(shard):
    return shard.rng().random(3).tolist()


def test_shards_cover_range_and_seeds_are_independent() -> None:
    shards = make_shards(10, n_shards=3, seed=42)
    assert [(s.start, s.stop) for s in shards] == [(0, 3), (3, 7), (7, 10)]
    draws = list(LocalExecutor().map(_draw, shards))
    assert draws == list(LocalExecutor().map(_draw, make_shards(10, n_shards=3, seed=42)))
    assert draws[0] != draws[1]
    children = np.random.SeedSequence(42).spawn(3)
    assert draws[1] == np.random.default_rng(children[1]).random(3).tolist()


def test_error_names_the_shard() -> None:
    def boom(shard):
        if shard.index == 1:
            raise ZeroDivisionError("x")
        return 0

    with pytest.raises(ShardError, match="shard 1 \\(items 2..3\\)"):
        list(LocalExecutor().map(boom, make_shards(6, shard_size=2)))


@pytest.mark.ray
def test_local_and_ray_identical(ray_local) -> None:
    shards = make_shards(20, shard_size=6, seed=7)
    assert list(get_executor("ray").map(_draw, shards)) == list(LocalExecutor().map(_draw, shards))


@pytest.mark.ray
def test_ray_error_names_the_shard(ray_local) -> None:
    def boom(shard):
        raise ValueError("bad")

    with pytest.raises(ShardError, match="shard 0"):
        list(get_executor("ray").map(boom, make_shards(2, shard_size=1)))
