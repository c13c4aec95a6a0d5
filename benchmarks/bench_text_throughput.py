"""Throughput of the n-gram perplexity scorer and MinHash near-duplicate detection, local vs Ray.

Data: the real Debian text mixture of benchmarks/_text_mixture.py (manual-page chunks,
license paragraphs, fortunes; 100,000 documents by default). The n-gram model (modified
Kneser-Ney, ``--order``) is trained on the disjoint target sample; training time is
printed separately. Each step runs with the local executor (one process) and with the
Ray executor on a local Ray instance with 2 worker CPUs, on the same shards; the
results must be identical. Printed: documents per second and the Ray/local ratio.
Unless ``--no-datasketch``, datasketch's MinHash + MinHashLSH runs on the same documents
for comparison with the same settings (num_perm, 5-word shingles, threshold, the same
bands x rows from weights (0.1, 0.9)), one document at a time, query-then-insert, each
candidate verified by exact Jaccard like thresher's default; a document is flagged
when it matches an earlier one. Both flag sets are printed with their overlap.

Run:  .venv/bin/python benchmarks/bench_text_throughput.py [--quick] [--n-docs 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _text_mixture import build_mixture  # noqa: E402

from thresher.execute import LocalExecutor, get_executor  # noqa: E402
from thresher.text.minhash import near_duplicates  # noqa: E402
from thresher.text.ngram import NgramLM, document_log_probs  # noqa: E402


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_datasketch(texts: list[str], num_perm: int, threshold: float, ngram: int) -> tuple[np.ndarray, float]:
    """datasketch MinHash + MinHashLSH with the same bands/rows as thresher, candidates verified by exact Jaccard."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    dup = np.zeros(len(texts), dtype=bool)
    sets: list[set[str]] = []
    for i, t in enumerate(texts):
        w = t.lower().split()
        grams = {" ".join(w[j : j + ngram]) for j in range(max(1, len(w) - ngram + 1))} if w else set()
        sets.append(grams)
        if not grams:
            continue
        m = MinHash(num_perm=num_perm)
        m.update_batch([g.encode("utf-8") for g in grams])
        for j in lsh.query(m):
            if len(grams & sets[j]) / len(grams | sets[j]) >= threshold:
                dup[i] = True
                break
        lsh.insert(i, m)
    return dup, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--shard-size", type=int, default=12_500, help="documents per n-gram scoring shard")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--no-datasketch", action="store_true")
    ap.add_argument("--only", choices=["all", "ngram", "minhash"], default="all", help="run one part only")
    ap.add_argument("--quick", action="store_true", help="5,000 documents")
    args = ap.parse_args()
    n = 5000 if args.quick else args.n_docs
    raw, _, target = build_mixture(n)
    n_tokens = sum(len(t.split()) for t in raw)
    print(f"{len(raw)} documents, {n_tokens:,} whitespace words; shard size {args.shard_size}")

    lm, t_fit = _timed(lambda: NgramLM(order=args.order).fit(target))
    print(f"n-gram LM: order {args.order}, trained on {len(target)} target documents in {t_fit:.2f} s "
          f"({len(lm.vocab_):,} words)")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_ex = get_executor("ray")
    list(ray_ex.map(lambda s: s.size, __import__("thresher").execute.make_shards(4, n_shards=2)))  # warm workers

    near_duplicates(raw[:200], threshold=args.threshold, num_perm=args.num_perm)  # warm imports and caches
    results = {}
    for name, ex in (("local", LocalExecutor()), ("ray-2", ray_ex)) if args.only != "minhash" else ():
        (lp, nt), t = _timed(lambda ex=ex: document_log_probs(lm, raw, shard_size=args.shard_size, executor=ex))
        results[("ngram", name)] = (lp, t)
        print(f"n-gram perplexity [{name:5s}]: {t:7.2f} s  {len(raw) / t:9,.0f} docs/s  {nt.sum() / t:11,.0f} tokens/s")
    if args.only != "minhash":
        same = np.array_equal(results[("ngram", "local")][0], results[("ngram", "ray-2")][0])
        speed = results[("ngram", "local")][1] / results[("ngram", "ray-2")][1]
        print(f"  ray/local speed-up {speed:.2f}x, identical: {same}")
    if args.only == "ngram":
        ray.shutdown()
        return

    for name, ex in (("local", LocalExecutor()), ("ray-2", ray_ex)):
        nd, t = _timed(lambda ex=ex: near_duplicates(raw, threshold=args.threshold, num_perm=args.num_perm, executor=ex))
        results[("minhash", name)] = (nd, t)
        print(f"MinHash LSH      [{name:5s}]: {t:7.2f} s  {len(raw) / t:9,.0f} docs/s  "
              f"({nd.n_duplicates} near-duplicates, {nd.n_candidate_pairs} candidate pairs)")
    a, b = results[("minhash", "local")][0], results[("minhash", "ray-2")][0]
    print(f"  ray/local speed-up {results[('minhash', 'local')][1] / results[('minhash', 'ray-2')][1]:.2f}x, "
          f"identical: {bool(np.array_equal(a.cluster, b.cluster))}")
    ray.shutdown()
    if not args.no_datasketch:
        import datasketch

        dup, t = run_datasketch(raw, args.num_perm, args.threshold, 5)
        ours = ~a.keep
        inter = int((dup & ours).sum())
        print(f"datasketch {datasketch.__version__} MinHash+LSH (1 process): {t:7.2f} s  {len(raw) / t:9,.0f} docs/s  "
              f"({int(dup.sum())} flagged)")
        print(f"  speed ratio datasketch / thresher-local: {t / results[('minhash', 'local')][1]:.2f}x; "
              f"flag agreement: {inter} flagged by both, {int((ours & ~dup).sum())} only thresher, "
              f"{int((dup & ~ours).sum())} only datasketch")


if __name__ == "__main__":
    main()
