"""KNN-Shapley: thresher vs pyDVL's KNNShapleyValuation on Fashion-MNIST pixels (784-d).

Prints the max abs difference of the values, both wall times and the speed ratio, then
runs thresher alone at a larger size and reports its peak memory (tracemalloc peak of
NumPy allocations, plus the process max RSS).

    python benchmarks/bench_knn_shapley.py              # 20,000 x 1,000, then 60,000 x 10,000
    python benchmarks/bench_knn_shapley.py --quick      # 2,000 x 200, then 6,000 x 1,000
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)


def load(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist

    train, test = split_table(load_fashion_mnist())
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(train.n_rows, size=n_train, replace=False))
    te = np.sort(rng.choice(test.n_rows, size=n_test, replace=False))
    Xtr = np.asarray(train.matrix("embeddings")[tr], dtype=np.float64)
    Xte = np.asarray(test.matrix("embeddings")[te], dtype=np.float64)
    return Xtr, np.asarray(train.labels)[tr], Xte, np.asarray(test.labels)[te]


class ThreadExecutor:
    """Run shards on a thread pool (NumPy's sort, matmul and bincount release the GIL).

    Defined here, not in thresher: parallelism is chosen from outside through the
    Executor protocol, and this shows a custom executor plugging in.
    """

    name = "threads"

    def __init__(self, n_threads: int) -> None:
        self.n_threads = n_threads

    def map(self, fn, shards):
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.n_threads) as pool:
            yield from pool.map(fn, shards)


def run_pydvl(Xtr, ytr, Xte, yte, k: int, n_jobs: int) -> tuple[np.ndarray, float]:
    warnings.filterwarnings("ignore", category=FutureWarning)
    from joblib import parallel_config
    from pydvl.valuation import Dataset, KNNShapleyValuation
    from sklearn.neighbors import KNeighborsClassifier

    train = Dataset(Xtr, ytr)
    test = Dataset(Xte, yte)
    valuation = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=k), test_data=test, progress=False)
    t0 = time.perf_counter()
    with parallel_config(n_jobs=n_jobs):
        valuation.fit(train)
    elapsed = time.perf_counter() - t0
    res = valuation.result
    values = np.empty(len(ytr))
    values[np.asarray(res.indices)] = res.values
    return values, elapsed


def run_thresher(Xtr, ytr, Xte, yte, k: int, batch_size: int, executor) -> tuple[np.ndarray, float]:
    from thresher.scores.knn_shapley import knn_shapley

    t0 = time.perf_counter()
    values = knn_shapley(Xtr, ytr, Xte, yte, k=k, batch_size=batch_size, executor=executor)
    return values, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=20_000)
    ap.add_argument("--n-test", type=int, default=1_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=2, help="joblib jobs for pyDVL")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--big-train", type=int, default=60_000)
    ap.add_argument("--big-test", type=int, default=10_000)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--only-big", action="store_true", help="skip the comparison with pyDVL")
    ap.add_argument("--ray", action="store_true", help="also run thresher on a local Ray executor")
    ap.add_argument("--threads", type=int, default=2, help="also run thresher on a thread executor (0: skip)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.quick:
        a.n_train, a.n_test, a.big_train, a.big_test = 2_000, 200, 6_000, 1_000

    import pydvl
    import sklearn

    if a.only_big:
        return run_big(a)
    Xtr, ytr, Xte, yte = load(a.n_train, a.n_test, a.seed)
    print(f"Fashion-MNIST pixels/255: n_train={a.n_train}, n_test={a.n_test}, d={Xtr.shape[1]}, k={a.k}")
    print(f"pyDVL {pydvl.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    v_thr, t_thr = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, None)
    v_dvl, t_dvl = run_pydvl(Xtr, ytr, Xte, yte, a.k, a.n_jobs)
    diff = np.abs(v_thr - v_dvl)
    print(f"thresher (local, 1 process): {t_thr:.2f} s")
    print(f"pyDVL (n_jobs={a.n_jobs}):         {t_dvl:.2f} s")
    print(f"speed ratio pyDVL/thresher: {t_dvl / t_thr:.1f}x")
    print(f"max abs diff: {diff.max():.3e}  (rows differing > 1e-9: {(diff > 1e-9).sum()})")
    print(f"sum of values: thresher {v_thr.sum():.12f}  pyDVL {v_dvl.sum():.12f}")
    if a.threads:
        v_th, t_th = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, ThreadExecutor(a.threads))
        print(f"thresher ({a.threads} threads): {t_th:.2f} s, ratio pyDVL/thresher {t_dvl / t_th:.1f}x, "
              f"max abs diff vs pyDVL {np.abs(v_th - v_dvl).max():.1e}")
    if a.ray:
        from thresher.execute import get_executor

        ex = get_executor("ray", num_cpus=a.n_jobs)
        v_ray, t_ray = run_thresher(Xtr, ytr, Xte, yte, a.k, max(a.batch_size, a.n_test // (4 * a.n_jobs)), ex)
        print(f"thresher on Ray ({a.n_jobs} CPUs): {t_ray:.2f} s, max abs diff vs local {np.abs(v_ray - v_thr).max():.1e}")
    if a.skip_big:
        return
    del Xtr, Xte
    run_big(a)


def run_big(a: argparse.Namespace) -> None:
    Xtr, ytr, Xte, yte = load(a.big_train, a.big_test, a.seed)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    v_big, t_big = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, None)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dense = a.big_train * a.big_test * 8 / 2**30
    print(
        f"thresher alone n_train={a.big_train}, n_test={a.big_test}: {t_big:.1f} s, "
        f"peak extra NumPy memory {peak / 2**20:.0f} MiB (a dense n_train x n_test float64 matrix: {dense:.1f} GiB), "
        f"process max RSS {rss:.0f} MiB (includes the loaded dataset)"
    )


if __name__ == "__main__":
    main()
