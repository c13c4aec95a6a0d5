"""Near-duplicate clusters: the sort-based numbering and listing vs the former per-cluster scans.

Data: ``c`` tight pairs (two copies of a random 8-d point, jitter 1e-4) plus ``c``
singletons, shuffled. For c in three sizes we time (i) the cluster numbering and
``NearDuplicates.clusters()`` as thresher does them now and as it did before (a
``flatnonzero`` per cluster, quadratic in the number of clusters), on the same
connected components, with equality of the outputs, and (ii) the whole
``find_near_duplicates`` call (exact kNN included). Medians of ``--rounds`` alternating
rounds; the load average is printed.

Run:  .venv/bin/python benchmarks/bench_near_duplicates.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def old_numbering(comp: np.ndarray, flags: np.ndarray) -> np.ndarray:
    cluster = np.full(len(comp), -1, dtype=np.int64)
    member = np.flatnonzero(flags)
    _, ids = np.unique(comp[member], return_inverse=True)
    order = np.argsort([member[ids == c].min() for c in range(ids.max() + 1)])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cluster[member] = rank[ids]
    return cluster


def old_clusters(cluster: np.ndarray) -> list[np.ndarray]:
    n_clusters = int(cluster.max() + 1)
    groups = [np.flatnonzero(cluster == c) for c in range(n_clusters)]
    return sorted(groups, key=lambda g: (-len(g), int(g[0])))


def new_numbering(comp: np.ndarray, flags: np.ndarray) -> np.ndarray:
    cluster = np.full(len(comp), -1, dtype=np.int64)
    member = np.flatnonzero(flags)
    labels, first_seen, ids = np.unique(comp[member], return_index=True, return_inverse=True)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(len(labels))
    cluster[member] = rank[ids]
    return cluster


def main() -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from thresher.scores.issues import NearDuplicates, find_near_duplicates

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clusters", type=int, nargs=3, default=[10_000, 40_000, 160_000])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2,500 / 10,000 / 40,000 clusters")
    args = p.parse_args()
    if args.quick:
        args.clusters = [2_500, 10_000, 40_000]
    print(f"load {os.getloadavg()[0]:.2f}/{os.getloadavg()[1]:.2f}", flush=True)
    for c in args.clusters:
        rng = np.random.default_rng(0)
        base = rng.normal(size=(2 * c, 8)) * 10
        X = np.concatenate([base[:c], base[:c] + rng.normal(size=(c, 8)) * 1e-4, base[c:]])
        X = X[rng.permutation(len(X))]
        t0 = time.perf_counter()
        r = find_near_duplicates(X, threshold=1e-2, k=2)
        t_call = time.perf_counter() - t0
        n = len(X)
        graph = coo_matrix((np.ones(len(r.pairs)), (r.pairs[:, 0], r.pairs[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        t_old, t_new = [], []
        old_rounds = args.rounds if c <= 40_000 else 1  # the scan takes minutes beyond that
        for i in range(args.rounds):
            if i < old_rounds:
                t0 = time.perf_counter()
                co = old_numbering(comp, r.flags)
                go = old_clusters(co)
                t_old.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cn = new_numbering(comp, r.flags)
            gn = NearDuplicates(r.flags, cn, r.pairs, r.distances, r.nn_distance, r.threshold).clusters()
            t_new.append(time.perf_counter() - t0)
        same = np.array_equal(co, cn) and len(go) == len(gn) and all(np.array_equal(a, b) for a, b in zip(go, gn))
        mo, mn = statistics.median(t_old), statistics.median(t_new)
        print(
            f"clusters={r.n_clusters} rows={n}: numbering + clusters() before {mo:.3f} s (median of {len(t_old)}), "
            f"now {mn * 1e3:.1f} ms ({mo / mn:.0f}x); outputs identical: {same}; "
            f"whole find_near_duplicates {t_call:.2f} s; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
