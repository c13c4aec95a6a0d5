"""Lazy greedy: the array-based optimizer vs the former Python heap-and-dict version.

Data: a random sparse similarity graph (each row gets 10 random neighbours with
similarities uniform in (0, 1), plus itself at 1), facility-location objective, k picks.
The optimizer alone is timed (the graph is built once), in CPU seconds of this
process (steadier than wall time on a loaded machine; both are single-threaded). Three sizes give the scaling
line; the picks and gains of both must be identical. Rounds alternate (old, new);
medians are printed with the load average.

Run:  .venv/bin/python benchmarks/bench_lazy_greedy.py [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import statistics
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from thresher.select.objectives import FacilityLocationObjective, Objective
from thresher.select.optimizers import _LAZY_BATCH, GreedyResult, _lazy


def heap_lazy(
    objective: Objective,
    cand: np.ndarray,
    k: int,
    costs: np.ndarray | None = None,
    capacity: float = math.inf,
    per_cost: bool = False,
) -> GreedyResult:
    """The former lazy greedy: a Python heap of (-key, position) and dicts of stamps and gains."""
    state = objective.new_state()
    g0 = state.gains(cand)
    key = g0 / costs[cand] if per_cost and costs is not None else g0
    # heap of (-key, position); ties pop the lowest position first, as in naive greedy
    heap = list(zip((-key).tolist(), cand.tolist()))
    heapq.heapify(heap)
    stamp = {}  # position -> number of picks when its key was computed
    picked: list[int] = []
    gains: list[float] = []
    fresh_gain: dict[int, float] = {int(j): float(g) for j, g in zip(cand.tolist(), g0.tolist())}
    for j in cand.tolist():
        stamp[j] = 0
    spent = 0.0
    while heap and len(picked) < k:
        _, j = heapq.heappop(heap)
        if costs is not None and spent + costs[j] > capacity:
            continue  # remaining capacity only shrinks: it never fits again
        if stamp[j] == len(picked):
            picked.append(j)
            gains.append(fresh_gain[j])
            state.add(j)
            if costs is not None:
                spent += float(costs[j])
            continue
        # j is stale: re-evaluate it together with the next stale entries in one vectorised
        # call (fresh gains are exact, so they remain valid keys; this only saves calls)
        batch, keep = [j], []
        while heap and len(batch) < _LAZY_BATCH:
            entry = heapq.heappop(heap)
            i = entry[1]
            if costs is not None and spent + costs[i] > capacity:
                continue
            if stamp[i] == len(picked):
                keep.append(entry)
            else:
                batch.append(i)
        g = state.gains(np.asarray(batch, dtype=np.int64))
        for i, gi in zip(batch, g.tolist()):
            fresh_gain[i], stamp[i] = gi, len(picked)
            heapq.heappush(heap, (-(gi / costs[i] if per_cost and costs is not None else gi), i))
        for entry in keep:
            heapq.heappush(heap, entry)
    return GreedyResult(np.asarray(picked, dtype=np.int64), np.asarray(gains, dtype=np.float64))



def random_graph(n: int, nn: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), nn + 1)
    cols = np.concatenate([np.arange(n)[:, None], rng.integers(n, size=(n, nn))], axis=1).ravel()
    vals = np.concatenate([np.ones((n, 1)), rng.uniform(size=(n, nn))], axis=1).ravel()
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs=3, default=[50_000, 200_000, 800_000])
    p.add_argument("--k", type=int, default=1_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="sizes 20k / 80k / 320k, 2 rounds")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.rounds = [20_000, 80_000, 320_000], 2
    print(f"load {os.getloadavg()[0]:.2f}; k={args.k}, 10 random neighbours per row", flush=True)
    for n in args.sizes:
        f = FacilityLocationObjective(random_graph(n, 10, 0))
        cand = np.arange(n, dtype=np.int64)
        t_old, t_new = [], []
        for _ in range(args.rounds):
            t0 = time.process_time()
            old = heap_lazy(f, cand, args.k)
            t_old.append(time.process_time() - t0)
            t0 = time.process_time()
            new = _lazy(f, cand, args.k)
            t_new.append(time.process_time() - t0)
        peaks = []
        for fn in (heap_lazy, _lazy):
            tracemalloc.start()
            fn(f, cand, args.k)
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
        same = np.array_equal(old.positions, new.positions) and np.array_equal(old.gains, new.gains)
        mo, mn = statistics.median(t_old), statistics.median(t_new)
        print(
            f"n={n} k={args.k}: heap version {mo:.2f} s, arrays {mn:.2f} s ({mo / mn:.1f}x); "
            f"peak traced memory {peaks[0]:.0f} MB vs {peaks[1]:.0f} MB; "
            f"picks and gains identical: {same}; CPU-time medians of {args.rounds}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
