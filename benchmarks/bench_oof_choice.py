"""Confident learning with the old default OOF model (logistic regression) vs the automatic choice.

Label-noise settings made offline: a 26-class tabular set from scikit-learn's
``make_classification`` (16 features, 3 Gaussian clusters per class, so the classes are
not linearly separable, like UCI "letter") and scikit-learn's bundled digits (10 classes,
64 features), wine (3 classes, 178 rows) and breast cancer (2 classes, 569 rows). A fraction of labels is flipped uniformly to another class. For every model
(the old default ``logreg``, each candidate fixed, a random forest, and ``auto``) the script computes
5-fold out-of-fold probabilities with ``thresher.signals.oof.out_of_fold_probs`` and
flags rows with confident learning (``find_label_issues``, prune_by_noise_rate), then
reports the flagged count and precision / recall / F1 against the true flips.

Peer, same data: the model choice is re-run with scikit-learn's ``cross_val_score``
(``scoring="neg_log_loss"``) on the same subsample and folds; printed are the choice
agreement and the log-loss difference per candidate (tree seeds differ between the two,
so tree losses agree only approximately). A random forest is run fixed beside the
candidates for comparison. The ratio printed is the wall
time of ``auto`` (choice + OOF) over the old default's OOF.

    python benchmarks/bench_oof_choice.py            # 26 classes, n = 20,000, 750 flips; bundled sets, 5% flips
    python benchmarks/bench_oof_choice.py --quick    # 26 classes, n = 4,000, 150 flips; bundled sets
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)


def synthetic26(n: int, n_flips: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (features, noisy labels, true labels)."""
    from sklearn.datasets import make_classification

    X, y_true = make_classification(
        n_samples=n, n_features=16, n_informative=16, n_redundant=0, n_classes=26,
        n_clusters_per_class=3, class_sep=3.0, flip_y=0.0, random_state=seed,
    )
    return X, _flip(y_true, n_flips, 26, seed), y_true


def bundled(name: str, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (features, noisy labels, true labels) of a dataset bundled with scikit-learn."""
    from sklearn import datasets

    X, y_true = getattr(datasets, f"load_{name}")(return_X_y=True)
    n_classes = len(np.unique(y_true))
    return X.astype(np.float64), _flip(y_true, int(round(frac * len(y_true))), n_classes, seed), y_true


def _flip(y_true: np.ndarray, n_flips: int, n_classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    y = y_true.copy()
    idx = rng.choice(len(y), size=n_flips, replace=False)
    y[idx] = (y[idx] + rng.integers(1, n_classes, size=n_flips)) % n_classes
    return y


def prf(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & truth).sum())
    p = tp / max(int(flags.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def peer_choice(X: np.ndarray, y: np.ndarray, names: list[str], max_rows: int, seed: int) -> dict[str, float]:
    """Re-run the choice with scikit-learn's cross_val_score on the same subsample and folds."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

    from thresher.signals.oof import make_estimator

    idx = np.arange(len(y))
    if len(y) > max_rows:
        idx = np.sort(train_test_split(idx, train_size=max_rows, stratify=y, random_state=seed)[0])
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    out = {}
    for nm in names:
        est = make_estimator(nm)
        if nm in ("random_forest", "extra_trees"):
            est.set_params(random_state=seed)
        s = cross_val_score(est, X[idx], y[idx], cv=cv, scoring="neg_log_loss", error_score="raise")
        out[nm] = float(-s.mean())
    return out


def run(name: str, X: np.ndarray, y: np.ndarray, y_true: np.ndarray, seed: int, max_rows: int) -> None:
    from thresher.data.table import Table
    from thresher.scores.labels import find_label_issues
    from thresher.signals.oof import CANDIDATES, choose_estimator, out_of_fold_probs

    t = Table(columns={"label": y}, matrices={"embeddings": X})
    truth = y != y_true
    print(f"\n== {name}: n={len(y)}, d={X.shape[1]}, classes={len(np.unique(y_true))}, flipped={int(truth.sum())}")
    t0 = time.perf_counter()
    choice = choose_estimator(t, max_rows=max_rows, seed=seed)
    t_choice = time.perf_counter() - t0
    brier_pick = min(choice.brier, key=lambda k: choice.brier[k])
    peer = peer_choice(X, y, list(CANDIDATES), max_rows, seed)
    peer_best = min(peer, key=lambda k: peer[k])
    print(f"choice on {choice.n_rows} rows in {t_choice:.1f} s: {choice.name}; cross-validated log-loss "
          + ", ".join(f"{k}={v:.3f}" for k, v in choice.log_loss.items())
          + f"; Brier {', '.join(f'{k}={v:.3f}' for k, v in choice.brier.items())} (-> {brier_pick})")
    print(f"peer (sklearn cross_val_score, neg_log_loss): {peer_best}; agree={peer_best == choice.name}; "
          + ", ".join(f"|diff| {k}={abs(peer[k] - choice.log_loss[k]):.2g}" for k in CANDIDATES))
    print(f"{'model':<30}{'flagged':>8}{'precision':>10}{'recall':>8}{'F1':>7}{'OOF s':>8}{'OOF acc':>9}")
    rows: dict[str, tuple[int, float, float, float, float, float]] = {}
    P_models = {}
    for model in ["auto", *CANDIDATES, "random_forest"]:
        t0 = time.perf_counter()
        P, _ = out_of_fold_probs(t, model, n_splits=5, seed=seed)  # "auto" = the default path, choice included
        elapsed = time.perf_counter() - t0
        P_models[model] = P
        flags = find_label_issues(y, P).flags
        rows[model] = (int(flags.sum()), *prf(flags, truth), elapsed, float((P.argmax(1) == y_true).mean()))
    assert np.allclose(P_models["auto"], P_models[choice.name]), "auto must equal its chosen model"
    labels = {"logreg": "logreg (old default)", "auto": f"auto, log-loss (-> {choice.name})"}
    for model in [*CANDIDATES, "random_forest", "auto"]:
        print(f"{labels.get(model, model):<30}" + "{:>8}{:>10.3f}{:>8.3f}{:>7.3f}{:>8.1f}{:>9.3f}".format(*rows[model]))
    b = rows[brier_pick]
    print(f"{'auto, Brier (-> ' + brier_pick + ')':<30}" + "{:>8}{:>10.3f}{:>8.3f}{:>7.3f}{:>8.1f}{:>9.3f}".format(
        b[0], b[1], b[2], b[3], b[4] + t_choice, b[5]))
    print(f"wall-time ratio auto (choice + OOF) / logreg OOF: {rows['auto'][4] / rows['logreg'][4]:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="rows of the 26-class set")
    ap.add_argument("--flips", type=int, default=750, help="labels flipped in the 26-class set")
    ap.add_argument("--noise", type=float, default=0.05, help="fraction flipped in the bundled sets")
    ap.add_argument("--max-rows", type=int, default=2000, help="subsample for the model choice")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.flips = 4_000, 150
    from threadpoolctl import threadpool_limits

    print(f"load average {os.getloadavg()[0]:.2f}; BLAS/OpenMP threads 1")
    with threadpool_limits(1):
        run("26-class make_classification", *synthetic26(a.n, a.flips, a.seed), a.seed, a.max_rows)
        for name in ("digits", "wine", "breast_cancer"):
            run(f"{name} (bundled)", *bundled(name, a.noise, a.seed), a.seed, a.max_rows)


if __name__ == "__main__":
    main()
