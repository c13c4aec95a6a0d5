"""Executors: where sharded work runs (local by default; a thread pool or Ray when asked)."""

from thresher.execute.base import Executor, LocalExecutor, Shard, get_executor, make_shards, spawn_seeds
from thresher.execute.threads import ThreadExecutor

__all__ = ["Executor", "LocalExecutor", "ThreadExecutor", "Shard", "get_executor", "make_shards", "spawn_seeds"]
