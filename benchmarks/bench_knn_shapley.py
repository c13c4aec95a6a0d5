"""KNN-Shapley: thresher vs pyDVL's KNNShapleyValuation on Fashion-MNIST pixels (784-d).

pyDVL (joblib, ``--n-jobs`` processes), thresher on its default thread pool (``--threads``
workers, the one ``threads`` setting) and thresher serial run alternately for
``--rounds`` rounds; medians, the speed ratios, the max abs difference of the values and
the load average are printed. Then thresher alone at a larger size with its peak memory
(tracemalloc peak of NumPy allocations, plus the process max RSS).

    python benchmarks/bench_knn_shapley.py              # 20,000 x 1,000, then 60,000 x 10,000
    python benchmarks/bench_knn_shapley.py --quick      # 2,000 x 200, then 6,000 x 1,000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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


def _stop_joblib_workers() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) plus its reaped child processes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


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
    _stop_joblib_workers()  # so their CPU time is counted (RUSAGE_CHILDREN counts reaped children)
    res = valuation.result
    values = np.empty(len(ytr))
    values[np.asarray(res.indices)] = res.values
    return values, elapsed


def run_thresher(Xtr, ytr, Xte, yte, k: int, batch_size: int, executor) -> tuple[np.ndarray, float]:
    from thresher.scores.knn_shapley import knn_shapley

    t0 = time.perf_counter()
    values = knn_shapley(Xtr, ytr, Xte, yte, k=k, batch_size=batch_size, executor=executor)
    return values, time.perf_counter() - t0


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=20_000)
    ap.add_argument("--n-test", type=int, default=1_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=2, help="joblib jobs for pyDVL")
    ap.add_argument("--threads", type=int, default=2, help="thresher's threads setting (thread-pool workers)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big-train", type=int, default=60_000)
    ap.add_argument("--big-test", type=int, default=10_000)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--only-big", action="store_true", help="skip the comparison with pyDVL")
    ap.add_argument("--ray", action="store_true", help="also run thresher on a local Ray executor")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.quick:
        a.n_train, a.n_test, a.big_train, a.big_test = 2_000, 200, 6_000, 1_000

    import pydvl
    import sklearn

    import thresher
    from thresher.execute import LocalExecutor

    thresher.set_threads(a.threads)
    if a.only_big:
        return run_big(a)
    Xtr, ytr, Xte, yte = load(a.n_train, a.n_test, a.seed)
    print(f"Fashion-MNIST pixels/255 (float64): n_train={a.n_train}, n_test={a.n_test}, d={Xtr.shape[1]}, k={a.k}; "
          f"thresher threads setting {a.threads}, pyDVL joblib n_jobs={a.n_jobs}; load {load_avg()}")
    print(f"pyDVL {pydvl.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}", flush=True)
    # warm-ups, untimed: pyDVL's joblib workers start, thresher's imports and thread pool
    run_pydvl(Xtr[:200], ytr[:200], Xte[:20], yte[:20], a.k, a.n_jobs)
    run_thresher(Xtr[:200], ytr[:200], Xte[:20], yte[:20], a.k, a.batch_size, None)
    t_dvl, t_par, t_ser, r_par, c_dvl, c_par = [], [], [], [], [], []
    for r in range(a.rounds):  # alternating, so load changes hit both alike
        c0 = cpu_seconds()
        v_dvl, t1 = run_pydvl(Xtr, ytr, Xte, yte, a.k, a.n_jobs)
        c1 = cpu_seconds()
        v_par, t2 = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, None)
        c2 = cpu_seconds()
        v_ser, t3 = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, LocalExecutor())
        t_dvl.append(t1), t_par.append(t2), t_ser.append(t3), r_par.append(t1 / t2)
        c_dvl.append(c1 - c0), c_par.append(c2 - c1)
        print(f"  round {r}: pyDVL {t1:.2f} s ({c1 - c0:.1f} CPU s), thresher thread pool {t2:.2f} s "
              f"({c2 - c1:.1f} CPU s), thresher serial {t3:.2f} s; ratio {t1 / t2:.1f}x; load {load_avg()}", flush=True)
    md, mp, ms = (statistics.median(t) for t in (t_dvl, t_par, t_ser))
    print(f"median of the per-round wall-time ratios {statistics.median(r_par):.1f}x; CPU seconds: pyDVL "
          f"{statistics.median(c_dvl):.1f}, thresher {statistics.median(c_par):.1f} "
          f"({statistics.median(c_dvl) / statistics.median(c_par):.1f}x less CPU)")
    diff = np.abs(v_par - v_dvl)
    print(f"medians of {a.rounds}: pyDVL {md:.2f} s; thresher thread pool {mp:.2f} s ({md / mp:.1f}x); "
          f"thresher serial {ms:.2f} s ({md / ms:.1f}x)")
    print(f"max abs diff vs pyDVL: {diff.max():.3e} (rows differing > 1e-12: {(diff > 1e-12).sum()}); "
          f"thread pool vs serial: {np.abs(v_par - v_ser).max():.1e}; "
          f"sums: thresher {v_par.sum():.12f}, pyDVL {v_dvl.sum():.12f}")
    if a.ray:
        from thresher.execute import get_executor

        ex = get_executor("ray", num_cpus=a.n_jobs)
        v_ray, t_ray = run_thresher(Xtr, ytr, Xte, yte, a.k, max(a.batch_size, a.n_test // (4 * a.n_jobs)), ex)
        print(f"thresher on Ray ({a.n_jobs} CPUs): {t_ray:.2f} s, max abs diff vs local {np.abs(v_ray - v_par).max():.1e}")
    if a.skip_big:
        return
    del Xtr, Xte
    run_big(a)


def run_big(a: argparse.Namespace) -> None:
    Xtr, ytr, Xte, yte = load(a.big_train, a.big_test, a.seed)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cpu0 = time.process_time()
    v_big, t_big = run_thresher(Xtr, ytr, Xte, yte, a.k, a.batch_size, None)
    cpu = time.process_time() - cpu0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dense = a.big_train * a.big_test * 8 / 2**30
    print(
        f"thresher alone n_train={a.big_train}, n_test={a.big_test}: {t_big:.1f} s wall ({cpu:.1f} s CPU), "
        f"peak extra NumPy memory {peak / 2**20:.0f} MiB (a dense n_train x n_test float64 matrix: {dense:.1f} GiB), "
        f"process max RSS {rss:.0f} MiB (includes the loaded dataset); threads setting {a.threads}; load {load_avg()}"
    )


if __name__ == "__main__":
    main()
