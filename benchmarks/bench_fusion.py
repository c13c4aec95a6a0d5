"""Prototypicality, score fusion, ODiS and DEITA: agreement with plain peers, wall times, and subset accuracy.

Part 1, agreement and speed (synthetic blobs, n rows x 64 dims):

* ``prototypicality``: thresher's scorer vs scikit-learn ``KMeans`` (same seed) + scipy
  ``cdist`` brute force on the normalised rows; max |difference| and time ratio;
* ``odis``: the PCA components of 5 correlated score columns; the largest off-diagonal
  correlation (peer: ``numpy.corrcoef``) and the selector's time;
* ``deita``: the bisection (30 walks) to fill k rows; one blocked walk vs a naive row-by-row
  walk with scipy ``cdist`` at the found tau (identical rows?, time ratio) and the smallest
  pairwise cosine distance of the kept rows (scipy ``pdist``) vs tau.

Part 2, subsets on digits (bundled; 1,797 rows, a stratified 70/30 train/test split per
seed): scores from 5-fold OOF probabilities (margin, entropy), prototypicality and kNN
distance; fused by z-score mean, Borda rank mean and Meta-rater weights (inner validation
split of the training rows only); subsets at keep 0.1 / 0.3 from top-k of each fused
score, ODiS, DEITA over the z-fused order, prototypicality easy and hard, and random.
Scaled logistic regression is trained on each subset and scored on the test rows.
Reported: mean accuracy and the paired difference vs random over seeds with a t-interval
over seeds only (test-sample variance is not counted here: an indication, not a verdict).

    python benchmarks/bench_fusion.py            # n = 60,000 (part 1), 5 seeds (part 2)
    python benchmarks/bench_fusion.py --quick    # n = 10,000, 3 seeds
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)


def blobs(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(50, d))
    return centers[rng.integers(50, size=n)] + rng.normal(size=(n, d))


def part1(n: int, seed: int) -> None:
    from scipy.spatial.distance import cdist, pdist
    from sklearn.cluster import KMeans

    from thresher.data.table import Table
    from thresher.scores.prototypicality import Prototypicality
    from thresher.select.base import Budget
    from thresher.select.deita import DEITA, diverse_walk
    from thresher.select.odis import ODiS, decorrelate
    from thresher.select.score_matrix import oriented_scores, standardise

    X = blobs(n, 64, seed)
    t = Table(matrices={"embeddings": X})
    print(f"\n== part 1: n={n}, d=64")
    t0 = time.perf_counter()
    scorer = Prototypicality(n_clusters=50, n_init=1)
    s = scorer.score(t, seed=seed)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    rs = int(np.random.default_rng(seed).integers(2**31 - 1))  # the scorer draws its k-means seed this way
    km = KMeans(n_clusters=50, n_init=1, random_state=rs).fit(U)
    C = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
    ref = cdist(U, C, "cosine").min(axis=1)
    t_peer = time.perf_counter() - t0
    print(f"prototypicality (50 clusters): {t_ours:.1f} s; peer KMeans + cdist {t_peer:.1f} s; "
          f"ratio {t_ours / t_peer:.2f}; max |diff| {np.abs(s - ref).max():.2e}")

    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    S = np.column_stack([base[:, 0], base[:, 0] + 0.5 * rng.normal(size=n), base[:, 1],
                         base[:, 0] - base[:, 1] + 0.3 * rng.normal(size=n), rng.normal(size=n)])
    cols = {f"score.c{j}": S[:, j] for j in range(5)}
    ts = Table(columns=cols, matrices={"embeddings": X})
    Z = standardise(oriented_scores(ts, list(cols), [True] * 5, "bench"))
    in_corr = np.abs(np.corrcoef(Z, rowvar=False) - np.eye(5)).max()
    dec = decorrelate(Z)
    out_corr = np.abs(np.corrcoef(dec.components, rowvar=False) - np.eye(5)).max()
    k = n // 10
    t0 = time.perf_counter()
    ODiS(by=list(cols), higher_is_better=[True] * 5).select(ts, Budget(n=k))
    print(f"odis (5 columns, k={k}): {time.perf_counter() - t0:.2f} s; max |off-diagonal corr| "
          f"inputs {in_corr:.2f}, components {out_corr:.1e}")

    m = min(n, 20_000)
    td = Table(columns={"score.c0": S[:m, 0]}, matrices={"embeddings": X[:m]})
    k = m // 10
    sel_obj = DEITA(by="score.c0")
    t0 = time.perf_counter()
    sel = sel_obj.select(td, Budget(n=k))
    t_bis = time.perf_counter() - t0
    order = np.argsort(-S[:m, 0], kind="stable")
    Um = U[:m]
    t0 = time.perf_counter()
    walk = diverse_walk(Um, order, sel_obj.tau_, k)
    t_walk = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive: list[int] = []
    for r in order.tolist():
        if not naive or cdist(X[[r]], X[naive], "cosine").min() >= sel_obj.tau_ - 1e-12:
            naive.append(r)
            if len(naive) == k:
                break
    t_naive = time.perf_counter() - t0
    dmin = pdist(X[:m][td.positions(sel.row_ids)], "cosine").min()
    print(f"deita (n={m}, k={k}): bisection {t_bis:.1f} s, tau={sel_obj.tau_:.4f}; one blocked walk {t_walk:.2f} s vs "
          f"naive {t_naive:.2f} s (ratio {t_walk / t_naive:.2f}); identical={walk.tolist() == naive}; "
          f"min pairwise distance {dmin:.4f} >= tau: {dmin >= sel_obj.tau_ - 1e-12}")


def part2(seeds: list[int], fractions: list[float]) -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from thresher.data.table import Table
    from thresher.scores.density import KNNDistance
    from thresher.scores.fusion import Fuse
    from thresher.scores.prototypicality import Prototypicality
    from thresher.scores.uncertainty import Entropy, Margin
    from thresher.select.base import Budget
    from thresher.select.deita import DEITA
    from thresher.select.odis import ODiS
    from thresher.select.random import RandomSelector
    from thresher.select.topk import TopK
    from thresher.signals.oof import out_of_fold_probs

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64)
    cols = ["score.margin", "score.entropy", "score.prototypicality", "score.knn_distance"]
    acc: dict[tuple[str, float], list[float]] = {}
    weights = []
    t_learn = []
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        t = Table(np.arange(len(tr)), columns={"label": y[tr]}, matrices={"embeddings": X[tr]})
        P, _ = out_of_fold_probs(t, "logreg", n_splits=5, seed=seed)
        t = t.with_matrix("probs", P)
        t = t.with_columns({"score.margin": Margin().score(t), "score.entropy": Entropy().score(t),
                            "score.prototypicality": Prototypicality(n_clusters=10).score(t, seed=seed),
                            "score.knn_distance": KNNDistance(k=5).score(t)})
        for method in ("zscore", "rank", "learned"):
            f = Fuse(columns=cols, method=method)
            t0 = time.perf_counter()
            t = t.with_column(f"score.fuse_{method}", f.score(t, seed=seed))
            if method == "learned":
                t_learn.append(time.perf_counter() - t0)
                weights.append([f.weights_[c] for c in cols])
        arms = {
            "random": RandomSelector(),
            "fuse zscore top": TopK(by="score.fuse_zscore"),
            "fuse rank top": TopK(by="score.fuse_rank"),
            "fuse learned top": TopK(by="score.fuse_learned"),
            "odis": ODiS(by=cols),
            "deita (z order)": DEITA(by="score.fuse_zscore"),
            "proto easy": TopK(by="score.prototypicality", largest=False),
            "proto hard": TopK(by="score.prototypicality"),
        }
        for frac in fractions:
            for name, sel in arms.items():
                rows = t.positions(sel.select(t, Budget(fraction=frac), seed=seed).row_ids)
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
                if len(np.unique(y[tr][rows])) < 10:
                    a = float("nan")  # a subset missing a class: reported as NaN rather than hidden
                else:
                    a = float(model.fit(X[tr][rows], y[tr][rows]).score(X[te], y[te]))
                acc.setdefault((name, frac), []).append(a)
    from scipy.stats import t as student

    print(f"\n== part 2: digits, {len(seeds)} seeds, scaled logistic regression; accuracy and paired diff vs random "
          "(95% t-interval over seeds)")
    w = np.array(weights)
    print("Meta-rater weights (mean over seeds): " + ", ".join(f"{c}={v:+.2f}" for c, v in zip(cols, w.mean(0)))
          + f"; {np.mean(t_learn):.1f} s per fit (30 proxies)")
    for frac in fractions:
        base = np.array(acc[("random", frac)])
        print(f"keep {frac}: random {base.mean():.4f}")
        for name in [a for (a, f) in acc if f == frac and a != "random"]:
            v = np.array(acc[(name, frac)])
            d = (v - base)[~np.isnan(v)]
            missing = f"  ({int(np.isnan(v).sum())} seed(s) missing a class, left out)" if np.isnan(v).any() else ""
            if len(d) < 2:
                print(f"  {name:<18} too few seeds with every class{missing}")
                continue
            half = student.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            print(f"  {name:<18} {np.nanmean(v):.4f}  diff {np.mean(d):+.4f} [{np.mean(d) - half:+.4f}, "
                  f"{np.mean(d) + half:+.4f}]{missing}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.seeds = 10_000, 3
    from threadpoolctl import threadpool_limits

    print(f"load average {os.getloadavg()[0]:.2f}; BLAS/OpenMP threads 1")
    with threadpool_limits(1):
        part1(a.n, 0)
        part2(list(range(a.seeds)), [0.1, 0.3])


if __name__ == "__main__":
    main()
