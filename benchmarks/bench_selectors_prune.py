"""Prune-and-train on Fashion-MNIST: diversity selectors against random at several keep fractions.

Data: ``--n-train`` Fashion-MNIST training images and ``--n-test`` test images, pixels
/ 255 projected to 64-d by PCA fitted on the training rows. Reference model: the
harness's ``logreg`` (standardised multinomial logistic regression, scikit-learn) on the
64-d features. Difficulty for D2 pruning: entropy of 5-fold out-of-fold
logistic-regression probabilities (``thresher.signals.oof``).

Arms: facility location (kNN graph, 10 neighbours, Gaussian kernel, lazy greedy), D2
pruning, k-center greedy, cluster-balanced (k-means, 20 clusters, proportional
allocation, random within), DPP greedy MAP (Gaussian kernel), and random. Greedy arms
(facility location, D2, k-center, DPP) produce an ordering whose prefixes are the
greedy solutions at smaller budgets, so each runs once per seed at the largest fraction.

Prints the harness summary (mean accuracy and 95% CI over seeds) and each arm's
difference from random. Run:
    .venv/bin/python benchmarks/bench_selectors_prune.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


class PrefixArm:
    """Run a greedy selector once per seed at the largest fraction; smaller budgets take its prefix."""

    def __init__(self, name: str, selector: Any, max_fraction: float) -> None:
        self.name = name
        self.selector = selector
        self.max_fraction = max_fraction
        self._cache: dict[int, np.ndarray] = {}
        self.select_seconds: dict[int, float] = {}

    def run(self, train: Any, test: Any, fraction: float, seed: int, model: Any) -> dict[str, Any]:
        from thresher.select.base import Budget

        if seed not in self._cache:
            t0 = time.perf_counter()
            self._cache[seed] = self.selector.select(train, Budget(fraction=self.max_fraction), seed=seed).row_ids
            self.select_seconds[seed] = time.perf_counter() - t0
        k = Budget(fraction=fraction).resolve(train.n_rows)
        pos = train.positions(self._cache[seed][:k])
        acc = model.fit_score(train.embeddings[pos], train.labels[pos], test.embeddings, test.labels, seed=seed)
        return {"accuracy": acc, "n_train": len(pos)}


def build_tables(n_train: int, n_test: int, dim: int) -> tuple[Any, Any]:
    from sklearn.decomposition import PCA

    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist

    full = load_fashion_mnist(n_train=n_train)
    train, test = split_table(full)
    train = train.take(np.arange(min(n_train, train.n_rows)))
    test = test.take(np.arange(min(n_test, test.n_rows)))
    pca = PCA(n_components=dim, random_state=0).fit(train.embeddings)
    train = train.with_matrix("embeddings", np.ascontiguousarray(pca.transform(train.embeddings)))
    test = test.with_matrix("embeddings", np.ascontiguousarray(pca.transform(test.embeddings)))
    return train, test


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=5_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="n_train=2000, n_test=1000, seeds 0 1")
    args = p.parse_args()
    if args.quick:
        args.n_train, args.n_test, args.seeds = 2000, 1000, [0, 1]

    from thresher.evaluate.harness import SelectorArm, evaluate, summarize
    from thresher.scores.uncertainty import Entropy
    from thresher.select.cluster import ClusterBalanced
    from thresher.select.d2 import D2Pruning
    from thresher.select.dpp import DPPGreedyMAP
    from thresher.select.kcenter import KCenterGreedy
    from thresher.select.submodular import FacilityLocation
    from thresher.signals.oof import out_of_fold_probs

    t0 = time.perf_counter()
    train, test = build_tables(args.n_train, args.n_test, args.dim)
    P, _ = out_of_fold_probs(train, "logreg", n_splits=5, seed=0)
    train = train.with_matrix("probs", P)
    train = train.with_column("score.entropy", Entropy().score(train))
    print(
        f"Fashion-MNIST: {train.n_rows} train / {test.n_rows} test rows, PCA {args.dim}-d;"
        f" model logreg; seeds {args.seeds}; setup {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    top = max(args.fractions)
    prefix_arms = [
        PrefixArm("facility_location", FacilityLocation(n_neighbors=10), top),
        PrefixArm("d2", D2Pruning(by="score.entropy", n_neighbors=10, gamma_forward=1.0, gamma_reverse=1.0), top),
        PrefixArm("kcenter", KCenterGreedy(), top),
        PrefixArm("dpp_map", DPPGreedyMAP(), top),
    ]
    arms: list[Any] = [*prefix_arms, SelectorArm("cluster_balanced", ClusterBalanced(n_clusters=20, allocation="proportional"))]
    t1 = time.perf_counter()
    records = evaluate(train, test, arms, args.fractions, seeds=args.seeds, model="logreg")
    print(f"evaluation took {time.perf_counter() - t1:.1f} s")
    for a in prefix_arms:
        secs = ", ".join(f"{v:.1f}" for v in a.select_seconds.values())
        print(f"  selection time of {a.name} at fraction {top} (per seed): {secs} s")
    summary = summarize(records)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    rnd = summary[summary["arm"] == "random"].set_index("fraction")["mean"]
    print("\nmean accuracy minus random (percentage points):")
    table = summary[~summary["arm"].isin(["random", "full"])].copy()
    table["vs_random_pp"] = [100 * (m - rnd[f]) for m, f in zip(table["mean"], table["fraction"])]
    pivot = table.pivot(index="arm", columns="fraction", values="vs_random_pp")
    print(pivot.to_string(float_format=lambda v: f"{v:+.2f}"))


if __name__ == "__main__":
    main()
