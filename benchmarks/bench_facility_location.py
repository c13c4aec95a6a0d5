"""Facility location: thresher's sparse kNN-graph greedy vs apricot's dense lazy greedy.

Data: Fashion-MNIST training pixels / 255, PCA to 64 dimensions (fitted on the rows
used). apricot's ``FacilityLocationSelection(metric="euclidean", optimizer="lazy")``
holds the dense similarity ``max(d^2) - d^2``. Both selections are scored on that same
dense similarity (computed blockwise here, never held whole):

    f(S) = sum_i max_{j in S} (M - d_ij^2) = n M - sum_i min_{j in S} d_ij^2

so we print the ratio of f (target >= 0.99) and, because the constant ``n M`` dominates
f, also the ratio of the k-medoids cost ``sum_i min_j d_ij^2`` (lower is better), which
is the part that tells the selections apart. Each method runs in a fresh process:
time is the wall clock of the selection (graph build included), memory the growth of
peak RSS during it (so numba, faiss and BLAS buffers count). Then thresher alone at
``--n-large`` synthetic points with GreeDi shards.

Run:  .venv/bin/python benchmarks/bench_facility_location.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM; unlike ru_maxrss it does not carry over a spawn's exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(method: str, path: str, k: int, nn: int, kernel: str, backend: str, queue: Any) -> None:
    """Run one selection in a fresh process; report (positions, seconds, peak RSS growth in MB).

    Imports and apricot's numba compilation (on a tiny input) happen before the clock starts.
    """
    X = np.load(path)
    if method == "apricot":
        import apricot

        apricot.FacilityLocationSelection(5, metric="euclidean", optimizer="lazy", verbose=False).fit(X[:50])
    else:
        from thresher.select.graph import build_graph
        from thresher.select.objectives import FacilityLocationObjective
        from thresher.select.optimizers import lazy_greedy

        if backend == "faiss":
            import faiss  # noqa: F401
    before = _rss_mb()
    t0 = time.perf_counter()
    if method == "apricot":
        sel = apricot.FacilityLocationSelection(k, metric="euclidean", optimizer="lazy", verbose=False)
        sel.fit(X)
        pos = np.asarray(sel.ranking, dtype=np.int64)
    else:
        g = build_graph(X, nn, backend=backend)
        pos = lazy_greedy(FacilityLocationObjective(g.similarity(kernel)), k).positions
    secs = time.perf_counter() - t0
    peak = _peak_rss_mb()
    queue.put((pos, secs, max(peak - before, 0.0)))


def _measure(method: str, path: str, k: int, nn: int = 0, kernel: str = "", backend: str = "numpy") -> tuple[np.ndarray, float, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(method, path, k, nn, kernel, backend, q))
    proc.start()
    out = q.get()
    proc.join()
    return out


def dense_objective(X: np.ndarray, S: np.ndarray, block: int = 2048) -> tuple[float, float]:
    """Return (apricot's dense facility-location value of S, k-medoids cost of S)."""
    sq = np.einsum("ij,ij->i", X, X)
    XS, sqS = X[S], sq[S]
    max_d2 = 0.0
    cost = 0.0
    for a in range(0, len(X), block):
        b = min(a + block, len(X))
        # the largest squared distance over all pairs (apricot's M), block by block
        d_all = np.maximum(sq[a:b, None] - 2.0 * X[a:b] @ X.T + sq[None, :], 0.0)
        max_d2 = max(max_d2, float(d_all.max()))
        d_s = np.maximum(sq[a:b, None] - 2.0 * X[a:b] @ XS.T + sqS[None, :], 0.0)
        cost += float(d_s.min(axis=1).sum())
    return len(X) * max_d2 - cost, cost


def load_features(n: int, dim: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    from thresher.data.datasets import load_fashion_mnist

    t = load_fashion_mnist(n_train=n)
    train = t.take(np.flatnonzero(t.column("split") == "train")[:n])
    return np.ascontiguousarray(PCA(n_components=dim, random_state=0).fit_transform(train.embeddings))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--k", type=int, default=2_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--n-neighbors", type=int, nargs="+", default=[10, 30])
    p.add_argument("--kernels", nargs="+", default=["gaussian"])
    p.add_argument("--backends", nargs="+", default=["numpy", "sklearn", "faiss"])
    p.add_argument("--n-large", type=int, default=1_000_000)
    p.add_argument("--k-large", type=int, default=1_000)
    p.add_argument("--shard-size", type=int, default=25_000)
    p.add_argument("--skip-apricot", action="store_true")
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--quick", action="store_true", help="n=3000, k=300, n_large=100000")
    args = p.parse_args()
    if args.quick:
        args.n, args.k, args.n_large, args.k_large, args.shard_size = 3000, 300, 100_000, 1000, 10_000

    from thresher.data.table import Table
    from thresher.select.base import Budget

    X = load_features(args.n, args.dim)
    print(f"data: Fashion-MNIST train, n={len(X)}, PCA to {X.shape[1]}-d; k={args.k}", flush=True)

    path = str(Path(tempfile.mkdtemp()) / "X.npy")
    np.save(path, X)
    ref_obj = ref_cost = ref_t = ref_mem = None
    ref_sel: np.ndarray | None = None
    if not args.skip_apricot:
        import apricot

        ref_sel, ref_t, ref_mem = _measure("apricot", path, args.k)
        ref_obj, ref_cost = dense_objective(X, ref_sel)
        print(f"apricot {apricot.__version__}: time {ref_t:.2f} s, peak RSS growth {ref_mem:.0f} MB, dense f {ref_obj:.6g}, k-medoids cost {ref_cost:.6g}")

    for backend in args.backends:
        for nn in args.n_neighbors:
            for kernel in args.kernels:
                sel, t_s, mem = _measure("thresher", path, args.k, nn, kernel, backend)
                obj, cost = dense_objective(X, sel)
                line = f"thresher backend={backend} n_neighbors={nn:3d} kernel={kernel}: time {t_s:.2f} s, peak RSS growth {mem:.0f} MB"
                if ref_sel is not None:
                    jac = len(np.intersect1d(sel, ref_sel)) / len(np.union1d(sel, ref_sel))
                    line += (
                        f", dense f ratio {obj / ref_obj:.5f}, k-medoids cost ratio {cost / ref_cost:.3f} (lower better),"
                        f" speed-up {ref_t / t_s:.1f}x, memory ratio {ref_mem / max(mem, 1e-9):.1f}x, Jaccard {jac:.3f}"
                    )
                print(line, flush=True)

    if not args.skip_large:
        # thresher alone at scale: synthetic 64-d mixture, GreeDi over shards of --shard-size rows
        from thresher.select.submodular import FacilityLocation

        rng = np.random.default_rng(0)
        centers = rng.normal(scale=3.0, size=(100, args.dim))
        Xl = centers[rng.integers(100, size=args.n_large)] + rng.normal(size=(args.n_large, args.dim))
        Xl = Xl.astype(np.float64)
        table = Table(matrices={"embeddings": Xl})
        n_shards = max(1, args.n_large // args.shard_size)
        selector = FacilityLocation(n_neighbors=10, kernel="sqdist", optimizer="greedi", n_shards=n_shards)
        before = _rss_mb()
        t0 = time.perf_counter()
        sel_l = selector.select(table, Budget(n=args.k_large), seed=0)
        t_l = time.perf_counter() - t0
        peak = _peak_rss_mb()
        print(
            f"thresher alone: n={args.n_large}, d={args.dim}, k={args.k_large}, GreeDi {n_shards} shards of"
            f" ~{args.n_large // n_shards} rows, n_neighbors=10: time {t_l:.1f} s, process peak RSS {peak:.0f} MB"
            f" (RSS before the call {before:.0f} MB, input matrix {Xl.nbytes / 2**20:.0f} MB), selected {len(sel_l)}"
        )


if __name__ == "__main__":
    main()
