"""Data Diet prune-and-train on Fashion-MNIST, scaled to a CPU.

Scores the training rows with EL2N and GraNd (short runs over several seeds, taken at
an early epoch) and with forgetting events and AUM (one fully recorded training run),
then trains the reference MLP on the rows each method keeps, at keep fractions
0.1/0.3/0.5/0.7 over 3 seeds, next to static random, RS2 (a fresh random subset each
epoch) and CCS over EL2N, with full-data accuracy as the reference line. Hard examples
are kept (high EL2N/GraNd/forgetting, low AUM), as in Paul et al. (2021).

Everything is stored in ``--run-dir`` (scores, dynamics, selections, evaluation
records), so an interrupted run resumes and ``thresher report`` draws the curves.

    python benchmarks/bench_dynamics_prune.py --n-train 10000 --epochs 5
    python benchmarks/bench_dynamics_prune.py --quick
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=60000, help="training rows used (the test split is always 10k)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of every reference training run")
    ap.add_argument("--early-epochs", type=int, default=2, help="epoch at which EL2N/GraNd are taken")
    ap.add_argument("--score-seeds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fractions", type=str, default="0.1,0.3,0.5,0.7")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run-dir", type=str, default="runs/bench_dynamics_prune")
    ap.add_argument("--quick", action="store_true", help="2,000 rows, 2 epochs, 1 seed")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.epochs, args.early_epochs, args.seeds, args.score_seeds = 2000, 2, 1, 1, 1

    import torch

    from thresher.data.datasets import load_fashion_mnist, split_table
    from thresher.evaluate.harness import SelectorArm, evaluate, summarize
    from thresher.evaluate.rs2 import RS2Arm
    from thresher.evaluate.torch_models import MLPModel, train_classifier
    from thresher.scores.dynamics import AUM, EL2N, Forgetting, GraNd
    from thresher.select.ccs import CCS
    from thresher.select.topk import TopK
    from thresher.signals.data_diet import data_diet_signals
    from thresher.signals.recorder import TrainingRecorder, attach_dynamics
    from thresher.store.rundir import RunDir

    torch.set_num_threads(args.threads)
    t = load_fashion_mnist(n_train=args.n_train)
    train, test = split_table(t)
    train = train.without([n for n in ("pixels",) if train.has(n)])
    test = test.without([n for n in ("pixels",) if test.has(n)])
    run = RunDir(args.run_dir)
    params = {k: v for k, v in vars(args).items() if k not in ("seeds", "fractions")}
    params.update(seeds=list(range(args.seeds)), fractions=[float(f) for f in args.fractions.split(",")])
    run.open(train, {"bench": "dynamics_prune", **params})
    print(f"Fashion-MNIST: {train.n_rows} train / {test.n_rows} test rows; MLP 784-128-10, "
          f"{args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}, torch {torch.__version__}, "
          f"{args.threads} threads")

    y = train.labels.astype(np.int64)
    X = train.embeddings
    # ---- scores (cached in the run directory)
    t0 = time.perf_counter()
    if not run.has_score("score.el2n"):
        diet = data_diet_signals(X, y, n_seeds=args.score_seeds, epochs=args.early_epochs, batch_size=args.batch_size,
                                 lr=args.lr, seed=0, n_classes=10)
        scored = train.with_matrix("diet.el2n", diet["diet.el2n"]).with_matrix("diet.grand", diet["diet.grand"])
        run.write_scores(train.row_id, {"score.el2n": EL2N().score(scored), "score.grand": GraNd().score(scored)})
        print(f"EL2N + GraNd ({args.score_seeds} seeds at epoch {args.early_epochs}): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    if not run.has_score("score.aum"):
        rec = TrainingRecorder(run.path, row_ids=train.row_id, n_classes=10)
        train_classifier(X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=0, recorder=rec,
                         row_ids=train.row_id, n_classes=10)
        dyn = attach_dynamics(train, run.path)
        run.write_scores(train.row_id, {"score.forgetting": Forgetting().score(dyn), "score.aum": AUM().score(dyn)})
        print(f"forgetting + AUM (one recorded {args.epochs}-epoch run): {time.perf_counter() - t0:.1f} s")
    scores = run.read_scores()
    pos = train.positions(scores["row_id"].to_numpy())
    cols = {c: np.empty(train.n_rows) for c in ("score.el2n", "score.grand", "score.forgetting", "score.aum")}
    for c in cols:
        cols[c][pos] = scores[c].to_numpy()
    train = train.with_columns(cols)
    for a in ("score.el2n", "score.grand", "score.forgetting", "score.aum"):
        r = np.corrcoef(np.argsort(np.argsort(cols[a])), np.argsort(np.argsort(cols["score.el2n"])))[0, 1]
        print(f"  Spearman({a}, score.el2n) = {r:+.3f}")

    arms = [
        SelectorArm("el2n", TopK(by="score.el2n", largest=True), run),
        SelectorArm("grand", TopK(by="score.grand", largest=True), run),
        SelectorArm("forgetting", TopK(by="score.forgetting", largest=True), run),
        SelectorArm("aum", TopK(by="score.aum", largest=False), run),
        SelectorArm("ccs-el2n", CCS(by="score.el2n", beta=0.1, n_strata=50, hardest="high"), run),
        RS2Arm("rs2"),
    ]
    model = MLPModel(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, n_classes=10, threads=args.threads)
    fractions = [float(f) for f in args.fractions.split(",")]
    t0 = time.perf_counter()

    def progress(i: int, n: int) -> None:
        print(f"  [{i}/{n}] {time.perf_counter() - t0:.0f} s", flush=True)

    records = evaluate(train, test, arms, fractions, seeds=list(range(args.seeds)), model=model, run_dir=run,
                       on_progress=progress)
    summary = summarize(records)
    print(f"\nprune-and-train ({time.perf_counter() - t0:.0f} s for the training runs); test accuracy mean [95% CI]")
    arms_order = ["full", "random", "rs2", "el2n", "grand", "forgetting", "aum", "ccs-el2n"]
    header = "arm".ljust(12) + "".join(f"keep {f:<22g}" for f in fractions)
    print(header)
    for a in arms_order:
        row = a.ljust(12)
        for f in fractions if a != "full" else [1.0]:
            s = summary[(summary["arm"] == a) & (np.isclose(summary["fraction"], f))]
            if len(s):
                m, lo, hi = float(s["mean"].iloc[0]), float(s["ci_low"].iloc[0]), float(s["ci_high"].iloc[0])
                row += f"{m:.4f} [{lo:.4f}, {hi:.4f}]".ljust(27)
        print(row)
    print(f"\nrecords and curves stored in {Path(args.run_dir).resolve()} (thresher report reads them)")


if __name__ == "__main__":
    main()
