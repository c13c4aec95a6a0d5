"""Executors: where sharded work runs (local by default, Ray when asked)."""

from thresher.execute.base import Executor, LocalExecutor, Shard, get_executor, make_shards, spawn_seeds

__all__ = ["Executor", "LocalExecutor", "Shard", "get_executor", "make_shards", "spawn_seeds"]
