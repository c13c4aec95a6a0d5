"""GIO against DSIR on the Debian text mixture, and against random and facility location on an image target.

Text: the pool and disjoint target sample of thresher's Debian text-mixture demo
(``debian_pool_and_target``: ``--n-per-domain`` documents each of manual pages, license
texts and fortunes; the target is ``--n-target`` fortunes not in the pool). GIO runs on
all-MiniLM-L6-v2 embeddings (``embed_texts``, offline); DSIR resamples on hashed
unigram+bigram features (the demo's ``dsir_resample``, Gumbel top-k). Budget: ``--fraction``
of the pool for every method. Printed: the share of target-domain documents among the
selected (the pool's share is the baseline), plus where GIO's stopping rule would stop.

Image: Fashion-MNIST, pool = ``--n-pool`` random training images of all ten classes,
target = ``--n-img-target`` test images of the footwear family (sandal, sneaker, ankle
boot); features = PCA-50 of the pool's pixels (no labels). Budget ``--img-budget``.
Methods: GIO (exact and gradient speed-up), facility location on the pool (thresher's
``FacilityLocation``, target-agnostic), random (5 seeds). Printed: share of footwear among
the selected, the kNN KL(target || selected) and the OT distance (exact, POT) to the target,
and wall time.

    python benchmarks/bench_gio.py            # text 300/domain, image pool 5,000
    python benchmarks/bench_gio.py --quick    # text 100/domain, image pool 1,500
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def text_part(a: argparse.Namespace) -> None:
    from thresher.select.gio import gio_select
    from thresher.signals.embedders import embed_texts
    from thresher.text.demo import debian_pool_and_target
    from thresher.text.dsir import dsir_resample

    pool, tgt = debian_pool_and_target("fortune", n_per_domain=a.n_per_domain, n_target=a.n_target, seed=a.seed)
    texts = [str(t) for t in pool.text]
    is_t = np.asarray(pool.groups == "fortune")
    k = int(round(a.fraction * len(texts)))
    t0 = time.perf_counter()
    E = embed_texts(texts + list(tgt), batch_size=32)
    t_emb = time.perf_counter() - t0
    P, T = E[: len(texts)].astype(np.float64), E[len(texts) :].astype(np.float64)
    print(f"\nText: pool {len(texts)} documents ({is_t.mean():.1%} fortunes), target sample {len(tgt)} fortunes, "
          f"budget {k} ({a.fraction:.0%}); MiniLM embeddings {t_emb:.1f} s")
    rows = []
    for method in ("exact", "gradient"):
        t0 = time.perf_counter()
        picks, kl = gio_select(P, T, k, method=method, stop_early=False, seed=a.seed)
        sec = time.perf_counter() - t0
        stop = int(np.argmax(np.diff(kl) > 0)) + 1 if np.any(np.diff(kl) > 0) else len(kl)
        rows.append((f"GIO ({method})", is_t[picks].mean(), sec, f"stopping rule at {stop} picks "
                     f"(share there {is_t[picks[:stop]].mean():.3f})"))
    t0 = time.perf_counter()
    shares = [is_t[dsir_resample(texts, tgt, k, seed=s)[0]].mean() for s in range(5)]
    rows.append(("DSIR resample (5 seeds)", float(np.mean(shares)), (time.perf_counter() - t0) / 5,
                 f"sd {np.std(shares, ddof=1):.3f}"))
    rng = np.random.default_rng(a.seed)
    rand = [is_t[rng.choice(len(texts), k, replace=False)].mean() for _ in range(5)]
    rows.append(("random (5 seeds)", float(np.mean(rand)), 0.0, f"sd {np.std(rand, ddof=1):.3f}"))
    print(f"{'method':26s} {'target share':>12s} {'time':>8s}")
    for name, share, sec, note in rows:
        print(f"{name:26s} {share:12.3f} {sec:7.2f}s  {note}")


def image_part(a: argparse.Namespace) -> None:
    from sklearn.decomposition import PCA

    from thresher.data import split_table
    from thresher.data.datasets import load_fashion_mnist
    from thresher.data.table import Table
    from thresher.metrics.ot import ot_distance
    from thresher.select.base import Budget
    from thresher.select.gio import gio_select, knn_kl_divergence
    from thresher.select.submodular import FacilityLocation

    train, test = split_table(load_fashion_mnist())
    rng = np.random.default_rng(a.seed)
    pi = np.sort(rng.choice(train.n_rows, a.n_pool, replace=False))
    foot = np.isin(np.asarray(test.labels), [5, 7, 9])
    ti = np.sort(rng.choice(np.flatnonzero(foot), a.n_img_target, replace=False))
    pca = PCA(50, random_state=a.seed).fit(np.asarray(train.embeddings[pi], np.float64))
    P = pca.transform(np.asarray(train.embeddings[pi], np.float64))
    T = pca.transform(np.asarray(test.embeddings[ti], np.float64))
    is_f = np.isin(np.asarray(train.labels)[pi], [5, 7, 9])
    k = a.img_budget
    print(f"\nImage: Fashion-MNIST pool {a.n_pool} ({is_f.mean():.1%} footwear), target {a.n_img_target} footwear test "
          f"images, PCA-50, budget {k}")
    rows = []

    def report(name: str, picks: np.ndarray, sec: float) -> None:
        rows.append((name, is_f[picks].mean(), knn_kl_divergence(T, P[picks]), ot_distance(P[picks], T).value, sec))

    for method in ("exact", "gradient"):
        t0 = time.perf_counter()
        picks, _ = gio_select(P, T, k, method=method, stop_early=False, seed=a.seed)
        report(f"GIO ({method})", picks, time.perf_counter() - t0)
    t0 = time.perf_counter()
    sel = FacilityLocation().select(Table(np.arange(a.n_pool), matrices={"embeddings": P}), Budget(n=k), seed=a.seed)
    report("facility location (pool)", np.asarray(sel.row_ids), time.perf_counter() - t0)
    for s in range(5):
        report(f"random seed {s}", np.random.default_rng(100 + s).choice(a.n_pool, k, replace=False), 0.0)
    print(f"{'method':26s} {'footwear':>9s} {'kNN-KL':>8s} {'OT':>9s} {'time':>8s}")
    for name, share, kl, ot_v, sec in rows:
        print(f"{name:26s} {share:9.3f} {kl:8.3f} {ot_v:9.3f} {sec:7.2f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-domain", type=int, default=300)
    ap.add_argument("--n-target", type=int, default=100)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--n-pool", type=int, default=5000)
    ap.add_argument("--n-img-target", type=int, default=300)
    ap.add_argument("--img-budget", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n_per_domain, a.n_pool, a.n_img_target, a.img_budget = 100, 1500, 150, 150
    print(f"load average at start: {os.getloadavg()}")
    if not a.skip_text:
        text_part(a)
    image_part(a)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
