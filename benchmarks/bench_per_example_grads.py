"""Per-example gradients: torch.func vmap route vs a per-example autograd loop; projected-gradient memory.

1. Throughput (examples/s) of :func:`thresher.signals.gradients.per_example_gradients`
   (vmap over grad) and of the one-backward-per-example loop on the same model and
   rows, their ratio, and the max abs difference of the gradients (agreement).
2. Peak resident memory of :func:`projected_gradients` for every Fashion-MNIST
   training row (60,000) with the reference MLP (101,770 parameters), measured in a
   fresh subprocess (``ru_maxrss``), next to the size of the full gradient matrix it
   avoids.

    python benchmarks/bench_per_example_grads.py            # 60,000 rows, dim 1024
    python benchmarks/bench_per_example_grads.py --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _projection_child(data: str, dim: int, batch_size: int, threads: int) -> None:
    """Project every row's gradient in a fresh process; report its peak resident memory."""
    import torch

    from thresher.evaluate.torch_models import build_model
    from thresher.signals.gradients import projected_gradients

    torch.set_num_threads(threads)
    X = np.load(data + "_X.npy", mmap_mode="r")  # memory-mapped: pages in as batches are read
    y = np.load(data + "_y.npy")
    torch.manual_seed(0)
    net = build_model("mlp", X.shape[1], 10)
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    P = projected_gradients(net, X, y, dim=dim, seed=0, batch_size=batch_size)
    secs = time.perf_counter() - t0
    # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)
    peak = _status_kib("VmHWM")
    n_params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"n": len(y), "dim": dim, "n_params": n_params, "seconds": secs, "peak_rss_kib": peak,
                      "rss_before_kib": base, "out_bytes": P.nbytes}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-loop", type=int, default=1000, help="rows timed through the per-example loop")
    ap.add_argument("--n-vmap", type=int, default=2000, help="rows timed through the vmap route")
    ap.add_argument("--n-project", type=int, default=60000, help="rows projected for the memory figure")
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _projection_child(args.child, args.dim, args.batch_size, args.threads)
        return
    if args.quick:
        args.n_loop, args.n_vmap, args.n_project, args.dim = 200, 2000, 5000, 256

    import torch

    from thresher.data.datasets import load_fashion_mnist, split_table
    from thresher.evaluate.torch_models import build_model
    from thresher.signals.gradients import per_example_gradients, per_example_gradients_loop

    torch.set_num_threads(args.threads)
    tr, _ = split_table(load_fashion_mnist(n_train=max(args.n_vmap, args.n_loop, args.n_project)))
    X = tr.matrix("embeddings").astype(np.float32)
    y = tr.labels.astype(np.int64)
    torch.manual_seed(0)
    net = build_model("mlp", X.shape[1], 10)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"MLP 784-128-10 ({n_params} parameters), torch {torch.__version__}, {args.threads} threads")
    for last in (False, True):
        per_example_gradients(net, X[:64], y[:64], last_layer=last, batch_size=args.batch_size)  # warm-up
        # best of `repeats`: the machine is shared, and the minimum is the least disturbed run
        t_loop = t_vmap = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            L = per_example_gradients_loop(net, X[: args.n_loop], y[: args.n_loop], last_layer=last)
            t_loop = min(t_loop, time.perf_counter() - t0)
            t0 = time.perf_counter()
            V = per_example_gradients(net, X[: args.n_vmap], y[: args.n_vmap], last_layer=last, batch_size=args.batch_size)
            t_vmap = min(t_vmap, time.perf_counter() - t0)
        err = float(np.abs(V[: args.n_loop] - L).max())
        r_loop, r_vmap = args.n_loop / t_loop, args.n_vmap / t_vmap
        if not last:
            r_loop_all = r_loop
        print(f"{'last layer' if last else 'all params'}: loop {r_loop:,.0f} ex/s ({args.n_loop} rows), "
              f"vmap {r_vmap:,.0f} ex/s ({args.n_vmap} rows, batch {args.batch_size}), ratio {r_vmap / r_loop:.1f}x, "
              f"max |vmap - loop| = {err:.2e} (best of {args.repeats})")
        del V, L
    # GraNd's use: norms only, nothing materialised beyond one batch
    from thresher.signals.gradients import per_example_grad_norms

    per_example_grad_norms(net, X[:64], y[:64], batch_size=args.batch_size)
    t_norm = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        nrm = per_example_grad_norms(net, X[: args.n_vmap], y[: args.n_vmap], batch_size=args.batch_size)
        t_norm = min(t_norm, time.perf_counter() - t0)
    loop_norm = np.linalg.norm(per_example_gradients_loop(net, X[:100], y[:100]), axis=1)
    print(f"gradient norms (GraNd), all params: vmap {args.n_vmap / t_norm:,.0f} ex/s, "
          f"ratio to the loop {args.n_vmap / t_norm / r_loop_all:.1f}x, "
          f"max rel. diff {float(np.max(np.abs(nrm[:100] - loop_norm) / loop_norm)):.1e}")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = f"{tmp}/fmnist"
        np.save(data + "_X.npy", np.ascontiguousarray(X[: args.n_project]))
        np.save(data + "_y.npy", y[: args.n_project])
        del X, tr
        out = subprocess.run(
            [sys.executable, __file__, "--child", data, "--dim", str(args.dim),
             "--batch-size", str(args.batch_size), "--threads", str(args.threads)],
            check=True, capture_output=True, text=True,
        )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    full = r["n"] * r["n_params"] * 4
    print(f"projected gradients: {r['n']} rows x {r['n_params']} params -> dim {r['dim']} in {r['seconds']:.1f} s; "
          f"peak RSS {r['peak_rss_kib'] / 2**20:.2f} GiB (process before projecting, model and memory-mapped data: "
          f"{r['rss_before_kib'] / 2**20:.2f} GiB; "
          f"output {r['out_bytes'] / 2**20:.0f} MiB; full float32 gradients would be {full / 2**30:.1f} GiB)")


if __name__ == "__main__":
    main()
