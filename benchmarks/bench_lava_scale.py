"""LAVA at full Fashion-MNIST scale: 60,000 training rows with 10% flipped labels, PCA-50 features.

The data of ``bench_noisy_detection.py`` (same loader, same seed) at n = 60,000 against a
clean validation set of 1,000 test-split rows. Printed: LAVA's wall time (label-aware
OT, Sinkhorn with reg 0.1 x mean cost, label-stratified batches of ``--batch-size``
rows, local executor), its peak RSS, and AUPRC / F1 (bottom 10% flagged) next to
KNN-Shapley against the same clean validation set, run in the same process.

    python benchmarks/bench_lava_scale.py            # n = 60,000
    python benchmarks/bench_lava_scale.py --quick    # n = 10,000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_noisy_detection import load, prf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--n-valid", type=int, default=1_000)
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n = 10_000
    from sklearn.metrics import average_precision_score

    from thresher.scores.knn_shapley import knn_shapley
    from thresher.scores.lava import lava_gradients

    print(f"load average at start: {os.getloadavg()}")
    X, y, y_true, Xv, yv = load(a.n, a.n_valid, 0.1, a.seed, 50)
    flipped = y != y_true
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    g = lava_gradients(X, y, Xv, yv, batch_size=a.batch_size, seed=a.seed)
    t_lava = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    v = knn_shapley(X, y, Xv, yv, k=10)
    t_knn = time.perf_counter() - t0
    n_flag = int(round(0.1 * a.n))
    print(f"Fashion-MNIST n={a.n}, PCA-50, {flipped.sum()} flipped ({flipped.mean():.1%}), clean valid {a.n_valid}")
    for name, value, sec in (("LAVA", -g, t_lava), ("KNN-Shapley k=10", v, t_knn)):
        flags = np.zeros(a.n, dtype=bool)
        flags[np.argsort(value, kind="stable")[:n_flag]] = True
        p, r, f = prf(flags, flipped)
        print(f"{name:18s} AUPRC {average_precision_score(flipped, -value):.3f}  F1 {f:.3f}  time {sec:7.1f} s")
    print(f"peak RSS before LAVA {rss0:.0f} MiB, after {rss1:.0f} MiB; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
