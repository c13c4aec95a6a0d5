"""PRDC: thresher vs the ``prdc`` package (Naeem et al. 2020), then thresher alone at scale.

Part 1 (n = m = 10,000 by default): reference X = Fashion-MNIST training rows
0..n-1, samples Y = the next m rows, as 64-d PCA embeddings of the pixels. Both
implementations run in this process on the same arrays; the script prints the four
values of each, the largest absolute difference, the time ratio and the peak memory
traced by ``tracemalloc`` (NumPy registers its allocations with it).

Part 2 (n = m = 200,000 by default): thresher alone on a 64-d Gaussian mixture
(reference) against a shifted copy (samples), with P-precision / P-recall; Fashion-MNIST
has only 70,000 images. The ``prdc`` package would need three 200,000 x 200,000 float32
distance matrices (480 GB) and is not run.

    python benchmarks/bench_prdc.py            # 10,000 vs prdc; 200,000 thresher alone
    python benchmarks/bench_prdc.py --quick    # 2,000 vs prdc; 20,000 thresher alone
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Return (result, seconds, peak traced MiB)."""
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak / 2**20


def fmnist_pca(n_rows: int, d: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    from thresher.data.datasets import load_fashion_mnist

    t = load_fashion_mnist()
    train = t.take(np.flatnonzero(np.asarray(t.column("split")).astype(str) == "train"))
    X = np.asarray(train.matrix("embeddings"), dtype=np.float64)
    return PCA(n_components=d, random_state=0).fit_transform(X)[:n_rows]


def mixture(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(scale=3.0, size=(20, d))
    return centers[rng.integers(20, size=n)] + rng.normal(size=(n, d)) + shift


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="n = m for the comparison with prdc")
    ap.add_argument("--n-large", type=int, default=200_000, help="n = m for thresher alone (0 to skip)")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_large = 2_000, 20_000

    from importlib.metadata import version

    import prdc as peer

    from thresher.metrics.coverage import prdc

    Z = fmnist_pca(2 * args.n, args.d)
    X, Y = Z[: args.n], Z[args.n :]
    print(f"prdc {version('prdc')}; Fashion-MNIST PCA-{args.d}; n = m = {args.n}, k = {args.k}")

    def run_peer() -> dict[str, float]:
        with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the sizes
            return {k: float(v) for k, v in peer.compute_prdc(X, Y, args.k).items()}

    ref, tp, mp = measured(run_peer)
    ours, tt, mt = measured(lambda: prdc(X, Y, args.k, probabilistic=False))
    print(f"{'':10s} {'precision':>10s} {'recall':>10s} {'density':>10s} {'coverage':>10s} {'time s':>8s} {'peak MiB':>9s}")
    print(f"{'prdc':10s} " + " ".join(f"{ref[c]:>10.6f}" for c in ("precision", "recall", "density", "coverage")) + f" {tp:>8.2f} {mp:>9.0f}")
    print(f"{'thresher':10s} " + " ".join(f"{getattr(ours, c):>10.6f}" for c in ("precision", "recall", "density", "coverage")) + f" {tt:>8.2f} {mt:>9.0f}")
    diff = max(abs(getattr(ours, c) - ref[c]) for c in ref)
    print(f"max |diff| = {diff:.2e}; time ratio prdc/thresher = {tp / tt:.2f}; memory ratio = {mp / mt:.1f}")
    full, tf, mf = measured(lambda: prdc(X, Y, args.k, probabilistic=True))
    print(f"thresher with P-precision {full.p_precision:.4f} / P-recall {full.p_recall:.4f}: {tf:.2f} s, {mf:.0f} MiB")

    if args.n_large:
        n = args.n_large
        Xl, Yl = mixture(n, args.d, 0.0, 1), mixture(n, args.d, 0.3, 2)
        r, t, m = measured(lambda: prdc(Xl, Yl, args.k, probabilistic=True))
        print(
            f"\nthresher alone, n = m = {n}, d = {args.d}: precision {r.precision:.4f} recall {r.recall:.4f} "
            f"density {r.density:.4f} coverage {r.coverage:.4f} P-precision {r.p_precision:.4f} "
            f"P-recall {r.p_recall:.4f}; {t:.1f} s, peak {m:.0f} MiB traced (inputs {2 * Xl.nbytes / 2**20:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
