"""RBF Vendi: each approximate route and the default against the exact score, with the routes' own checks.

Prints, per data set, the exact Vendi score (q = 1, RBF, gamma = 1/d), then for Nystrom at
ranks 500 / 1,000 / 2,000, RFF with 2,000 features and the default route (``auto``) the
relative error against exact, the route's own check error and whether it met its
tolerance. Data: digits (pixels / 16) and the first ``--n`` Fashion-MNIST training images
(pixels / 255), each raw and standardised.

    python benchmarks/bench_vendi_tolerance.py            # Fashion-MNIST n = 4,000 (about 15 min on 2 busy cores)
    python benchmarks/bench_vendi_tolerance.py --quick    # digits and Fashion-MNIST n = 1,000, ranks 500 only
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from thresher.data.datasets import load_digits, load_fashion_mnist
from thresher.metrics.kernels import kernel_matrix
from thresher.metrics.vendi import vendi, vendi_from_eigenvalues


def standardized(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=4000, help="Fashion-MNIST rows")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    n = 1000 if args.quick else args.n
    digits = np.asarray(load_digits().embeddings, dtype=np.float64)
    fm = np.asarray(load_fashion_mnist(n_train=n).embeddings[:n], dtype=np.float64)
    sets = {"digits": digits, "digits-std": standardized(digits), f"fmnist{n}": fm, f"fmnist{n}-std": standardized(fm)}
    routes = [("nystrom", 500)] if args.quick else [("nystrom", 500), ("nystrom", 1000), ("nystrom", 2000), ("rff", 2000)]
    with threadpool_limits(args.threads):
        for name, X in sets.items():
            t0 = time.perf_counter()
            exact = vendi_from_eigenvalues(np.clip(np.linalg.eigvalsh(kernel_matrix(X, "rbf")), 0.0, None), 1.0)
            print(f"{name}: n={X.shape[0]} d={X.shape[1]} exact={exact:.3f} ({time.perf_counter() - t0:.1f} s)")
            for route, rank in [*routes, ("auto", 500)]:
                if route != "auto" and rank >= X.shape[0]:
                    continue
                t0 = time.perf_counter()
                r = vendi(X, 1.0, kernel="rbf", route=route, rank=rank, seed=0)
                err = (r.value - exact) / exact
                print(
                    f"  {route:>7} rank {rank:>5} -> {r.route:>7}: {r.value:9.3f}  error {err:+.4f}  "
                    f"check {r.details.get('approx_error')}  within {r.details.get('within_tolerance')}  "
                    f"({time.perf_counter() - t0:.1f} s)"
                )


if __name__ == "__main__":
    main()
