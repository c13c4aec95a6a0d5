"""Does ``auto`` beat random with honest evidence? Fashion-MNIST prune-and-train, paired.

Trains the reference MLP (784-128-10, Adam, as in ``bench_dynamics_prune.py``) on the
rows each arm keeps, at each keep fraction and seed, and reports per (arm, fraction) the
paired difference against random, against RS2 (a fixed-compute baseline, not a subset)
and against the full data, with 95% intervals counting seed and test-sample variance and
Holm-corrected verdicts (``thresher.evaluate.paired.compare``). Arms: ``auto`` (proxy =
the same MLP; successive halving (eta 4) over 1/2/10 epochs on a 20% inner split of the
training rows), CCS over EL2N, D2 over EL2N, facility location, prototypicality-easy and
CCS over the z-score fusion of EL2N, forgetting and AUM (the last two only when the
``prototypicality`` / ``fuse`` scorers are registered), RS2, random, full data.

Graph selectors (facility location, D2) run on the first 64 principal components of the
training pixels, with one kNN graph built once and reused (they are deterministic given
the graph). ``auto``'s grid leaves out the graph selectors and k-center to bound its cost
(``--auto-geometric`` puts facility location, k-center and D2 back).

Everything is stored in ``--run-dir`` as it finishes (scores, selections, evaluation
records, per-test-row predictions, auto evidence), fraction by fraction, so a killed run
resumes and ``thresher report`` draws the paired forest plots.

    python benchmarks/bench_auto.py                    # 60k rows, 5 seeds, 0.1/0.2/0.3/0.5
    python benchmarks/bench_auto.py --quick            # 3,000 rows, 2 seeds, 2 epochs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


class OnMatrix:
    """Run a selector with the ``embeddings`` swapped for another matrix (here: PCA-64)."""

    def __init__(self, selector, matrix: str) -> None:
        self.selector = selector
        self.matrix = matrix

    def select(self, table, budget, *, seed=None):
        return self.selector.select(table.with_matrix("embeddings", table.matrix(self.matrix)), budget, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fractions", type=str, default="0.1,0.3,0.5,0.2", help="run in this order")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eta", type=int, default=4)
    ap.add_argument("--auto-geometric", action="store_true")
    ap.add_argument("--arms", type=str, default="", help="comma-separated subset of arms to run (default all)")
    ap.add_argument("--run-dir", type=str, default="runs/bench_auto")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.epochs, args.seeds = 3000, 3, 2

    import torch
    from sklearn.decomposition import PCA

    from thresher._registry import SCORERS
    from thresher.data.datasets import load_fashion_mnist, split_table
    from thresher.evaluate.auto import Auto
    from thresher.evaluate.harness import SelectorArm, evaluate
    from thresher.evaluate.paired import compare
    from thresher.evaluate.rs2 import RS2Arm
    from scipy.special import softmax

    from thresher.evaluate.torch_models import MLPModel, predict_logits, train_classifier
    from thresher.scores.dynamics import AUM, EL2N, Forgetting
    from thresher.select.ccs import CCS
    from thresher.select.d2 import D2Pruning
    from thresher.select.graph import build_graph
    from thresher.select.random import RandomSelector
    from thresher.select.submodular import FacilityLocation
    from thresher.select.topk import TopK
    from thresher.signals.recorder import TrainingRecorder, attach_dynamics
    from thresher.store.atomic import write_json
    from thresher.store.rundir import RunDir

    torch.set_num_threads(args.threads)
    t = load_fashion_mnist(n_train=args.n_train)
    train, test = split_table(t)
    train = train.without([n for n in ("pixels",) if train.has(n)])
    test = test.without([n for n in ("pixels",) if test.has(n)])
    run = RunDir(args.run_dir)
    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = list(range(args.seeds))
    params = {k: v for k, v in vars(args).items() if k not in ("seeds", "fractions")}
    run.open(train, {"bench": "auto", **params, "seeds": seeds, "fractions": fractions, "dataset": "fashion-mnist"})
    log_path = Path(args.run_dir) / "bench_log.jsonl"

    def note(**kw) -> None:
        kw["time"] = time.strftime("%H:%M:%S")
        print(json.dumps(kw), flush=True)
        with open(log_path, "a") as fh:
            fh.write(json.dumps(kw) + "\n")

    y = train.labels.astype(np.int64)
    X = train.embeddings
    model = MLPModel(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, n_classes=10, threads=args.threads)
    # ---- scores (cached in the run directory)
    t0 = time.perf_counter()
    if not run.has_score("score.el2n"):
        # EL2N of Paul et al. (3 seeds, after 2 epochs); the same as data_diet_signals' diet.el2n without its
        # per-example gradients (GraNd), which this benchmark does not use
        el2n = np.empty((len(y), 3))
        for j, s in enumerate(np.random.SeedSequence(0).generate_state(3).tolist()):
            net = train_classifier(X, y, epochs=2, batch_size=args.batch_size, lr=args.lr, seed=int(s), n_classes=10,
                                   threads=args.threads)
            p = softmax(predict_logits(net, X), axis=1)
            p[np.arange(len(y)), y] -= 1.0
            el2n[:, j] = np.linalg.norm(p, axis=1)
        run.write_scores(train.row_id, {"score.el2n": EL2N().score(train.with_matrix("diet.el2n", el2n))})
    if not run.has_score("score.aum"):
        rec = TrainingRecorder(run.path, row_ids=train.row_id, n_classes=10)
        train_classifier(X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=0, recorder=rec,
                         row_ids=train.row_id, n_classes=10, threads=args.threads)
        dyn = attach_dynamics(train, run.path)
        run.write_scores(train.row_id, {"score.forgetting": Forgetting().score(dyn), "score.aum": AUM().score(dyn)})
    note(step="scores el2n/forgetting/aum", seconds=time.perf_counter() - t0)
    train = run.attach_scores(train)
    t0 = time.perf_counter()
    Z = PCA(n_components=64, random_state=0, svd_solver="randomized").fit_transform(X)
    train = train.with_matrix("pca", Z)
    note(step="pca-64", seconds=time.perf_counter() - t0)
    extra = {}
    if "prototypicality" in SCORERS and not run.has_score("score.prototypicality"):
        t0 = time.perf_counter()
        scorer = SCORERS.get("prototypicality")()
        extra["score.prototypicality"] = scorer.score(train.with_matrix("embeddings", Z), seed=0)
        note(step="prototypicality", seconds=time.perf_counter() - t0, params={k: v for k, v in vars(scorer).items() if not k.endswith("_")})
    if "fuse" in SCORERS and not run.has_score("score.fuse_zscore"):
        fuse = SCORERS.get("fuse")(columns=["score.el2n", "score.forgetting", "score.aum"], method="zscore")
        extra["score.fuse_zscore"] = fuse.score(train, seed=0)
    if extra:
        run.write_scores(train.row_id, extra)
        train = run.attach_scores(train)
    t0 = time.perf_counter()
    graph = build_graph(Z, 20, row_ids=train.row_id)
    note(step="knn graph (20-NN on PCA-64)", seconds=time.perf_counter() - t0)

    score_cols = tuple(c for c in ("score.el2n", "score.forgetting", "score.aum", "score.prototypicality") if train.has(c))
    grid = {"betas": (0.0, 0.1), "geometric": args.auto_geometric, "score_columns": score_cols,
            "exclude": ("deita",) + (("kcenter",) if not args.auto_geometric else ())}
    auto = Auto(proxy=model, eta=args.eta, n_rungs=3, grid=grid)
    auto_table_cols = [c for c in train.column_names if c.startswith("score.")]
    note(step="auto grid", score_columns=auto_table_cols, grid={k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()})
    arms = [
        SelectorArm("random", RandomSelector(), run),
        SelectorArm("auto", auto, run),
        RS2Arm("rs2"),
        SelectorArm("ccs-el2n", CCS(by="score.el2n", beta=0.1, hardest="high"), run),
        SelectorArm("d2-el2n", OnMatrix(D2Pruning(by="score.el2n", n_neighbors=20, graph=graph), "pca"), run),
        SelectorArm("facility_location", OnMatrix(FacilityLocation(graph=graph), "pca"), run),
    ]
    if train.has("score.prototypicality"):
        arms.append(SelectorArm("proto-easy", TopK(by="score.prototypicality", largest=False), run))
    if train.has("score.fuse_zscore"):
        arms.append(SelectorArm("ccs-fuse", CCS(by="score.fuse_zscore", beta=0.1, hardest="high"), run))
    if args.arms:
        keep = set(args.arms.split(","))
        arms = [a for a in arms if a.name in keep]
    for f in fractions:
        t0 = time.perf_counter()
        for a in arms:
            evaluate(train, test, [a], [f], seeds=seeds, model=model, run_dir=run, include_full=False)
            note(step="arm done", arm=a.name, fraction=f, seconds=time.perf_counter() - t0)
            if a.name == "random":  # the full-data runs next: every comparison needs random and full
                evaluate(train, test, [a], [f], seeds=seeds, model=model, run_dir=run, include_full=True)
                note(step="full done", seconds=time.perf_counter() - t0)
        note(step="fraction done", fraction=f, seconds=time.perf_counter() - t0)
    records = run.read_evaluation()
    # the unit of auto's cost: one full-data training run, timed in the harness under the same load
    # (timings live in the manifest, not in evaluation.parquet, so data files stay byte-identical)
    full_times = [a["seconds"] for name, a in run.artifacts().items()
                  if name.startswith("evaluation/arm=full__") and a.get("seconds") is not None]
    full_seconds = float(np.median(full_times))
    out = {"full_seconds": full_seconds}
    for base in ("random", "rs2", "full"):
        c = compare(records, baseline=base, run_dir=run)
        out[base] = c.to_dict(orient="records")
        print(f"\npaired difference vs {base} (accuracy points x100, 95% CI, Holm verdict)")
        for r in c.itertuples():
            print(f"  {r.arm:18s} {r.fraction:4g}  {100 * r.mean_diff:+6.2f} [{100 * r.ci_low:+6.2f}, {100 * r.ci_high:+6.2f}]  {r.verdict}")
    ev = sorted((Path(args.run_dir) / "auto").glob("*.json"))
    costs = []
    for p in ev:
        e = json.loads(p.read_text())
        costs.append({"key": p.stem, "chosen": e["chosen"], "seconds": e["seconds"], "x_full_run": e["seconds"] / full_seconds,
                      "proxy_row_epochs_x_full": e.get("proxy_cost_vs_full_run")})
    out["auto_costs"] = costs
    for c in costs:
        print(f"  auto {c['key']}: chose {c['chosen']}, {c['seconds']:.0f} s = {c['x_full_run']:.1f}x one full-data run "
              f"(proxy training {c['proxy_row_epochs_x_full']:.2f}x in row-epochs)")
    write_json(Path(args.run_dir) / "bench_auto_summary.json", out)


if __name__ == "__main__":
    main()
