"""Attribution ground truth on Fashion-MNIST: LDS and the counterfactual removal check, with dattri's TRAK.

Setting: a random subset of ``--n-train`` training images (pixels / 255, 784 features),
``--n-test`` test images; an MLP 784-``hidden``-10 trained with Adam (lr 1e-3, batch
128) for ``--epochs`` epochs; checkpoints after epochs E/3, 2E/3 and E (with Adam's
moments). Attribution methods (thresher):

* TracIn (3 checkpoints, projected dim ``--dim``), gradient similarity (LESS cosines,
  plain and with the Adam-preconditioned training side), CG influence on the final model
  (one row per ``--damping`` value, ``--cg-iter`` iterations per test row), TRAK (3
  checkpoints as the ensemble);
* peer: dattri's ``TRAKAttributor`` on the same checkpoints (same output function),
  when dattri is installed (``pip install --no-deps dattri``; it does not pull torch).

Ground truth: ``--subsets`` retrainings (the same recipe, fresh seeds) on random 50%
subsets; LDS = mean over test rows of the Spearman correlation between predicted and
actual test margins. Counterfactual: for the first ``--cf-rows`` test rows, remove each
method's top ``--cf-k`` attributors (largest positive), retrain with the full model's
seed, and compare the drop in that row's margin with removing ``--cf-k`` random rows
(mean paired difference, 95% t interval over test rows).

    python benchmarks/bench_attribution.py            # n_train 4000, n_test 200, M = 50
    python benchmarks/bench_attribution.py --quick    # n_train 300, n_test 20, M = 6 (under 2 minutes when idle)
"""

from __future__ import annotations

import argparse
import copy
import os

os.environ.setdefault("TQDM_DISABLE", "1")  # dattri's progress bars
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats


def load(n_train: int, n_test: int, seed: int):
    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist

    train, test = split_table(load_fashion_mnist())
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(train.n_rows, size=n_train, replace=False))
    te = np.sort(rng.choice(test.n_rows, size=n_test, replace=False))
    return (np.asarray(train.embeddings[tr], np.float32), np.asarray(train.labels[tr], np.int64),
            np.asarray(test.embeddings[te], np.float32), np.asarray(test.labels[te], np.int64))


def train_with_checkpoints(X, y, *, epochs: int, hidden: int, lr: float, seed: int):
    """The recipe of thresher's train_classifier, keeping (model, Adam moments) after three epochs."""
    import torch

    from thresher.evaluate.torch_models import build_model
    from thresher.scores.attribution import adam_moments

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = build_model("mlp", X.shape[1], 10, hidden=hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    keep = sorted({max(1, round(epochs / 3)), max(1, round(2 * epochs / 3)), epochs})
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    ckpts, moments = [], []
    for e in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(y), generator=gen)
        for b in range(0, len(y), 128):
            idx = perm[b : b + 128]
            loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if e in keep:
            m = copy.deepcopy(net).eval()
            ckpts.append(m)
            moments.append(adam_moments(opt, net))
    return ckpts, moments


def dattri_trak(ckpts, X, y, Xt, yt, dim: int):
    import torch
    from dattri.algorithm.trak import TRAKAttributor
    from dattri.task import AttributionTask
    from torch.utils.data import DataLoader, TensorDataset

    model = copy.deepcopy(ckpts[-1])

    def f(params, data):
        image, label = data
        yhat = torch.func.functional_call(model, params, image.unsqueeze(0))
        logp = -torch.nn.functional.cross_entropy(yhat, label.unsqueeze(0))
        return logp - torch.log(1 - torch.exp(logp))

    def m(params, data):
        image, label = data
        yhat = torch.func.functional_call(model, params, image.unsqueeze(0))
        return torch.exp(-torch.nn.functional.cross_entropy(yhat, label.unsqueeze(0)))

    task = AttributionTask(loss_func=f, model=model, checkpoints=[c.state_dict() for c in ckpts])
    att = TRAKAttributor(task=task, correct_probability_func=m, device="cpu",
                         projector_kwargs={"device": "cpu", "proj_dim": dim})
    tr = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=256, shuffle=False)
    te = DataLoader(TensorDataset(torch.from_numpy(Xt), torch.from_numpy(yt)), batch_size=256, shuffle=False)
    att.cache(tr)
    return att.attribute(te).detach().numpy().astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--subsets", type=int, default=50)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--cg-iter", type=int, default=30)
    ap.add_argument("--damping", type=float, nargs="+", default=[0.01, 1.0],
                    help="CG influence damping values, one row each (0.01 is nn_influence's default)")
    ap.add_argument("--cf-rows", type=int, default=20)
    ap.add_argument("--cf-k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", default=None, help="directory for the stored subsets and matrices (default: a temp dir)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n_train, a.n_test, a.subsets, a.epochs, a.dim, a.cg_iter, a.cf_rows, a.cf_k = 300, 20, 6, 3, 64, 10, 3, 20
    import torch

    torch.set_num_threads(a.threads)
    from thresher.evaluate.lds import counterfactual_check, lds, retrain_subsets, torch_margin_trainer
    from thresher.scores.attribution import grad_similarity_attribution, tracin_attribution
    from thresher.scores.influence_matrix import influence_attribution
    from thresher.scores.trak import trak_attribution

    run = Path(a.run) if a.run else Path(tempfile.mkdtemp(prefix="thresher_attr_"))
    run.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}")
    X, y, Xt, yt = load(a.n_train, a.n_test, a.seed)
    n_params = 784 * a.hidden + a.hidden + a.hidden * 10 + 10
    print(f"Fashion-MNIST: n_train={a.n_train}, n_test={a.n_test}, MLP 784-{a.hidden}-10 ({n_params} parameters), "
          f"{a.epochs} epochs, torch threads {a.threads}; run dir {run}")
    kw = dict(model="mlp", epochs=a.epochs, lr=1e-3, hidden=a.hidden, threads=a.threads)
    fn = torch_margin_trainer(X, y, Xt, yt, n_classes=10, **kw)
    t0 = time.perf_counter()
    subsets = retrain_subsets(fn, a.n_train, n_subsets=a.subsets, alpha=a.alpha, seed=a.seed,
                              path=run / "lds_subsets.npz")
    t_sub = time.perf_counter() - t0
    print(f"{a.subsets} retrainings on {a.alpha:.0%} subsets: {t_sub:.1f} s "
          f"(stored with their seeds in {run / 'lds_subsets.npz'})")
    ckpts, moments = train_with_checkpoints(X, y, epochs=a.epochs, hidden=a.hidden, lr=1e-3, seed=a.seed)
    lrs = [1e-3] * len(ckpts)
    methods = {
        "TracIn (3 ckpts)": lambda: tracin_attribution(ckpts, X, y, Xt, yt, lrs=lrs, dim=a.dim, path=run / "tracin.npy"),
        "grad similarity (LESS cos)": lambda: grad_similarity_attribution(ckpts, X, y, Xt, yt, lrs=lrs, dim=a.dim),
        "grad similarity, Adam (LESS)": lambda: grad_similarity_attribution(
            ckpts, X, y, Xt, yt, lrs=lrs, dim=a.dim, adam=moments, block_rows=512),
        "TRAK (3-ckpt ensemble)": lambda: trak_attribution(ckpts, X, y, Xt, yt, dim=a.dim, path=run / "trak.npy"),
    }
    for lam in a.damping:
        methods[f"CG influence, damping {lam:g}"] = lambda lam=lam: influence_attribution(
            ckpts[-1], X, y, Xt, yt, damping=lam, max_iter=a.cg_iter, block_rows=512)
    results = {}
    for name, make in methods.items():
        t0 = time.perf_counter()
        A = make()
        results[name] = (A.to_numpy().astype(np.float64), time.perf_counter() - t0)
        print(f"  {name}: {results[name][1]:.1f} s", flush=True)
    try:
        from importlib.metadata import version

        import dattri  # noqa: F401

        t0 = time.perf_counter()
        results[f"dattri {version('dattri')} TRAK (peer)"] = (dattri_trak(ckpts, X, y, Xt, yt, a.dim),
                                                               time.perf_counter() - t0)
    except ImportError:
        print("dattri not installed: peer row skipped (pip install --no-deps dattri)")

    full = fn(np.arange(a.n_train), a.seed)
    rows = np.arange(min(a.cf_rows, a.n_test))
    rand = None
    print(f"\n{'method':34s} {'LDS':>7s} {'+-se':>6s} {'time':>8s}   counterfactual drop(top-{a.cf_k}) - drop(random), "
          f"{len(rows)} test rows")
    for name, (A, sec) in results.items():
        r = lds(A, subsets)
        cf = counterfactual_check(A, fn, a.n_train, rows, k=a.cf_k, seed=a.seed, base=full, random_drops=rand)
        rand = cf.drop_random
        print(f"{name:34s} {r.value:7.3f} {r.std_error:6.3f} {sec:7.1f}s   {cf.mean_difference:+.3f} "
              f"[{cf.ci_low:+.3f}, {cf.ci_high:+.3f}]  (mean drop top {cf.drop_top.mean():+.3f}, "
              f"random {cf.drop_random.mean():+.3f})")
    ours = results["TRAK (3-ckpt ensemble)"][0]
    peer = [v for k, v in results.items() if k.startswith("dattri")]
    if peer:
        P = peer[0][0]
        rho = np.mean([stats.spearmanr(ours[:, j], P[:, j]).statistic for j in range(a.n_test)])
        print(f"\nTRAK agreement thresher vs dattri: mean per-test-row Spearman {rho:.3f}, "
              f"time ratio dattri/thresher {peer[0][1] / results['TRAK (3-ckpt ensemble)'][1]:.2f}")
    again = retrain_subsets(fn, a.n_train, n_subsets=a.subsets, alpha=a.alpha, seed=subsets.entropy,
                            path=run / "lds_subsets.npz")
    print(f"stored subsets reload with identical masks: {bool(np.array_equal(again.masks, subsets.masks))}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
