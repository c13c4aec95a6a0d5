"""Wall time and peak memory of a full Fashion-MNIST attribution matrix: 60,000 train x 10,000 test rows.

An MLP 784-``hidden``-10 is trained for ``--epochs`` epochs on all 60,000 training
images (checkpoint after each epoch); the TracIn matrix over all 10,000 test images
(projected gradients, ``--dim`` per checkpoint) is streamed block by block
(``--block-rows`` training rows) into ``<run>/attribution/tracin.npy``, then read back
for three reductions (mean over test rows, top-10 attributors per test row, max over
the ten test classes of the class mean, as LESS does). Peak RSS is the process's
``ru_maxrss`` of the attribution step, run in its own process after a first process has
stored the data arrays (memory-mapped by the second) and the checkpoints; the matrix
alone is 2.4 GB of float32 on disk.

Also printed: agreement of the streamed mean with ``tracin_scores`` (thresher's scorer
formula on the same projected gradients) on the first 2,000 training rows.

    python benchmarks/bench_attribution_scale.py            # 60,000 x 10,000
    python benchmarks/bench_attribution_scale.py --quick    # 6,000 x 1,000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(a: argparse.Namespace, run: Path) -> None:
    """Phase 1 (its own process): data arrays and checkpoints into the run directory."""
    import torch

    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist
    from thresher.evaluate.torch_models import train_classifier
    from thresher.signals.recorder import TrainingRecorder

    train, test = split_table(load_fashion_mnist())
    X = np.ascontiguousarray(train.embeddings[: a.n_train], dtype=np.float32)
    y = np.asarray(train.labels[: a.n_train], dtype=np.int64)
    np.save(run / "X.npy", X)
    np.save(run / "y.npy", y)
    np.save(run / "Xt.npy", np.ascontiguousarray(test.embeddings[: a.n_test], dtype=np.float32))
    np.save(run / "yt.npy", np.asarray(test.labels[: a.n_test], dtype=np.int64))
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    rec = TrainingRecorder(run, row_ids=np.arange(a.n_train), n_classes=10)
    train_classifier(X, y, epochs=a.epochs, lr=1e-3, hidden=a.hidden, recorder=rec, row_ids=np.arange(a.n_train),
                     n_classes=10, threads=a.threads)
    print(f"trained MLP 784-{a.hidden}-10 for {a.epochs} epochs on {a.n_train} rows: {time.perf_counter() - t0:.1f} s "
          f"(separate process; data loading is not part of the measured peak)")


def attribute(a: argparse.Namespace, run: Path) -> None:
    """Phase 2 (measured): the streamed TracIn matrix and its reductions; arrays are memory-mapped."""
    import torch

    torch.set_num_threads(a.threads)
    from thresher.scores.attribution import tracin_attribution
    from thresher.scores.tracin import tracin_scores
    from thresher.signals.checkpoint_grads import checkpoint_gradients
    from thresher.signals.recorder import load_checkpoints

    X, y = np.load(run / "X.npy", mmap_mode="r"), np.load(run / "y.npy")
    Xt, yt = np.load(run / "Xt.npy"), np.load(run / "yt.npy")
    ckpts = load_checkpoints(run, lambda: torch.nn.Sequential(torch.nn.Linear(784, a.hidden), torch.nn.ReLU(),
                                                              torch.nn.Linear(a.hidden, 10)))
    rss_before = rss_mib()
    t0 = time.perf_counter()
    A = tracin_attribution(ckpts, X, y, Xt, yt, lrs=[1e-3] * len(ckpts), dim=a.dim, seed=0,
                           path=run / "attribution" / "tracin.npy", block_rows=a.block_rows)
    t_a = time.perf_counter() - t0
    size = (run / "attribution" / "tracin.npy").stat().st_size / 2**30
    print(f"TracIn A {A.shape[0]} x {A.shape[1]} (dim {a.dim} x {len(ckpts)} checkpoints, blocks of {a.block_rows}): "
          f"{t_a:.1f} s, file {size:.2f} GiB; peak RSS {rss_mib():.0f} MiB (after imports and checkpoints: "
          f"{rss_before:.0f} MiB)")
    t0 = time.perf_counter()
    mean = A.mean()
    t_mean = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx, _ = A.top_k(10)
    t_top = time.perf_counter() - t0
    t0 = time.perf_counter()
    gmax = A.group_max(yt)
    t_g = time.perf_counter() - t0
    print(f"reductions read back block by block: mean {t_mean:.1f} s, top-10 per test row {t_top:.1f} s, "
          f"class-group max {t_g:.1f} s; peak RSS {rss_mib():.0f} MiB")
    m = min(2000, a.n_train)
    G = checkpoint_gradients(ckpts, np.vstack([X[:m], Xt]), np.concatenate([y[:m], yt]), dim=a.dim, seed=0)
    target = np.r_[np.zeros(m, bool), np.ones(len(yt), bool)]
    ref = tracin_scores(G, target, len(ckpts), [1e-3] * len(ckpts))[:m]
    rel = float(np.max(np.abs(mean[:m] - ref)) / np.max(np.abs(ref)))
    print(f"streamed mean vs tracin_scores on the first {m} rows: max |diff| / max |ref| = {rel:.2e}; "
          f"top-10 shape {idx.shape}, group-max finite {bool(np.isfinite(gmax).all())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=60_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--block-rows", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run", default=None)
    ap.add_argument("--phase", choices=["all", "prepare", "attribute"], default="all")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n_train, a.n_test = 6_000, 1_000
    run = Path(a.run) if a.run else Path(tempfile.mkdtemp(prefix="thresher_attr_scale_"))
    run.mkdir(parents=True, exist_ok=True)
    if a.phase == "prepare":
        return prepare(a, run)
    if a.phase == "attribute":
        return attribute(a, run)
    print(f"load average at start: {os.getloadavg()}")
    base = [sys.executable, __file__, "--run", str(run), "--n-train", str(a.n_train), "--n-test", str(a.n_test),
            "--epochs", str(a.epochs), "--hidden", str(a.hidden), "--dim", str(a.dim),
            "--block-rows", str(a.block_rows), "--threads", str(a.threads)]
    subprocess.run([*base, "--phase", "prepare"], check=True)
    subprocess.run([*base, "--phase", "attribute"], check=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
