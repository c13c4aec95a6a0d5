"""DSIR: thresher's hashed n-gram importance weights vs the reference ``data-selection`` package.

Data: a real mixture of text Debian ships (benchmarks/_text_mixture.py): manual-page
chunks, license paragraphs and fortunes; the target is a disjoint sample of one domain
(default: fortunes). Both implementations use unigrams+bigrams, 10,000 buckets, the
WordPunct tokenizer and SHA-256 bucket hashing, fit the raw distribution on all raw
documents and the target distribution on the target sample, and compute each raw
document's log importance weight. Printed: wall time of fit + weights (reference with
``num_proc`` joblib workers; thresher locally and with the Ray executor, 2 workers),
the ratio, Spearman/Pearson correlation and max |difference| of the log weights,
the overlap of the top-10% sets, and each one's AUROC for the target domain.

Run:  .venv/bin/python benchmarks/bench_dsir.py [--quick] [--n-docs 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).parent))
from _text_mixture import build_mixture  # noqa: E402

from thresher.text.dsir import DSIR  # noqa: E402


def run_reference(raw: list[str], target: list[str], num_proc: int) -> tuple[np.ndarray, float]:
    from data_selection import HashedNgramDSIR

    with tempfile.TemporaryDirectory() as d:
        rp, tp = Path(d) / "raw.jsonl", Path(d) / "target.jsonl"
        rp.write_text("".join(json.dumps({"text": t}) + "\n" for t in raw))
        tp.write_text("".join(json.dumps({"text": t}) + "\n" for t in target))
        t0 = time.perf_counter()
        dsir = HashedNgramDSIR([str(rp)], [str(tp)], cache_dir=str(Path(d) / "cache"), num_proc=num_proc,
                               ngrams=2, num_buckets=10000, min_example_length=0)
        dsir.fit_importance_estimator(num_tokens_to_fit="all")
        dsir.compute_importance_weights()
        elapsed = time.perf_counter() - t0
        lw = np.empty(len(raw))
        for j in range(num_proc):  # virtual shard j holds documents j, j + num_proc, ...
            lw[j::num_proc] = np.load(Path(d) / "cache" / "log_importance_weights" / f"{j}.npy")
    return lw, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--n-target", type=int, default=3000)
    ap.add_argument("--target", default="fortune", choices=["fortune", "man", "license"])
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--quick", action="store_true", help="5,000 documents")
    args = ap.parse_args()
    n = 5000 if args.quick else args.n_docs
    raw, domain, target = build_mixture(n, args.target, args.n_target)
    is_target = domain == args.target
    print(f"raw pool: {len(raw)} documents ({int(is_target.sum())} {args.target}), target sample: {len(target)}")

    t0 = time.perf_counter()
    ours = DSIR().fit_log_weights(target, raw)
    t_ours = time.perf_counter() - t0
    print(f"thresher DSIR (local, 1 process):       {t_ours:8.2f} s  ({len(raw) / t_ours:,.0f} docs/s)")
    if not args.no_ray:
        import ray

        from thresher.execute import get_executor

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ex = get_executor("ray")
        DSIR().fit_log_weights(target[:10], raw[:10], executor=ex)  # warm the workers
        t0 = time.perf_counter()
        ours_ray = DSIR().fit_log_weights(target, raw, executor=ex)
        t_ray = time.perf_counter() - t0
        print(f"thresher DSIR (Ray, 2 workers):         {t_ray:8.2f} s  ({len(raw) / t_ray:,.0f} docs/s); "
              f"identical to local: {bool(np.array_equal(ours, ours_ray))}")
        ray.shutdown()
    import data_selection

    ref, t_ref = run_reference(raw, target, args.num_proc)
    print(f"data-selection {data_selection.__version__} ({args.num_proc} procs):     {t_ref:8.2f} s  "
          f"({len(raw) / t_ref:,.0f} docs/s)")
    print(f"speed ratio reference / thresher-local: {t_ref / t_ours:.2f}x")
    rho = stats.spearmanr(ours, ref).statistic
    r = stats.pearsonr(ours, ref).statistic
    k = len(raw) // 10
    top_o, top_r = set(np.argsort(-ours)[:k].tolist()), set(np.argsort(-ref)[:k].tolist())
    print(f"agreement: Spearman {rho:.6f}, Pearson {r:.6f}, max |diff| {np.max(np.abs(ours - ref)):.3e}, "
          f"top-10% overlap {len(top_o & top_r) / k:.4f}")
    print(f"AUROC for the target domain: thresher {roc_auc_score(is_target, ours):.4f}, "
          f"reference {roc_auc_score(is_target, ref):.4f}")


if __name__ == "__main__":
    main()
