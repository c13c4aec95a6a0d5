"""Vendi score: covariance route vs exact eigenvalue route (the foundation's benchmark).

Prints the time of each route at n rows, d features and their agreement. The exact route
holds the n x n kernel and takes O(n^3); the covariance route O(n d^2) and O(d^2) memory.

    python benchmarks/bench_vendi_routes.py            # n = 20,000, d = 64
    python benchmarks/bench_vendi_routes.py --quick    # n = 2,000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from thresher.metrics.vendi import vendi_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kernel", default="cosine", choices=["cosine", "linear"])
    args = ap.parse_args()
    n = 2_000 if args.quick else args.n
    rng = np.random.default_rng(0)
    # clustered data so the spectrum is not flat
    centers = rng.normal(size=(20, args.d))
    X = centers[rng.integers(20, size=n)] + 0.5 * rng.normal(size=(n, args.d))
    for q in (1.0,):
        t0 = time.perf_counter()
        cov = vendi_score(X, q, kernel=args.kernel, route="covariance")
        t_cov = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact = vendi_score(X, q, kernel=args.kernel, route="exact")
        t_exact = time.perf_counter() - t0
        print(f"n={n} d={args.d} kernel={args.kernel} q={q}")
        print(f"  covariance route: {cov:.10f} in {t_cov:.4f} s")
        print(f"  exact route:      {exact:.10f} in {t_exact:.2f} s")
        print(f"  |difference| = {abs(cov - exact):.3e}; speed ratio exact/covariance = {t_exact / t_cov:,.0f}x")


if __name__ == "__main__":
    main()
