"""k-center greedy: thresher vs the plain NumPy float64 loop, and vs the n k d GEMM floor.

Data: Fashion-MNIST training pixels / 255, PCA to 64 dimensions (float32), the first
``--n`` rows; ``k = --k`` picks from row 0. The peer is the textbook loop (what thresher
did before: one float64 ``|x|^2 - 2 X x_j + |x_j|^2`` pass per pick, ties to the lowest
position). The floor is the float32 GEMM of all ``n x k`` dot products (``X @ C.T`` in
column blocks of 256), the arithmetic any exact method that touches every distance
does. Peer, thresher and floor run alternately, ``--rounds`` times; medians are printed
with the load average. Agreement: identical picks (and the first position where they
differ) and the largest relative difference of the pick distances.

Then thresher alone: a scaling line (k = n / 10 at three sizes of the same data) and one
large line (``--n-large`` x 64 synthetic mixture, ``--k-large`` picks) with its floor.

Run:  .venv/bin/python benchmarks/bench_kcenter.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

if __name__ == "__main__":  # BLAS threads are fixed before NumPy loads
    _t = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _t

import numpy as np


def plain_loop(X: np.ndarray, k: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The plain float64 farthest-point loop (one matrix-vector product over all rows per pick)."""
    X = np.asarray(X, dtype=np.float64)
    sq = np.einsum("ij,ij->i", X, X)
    picked = np.empty(k, dtype=np.int64)
    gains = np.empty(k)
    picked[0], gains[0] = first, np.inf
    min_d = np.maximum(sq - 2.0 * (X @ X[first]) + sq[first], 0.0)
    min_d[first] = -1.0
    for i in range(1, k):
        j = int(np.argmax(min_d))
        picked[i], gains[i] = j, np.sqrt(max(min_d[j], 0.0))
        np.minimum(min_d, np.maximum(sq - 2.0 * (X @ X[j]) + sq[j], 0.0), out=min_d)
        min_d[j] = -1.0
    return picked, gains


def gemm_floor(X: np.ndarray, k: int) -> float:
    """Seconds for the float32 products of every row with k rows (column blocks of 256)."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    C = X32[:k].copy()
    t0 = time.perf_counter()
    for s in range(0, k, 256):
        X32 @ C[s : s + 256].T
    return time.perf_counter() - t0


def load_features(n: int, dim: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    from thresher.data.datasets import load_fashion_mnist

    t = load_fashion_mnist()
    pix = t.matrix("embeddings")[np.flatnonzero(t.column("split") == "train")[:n]]
    return PCA(n_components=dim, random_state=0).fit_transform(pix).astype(np.float32)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def peak_mb(fn, *args) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    from thresher.select.kcenter import kcenter_greedy

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=60_000)
    p.add_argument("--k", type=int, default=6_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n-large", type=int, default=1_000_000)
    p.add_argument("--k-large", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="n=20000, k=2000, scaling to 20k, large 200k/2k")
    args = p.parse_args()
    if args.quick:
        args.n, args.k, args.n_large, args.k_large = 20_000, 2_000, 200_000, 2_000

    X = load_features(args.n, args.dim)
    print(f"data: Fashion-MNIST train, n={len(X)}, PCA to {X.shape[1]}-d float32; k={args.k}; "
          f"BLAS threads {args.threads}; load {load()}", flush=True)
    t_peer, t_ours, t_floor = [], [], []
    for r in range(args.rounds):
        (ref, ref_g), tp = timed(plain_loop, X, args.k, 0)
        (got, got_g), to = timed(kcenter_greedy, X, args.k, 0)
        tf = gemm_floor(X, args.k)
        t_peer.append(tp), t_ours.append(to), t_floor.append(tf)
        print(f"  round {r}: plain loop {tp:.2f} s, thresher {to:.2f} s, GEMM floor {tf:.2f} s (load {load()})", flush=True)
    same = bool(np.array_equal(got, ref))
    first_diff = int(np.argmax(got != ref)) if not same else -1
    rel = float(np.max(np.abs(got_g[1:] - ref_g[1:]) / ref_g[1:]))
    mp, mo = statistics.median(t_peer), statistics.median(t_ours)
    mf = statistics.median(t_floor)
    mem_ours = peak_mb(kcenter_greedy, X, args.k, 0)
    mem_peer = peak_mb(plain_loop, X, args.k, 0)
    print(
        f"n={len(X)} k={args.k} d={args.dim}: plain float64 loop {mp:.2f} s, thresher {mo:.2f} s "
        f"({mp / mo:.1f}x faster), GEMM floor {mf:.2f} s (thresher = {mo / mf:.2f}x the floor); "
        f"picks identical: {same}" + ("" if same else f" (first difference at pick {first_diff})")
        + f"; max relative distance difference {rel:.1e}; peak traced memory thresher {mem_ours:.0f} MB"
        + f", plain loop {mem_peer:.0f} MB (input {X.nbytes / 2**20:.0f} MB)"
        + f"; medians of {args.rounds}; load {load()}",
        flush=True,
    )

    sizes = [args.n // 4, args.n // 2, args.n]
    line = []
    for n in sizes:
        _, ts = timed(kcenter_greedy, X[:n], n // 10, 0)
        line.append(f"n={n} k={n // 10}: {ts:.2f} s")
    print("scaling (thresher, k = n/10): " + "; ".join(line) + f"; load {load()}", flush=True)

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(100, args.dim)).astype(np.float32)
    XL = np.empty((args.n_large, args.dim), dtype=np.float32)
    for s in range(0, args.n_large, 100_000):
        e = min(s + 100_000, args.n_large)
        XL[s:e] = centres[rng.integers(100, size=e - s)] + rng.normal(size=(e - s, args.dim)).astype(np.float32)
    (gl, _), tl = timed(kcenter_greedy, XL, args.k_large, 0)
    tfl = gemm_floor(XL, args.k_large)
    print(
        f"large (thresher alone): synthetic 100-blob mixture n={args.n_large} d={args.dim} float32, "
        f"k={args.k_large}: {tl:.1f} s, GEMM floor {tfl:.1f} s ({tl / tfl:.2f}x), "
        f"{len(np.unique(gl))} distinct picks; load {load()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
