"""Noisy-label detection on Fashion-MNIST with 10% of training labels flipped (OpenDataVal "noisy_detection").

Every method sees the same data: a random subsample of the training split with a
fraction of labels flipped uniformly to another class, features = PCA-50 of the pixels
(fitted without labels, so the logistic regression and trees run in seconds), and the
same 5-fold out-of-fold probabilities (scaled logistic regression) for every method
that reads probabilities. Reported for each method: precision, recall and F1 of its
flagged set and the AUPRC of its ranking (flipped = positive).

* confident learning (thresher ``find_label_issues``, prune_by_noise_rate) vs cleanlab's
  ``find_label_issues`` on the same probabilities: flags as returned; AUPRC ranks by
  self-confidence with flagged rows first;
* value scores (self-confidence, KNN-Shapley against a clean validation set drawn from
  the test split, KNN-Shapley of the rows against each other, Data-OOB): the flagged set
  is the lowest-valued ``noise`` fraction (the true noise rate is given to them, as an
  oracle threshold); AUPRC ranks by value, lowest first.

    python benchmarks/bench_noisy_detection.py            # n = 10,000 (subsample), 10% noise
    python benchmarks/bench_noisy_detection.py --quick    # n = 2,000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)


def load(n: int, n_valid: int, noise: float, seed: int, n_components: int):
    from sklearn.decomposition import PCA

    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist

    train, test = split_table(load_fashion_mnist())
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(train.n_rows, size=n, replace=False))
    va = np.sort(rng.choice(test.n_rows, size=n_valid, replace=False))
    Xtr_px = np.asarray(train.matrix("embeddings")[tr], dtype=np.float64)
    Xva_px = np.asarray(test.matrix("embeddings")[va], dtype=np.float64)
    pca = PCA(n_components=n_components, random_state=seed).fit(Xtr_px)
    y_true = np.asarray(train.labels)[tr].astype(np.int64)
    y = y_true.copy()
    flip = rng.random(n) < noise
    y[flip] = (y[flip] + rng.integers(1, 10, size=flip.sum())) % 10  # uniformly to another class
    return pca.transform(Xtr_px), y, y_true, pca.transform(Xva_px), np.asarray(test.labels)[va].astype(np.int64)


def prf(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & truth).sum())
    p = tp / max(flags.sum(), 1)
    r = tp / max(truth.sum(), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="training rows (subsample of the 60,000)")
    ap.add_argument("--n-valid", type=int, default=1_000, help="clean validation rows (from the test split)")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--k", type=int, default=10, help="K of KNN-Shapley")
    ap.add_argument("--oob-estimators", type=int, default=200)
    ap.add_argument("--pca", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.n_valid, a.oob_estimators = 2_000, 300, 50

    import cleanlab
    import sklearn
    from cleanlab.filter import find_label_issues as cl_find_label_issues
    from sklearn.metrics import average_precision_score
    from sklearn.tree import DecisionTreeClassifier

    from thresher.data.table import Table
    from thresher.scores.labels import find_label_issues
    from thresher.scores.data_oob import data_oob
    from thresher.scores.knn_shapley import knn_shapley
    from thresher.signals.oof import out_of_fold_probs

    X, y, y_true, Xv, yv = load(a.n, a.n_valid, a.noise, a.seed, a.pca)
    flipped = y != y_true
    print(f"Fashion-MNIST: n={a.n} training rows (random subsample), PCA-{a.pca} features, "
          f"{flipped.sum()} labels flipped ({flipped.mean():.1%}); clean validation n={a.n_valid}")
    print(f"cleanlab {cleanlab.__version__}, scikit-learn {sklearn.__version__}")
    t0 = time.perf_counter()
    P, _ = out_of_fold_probs(Table(columns={"label": y}, matrices={"embeddings": X}), n_splits=5, seed=a.seed)
    print(f"out-of-fold probabilities (5-fold scaled logistic regression): {time.perf_counter() - t0:.1f} s, "
          f"OOF accuracy vs given labels {np.mean(P.argmax(1) == y):.3f}")
    self_conf = P[np.arange(a.n), y]
    rows: list[tuple[str, np.ndarray, np.ndarray, float]] = []

    def by_value(name: str, values: np.ndarray, seconds: float) -> None:
        n_flag = int(round(a.noise * a.n))
        flags = np.zeros(a.n, dtype=bool)
        flags[np.argsort(values, kind="stable")[:n_flag]] = True
        rows.append((name, flags, -values, seconds))

    t0 = time.perf_counter()
    ours = find_label_issues(y, P)
    t_ours = time.perf_counter() - t0
    rows.append(("thresher confident learning", ours.flags, ours.flags + (1 - self_conf), t_ours))
    t0 = time.perf_counter()
    theirs = cl_find_label_issues(y, P, filter_by="prune_by_noise_rate", n_jobs=1)
    t_cl = time.perf_counter() - t0
    rows.append(("cleanlab find_label_issues", theirs, theirs + (1 - self_conf), t_cl))
    by_value("self-confidence (bottom 10%)", self_conf, 0.0)
    t0 = time.perf_counter()
    v = knn_shapley(X, y, Xv, yv, k=a.k)
    by_value(f"KNN-Shapley k={a.k}, clean valid (bottom 10%)", v, time.perf_counter() - t0)
    t0 = time.perf_counter()
    v = knn_shapley(X, y, k=a.k)
    by_value(f"KNN-Shapley k={a.k}, self (bottom 10%)", v, time.perf_counter() - t0)
    t0 = time.perf_counter()
    v, _ = data_oob(X, y, DecisionTreeClassifier(max_features="sqrt"), n_estimators=a.oob_estimators, seed=a.seed)
    v = np.nan_to_num(v, nan=float(np.nanmean(v)))
    by_value(f"Data-OOB B={a.oob_estimators} (bottom 10%)", v, time.perf_counter() - t0)

    print(f"{'method':48s} {'n_flag':>6s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'AUPRC':>6s} {'time':>7s}")
    for name, flags, rank, sec in rows:
        p, r, f = prf(flags, flipped)
        ap_ = average_precision_score(flipped, rank)
        print(f"{name:48s} {int(flags.sum()):6d} {p:6.3f} {r:6.3f} {f:6.3f} {ap_:6.3f} {sec:6.2f}s")
    agree = (ours.flags == theirs).mean()
    print(f"thresher vs cleanlab flags: agreement {agree:.4f}, differing rows {(ours.flags != theirs).sum()}")


if __name__ == "__main__":
    main()
