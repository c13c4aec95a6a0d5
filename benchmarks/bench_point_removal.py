"""Point removal on Fashion-MNIST (OpenDataVal "remove_high_low"): drop the highest/lowest valued rows.

For each value method, remove the highest-valued and, separately, the lowest-valued
10-50% of the training rows, retrain a scikit-learn model (scaled logistic regression)
on the rest and report test accuracy; random removal (mean over seeds) is the baseline.
A good value ranking makes accuracy fall fast when the high-valued rows go, and stay
up (or rise, with noisy labels) when the low-valued rows go.

Data: a random subsample of the training split with ``--noise`` of the labels flipped
(10% by default, as in OpenDataVal's experiments), PCA-50 features of the pixels; a clean
validation set (for KNN-Shapley) and a separate test set, both from the test split.

    python benchmarks/bench_point_removal.py             # n = 5,000
    python benchmarks/bench_point_removal.py --quick     # n = 1,000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)


def load(n: int, n_valid: int, n_test: int, noise: float, seed: int, n_components: int):
    from sklearn.decomposition import PCA

    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist

    train, test = split_table(load_fashion_mnist())
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(train.n_rows, size=n, replace=False))
    rest = rng.permutation(test.n_rows)
    va, te = np.sort(rest[:n_valid]), np.sort(rest[n_valid : n_valid + n_test])
    px = lambda t, idx: np.asarray(t.matrix("embeddings")[idx], dtype=np.float64)  # noqa: E731
    pca = PCA(n_components=n_components, random_state=seed).fit(px(train, tr))
    y = np.asarray(train.labels)[tr].astype(np.int64)
    flip = rng.random(n) < noise
    y[flip] = (y[flip] + rng.integers(1, 10, size=flip.sum())) % 10
    ly = lambda t, idx: np.asarray(t.labels)[idx].astype(np.int64)  # noqa: E731
    return (pca.transform(px(train, tr)), y, pca.transform(px(test, va)), ly(test, va),
            pca.transform(px(test, te)), ly(test, te))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--n-valid", type=int, default=1_000)
    ap.add_argument("--n-test", type=int, default=3_000)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--oob-estimators", type=int, default=200)
    ap.add_argument("--pca", type=int, default=50)
    ap.add_argument("--random-seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.n_valid, a.n_test, a.oob_estimators, a.random_seeds = 1_000, 300, 1_000, 50, 2

    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from thresher.data.table import Table
    from thresher.scores.labels import find_label_issues
    from thresher.scores.data_oob import data_oob
    from thresher.scores.knn_shapley import knn_shapley
    from thresher.signals.oof import out_of_fold_probs

    X, y, Xv, yv, Xt, yt = load(a.n, a.n_valid, a.n_test, a.noise, a.seed, a.pca)
    print(f"Fashion-MNIST: n={a.n} (subsample), {a.noise:.0%} labels flipped, PCA-{a.pca}; valid {a.n_valid}, "
          f"test {a.n_test}; model: scaled logistic regression; scikit-learn {sklearn.__version__}")

    def accuracy(keep: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        return float(model.fit(X[keep], y[keep]).score(Xt, yt))

    t0 = time.perf_counter()
    P, _ = out_of_fold_probs(Table(columns={"label": y}, matrices={"embeddings": X}), n_splits=5, seed=a.seed)
    values = {
        "self-confidence": P[np.arange(a.n), y],
        "label quality (CL margin)": find_label_issues(y, P).margin,
    }
    values[f"KNN-Shapley k={a.k} (valid)"] = knn_shapley(X, y, Xv, yv, k=a.k)
    oob, _ = data_oob(X, y, DecisionTreeClassifier(max_features="sqrt"), n_estimators=a.oob_estimators, seed=a.seed)
    values[f"Data-OOB B={a.oob_estimators}"] = np.nan_to_num(oob, nan=float(np.nanmean(oob)))
    print(f"values computed in {time.perf_counter() - t0:.1f} s; full-data accuracy {accuracy(np.arange(a.n)):.4f}")
    fractions = [0.1, 0.2, 0.3, 0.4, 0.5]
    header = f"{'method':34s} {'removed':8s} " + " ".join(f"{f:>7.0%}" for f in fractions)
    print(header)
    rng = np.random.default_rng(a.seed)
    rand = np.zeros(len(fractions))
    for _ in range(a.random_seeds):
        perm = rng.permutation(a.n)
        rand += [accuracy(np.sort(perm[int(round(f * a.n)) :])) for f in fractions]
    rand /= a.random_seeds
    print(f"{'random (mean of ' + str(a.random_seeds) + ' seeds)':34s} {'random':8s} "
          + " ".join(f"{v:7.4f}" for v in rand))
    for name, v in values.items():
        order = np.argsort(v, kind="stable")  # lowest value first
        for which, ranked in (("highest", order[::-1]), ("lowest", order)):
            accs = [accuracy(np.sort(ranked[int(round(f * a.n)) :])) for f in fractions]
            print(f"{name:34s} {which:8s} " + " ".join(f"{x:7.4f}" for x in accs))


if __name__ == "__main__":
    main()
