"""Conditional-likelihood engine throughput: thresher's batched engine vs a per-example transformers loop.

Both score the same preference pairs (prompt = 24 words of a Debian manual page, chosen =
the next 40 words, rejected = a degraded copy) with the same randomly initialised GPT-2
(4 layers, 256-d, GPT-2's 50,257-row output layer; a BPE tokenizer of 8,192 trained here on the
pages): summed log-prob
of each response given its prompt. The loop is what one writes first: for each example,
tokenize prompt + response, run the model, ``log_softmax`` over all positions, sum the
response targets. The engine sorts by length, packs batches under a token budget and
projects onto the vocabulary only at response positions.

Each arm runs in its own subprocess (spawned), so its peak resident memory
(``ru_maxrss``) is its own; reported: response tokens per second, peak RSS, and the
largest absolute difference between the two arms' scores. The loop is run on at most
``--loop-max`` pairs (tokens/s is a per-token rate, comparable across sizes); the
engine on every size.

    python benchmarks/bench_pairs_throughput.py                 # 1,000 and 10,000 pairs
    python benchmarks/bench_pairs_throughput.py --quick         # 300 pairs
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _arm(kind: str, path: str, prompts: list[str], responses: list[str], threads: int, batch: int, q: Any) -> None:
    import resource

    import torch

    torch.set_num_threads(threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if kind == "engine":
        from thresher.text.likelihood import CausalLM

        lm = CausalLM(path, batch_size=batch, max_batch_tokens=batch * 128, max_length=4096)
        lm._load()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        r = lm.conditional_log_probs(prompts, responses)
        dt = time.perf_counter() - t
        lp, nt = r.logp, r.n_tokens
    else:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        lp = np.zeros(len(prompts))
        nt = np.zeros(len(prompts), dtype=np.int64)
        for i, (p, y) in enumerate(zip(prompts, responses)):
            pi = [tok.bos_token_id] + tok(p, add_special_tokens=False)["input_ids"]
            ri = tok(y, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([pi + ri])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            tgt = ids[0, len(pi):]
            lp[i] = float(logp[len(pi) - 1 : -1].gather(-1, tgt.unsqueeze(-1)).sum())
            nt[i] = len(ri)
        dt = time.perf_counter() - t
    q.put({"seconds": dt, "logp": lp, "n_tokens": nt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "rss_before_mb": rss0 / 1024})


def run_arm(kind: str, path: str, prompts: list[str], responses: list[str], threads: int, batch: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_arm, args=(kind, path, prompts, responses, threads, batch, q))
    p.start()
    while True:
        try:
            out = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"the {kind} arm failed (exit code {p.exitcode}); see its traceback above") from None
    p.join()
    return out


def work_ratio(tok: Any, prompts: list[str], responses: list[str], n_layer: int, d: int, vocab: int) -> float:
    """Multiply-adds of the loop over those of the engine for the same examples (no padding counted).

    Per token a GPT-2 block costs ``12 d^2`` (attention projections ``4 d^2``, MLP
    ``8 d^2``) plus ``2 T d`` for attention scores and values; the output layer ``d V``.
    The loop projects every position onto the vocabulary, the engine only response
    positions; everything else is the same work. On one CPU core, where a batch of
    GEMMs runs at about the speed of its rows done one by one, this ratio is about the
    most an exact engine can gain; more needs a GPU, where one example leaves most of the
    device idle.
    """
    loop = engine = 0.0
    for p, y in zip(prompts, responses):
        r = len(tok(y, add_special_tokens=False)["input_ids"])
        t = 1 + len(tok(p, add_special_tokens=False)["input_ids"]) + r
        body = t * n_layer * (12 * d * d + 2 * t * d)
        loop += body + t * d * vocab
        engine += body + r * d * vocab
    return loop / engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000", help="Numbers of pairs.")
    ap.add_argument("--loop-max", type=int, default=300, help="Most pairs the per-example loop scores.")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab-rows", type=int, default=50257, help="Rows of the output layer (GPT-2: 50,257).")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [300] if args.quick else [int(s) for s in args.sizes.split(",")]
    loop_max = 300 if args.quick else args.loop_max
    from bench_pairs_common import build_gpt2, degrade, man_documents, save, train_tokenizer, windows

    rng = np.random.default_rng(0)
    need = max(sizes)
    docs = man_documents(max(200, need // 3), seed=0)
    tok = train_tokenizer(docs[:500], vocab_size=8192)
    pairs = windows(docs, 24, 40, rng, per_doc=4)[:need]
    if len(pairs) < need:
        raise SystemExit(f"only {len(pairs)} windows from {len(docs)} pages; lower --sizes")
    kinds = ("shuffle", "drop", "repeat", "typo")
    rejected = [degrade(y, kinds[i % 4], rng) for i, (_, y) in enumerate(pairs)]
    longest = max(len(tok(p)["input_ids"]) + len(tok(y)["input_ids"]) + 1
                  for (p, _), y in zip(pairs, [y for _, y in pairs] + rejected) for y in (y,))
    longest = max(longest, max(len(tok(p)["input_ids"]) + len(tok(r)["input_ids"]) + 1 for (p, _), r in zip(pairs, rejected)))
    tmp = Path(tempfile.mkdtemp(prefix="bench_pairs_"))
    n_pos = 1 << int(np.ceil(np.log2(longest + 1)))
    # GPT-2's output layer (50,257 rows), so the vocabulary projection costs what it costs in GPT-2;
    # the tokenizer trained here uses the first 8,192 of them
    path = str(save(build_gpt2(args.vocab_rows, n_embd=256, n_layer=4, n_head=4, n_positions=n_pos), tok, tmp / "model"))
    print(f"load average {os.getloadavg()[0]:.2f}; threads {args.threads}; model GPT-2 4x256, output layer "
          f"{args.vocab_rows} rows, tokenizer {len(tok)}, "
          f"longest example {longest} tokens")
    print(f"{'pairs':>6} {'arm':>7} {'examples':>8} {'resp tok':>9} {'seconds':>8} {'tok/s':>9} {'peak RSS MB':>11} "
          f"{'+ over load':>11}")
    for n in sizes:
        prompts = [p for p, _ in pairs[:n]] * 2
        responses = [y for _, y in pairs[:n]] + rejected[:n]
        eng = run_arm("engine", path, prompts, responses, args.threads, args.batch)
        m = min(n, loop_max)
        sub_p = [p for p, _ in pairs[:m]] * 2
        sub_r = [y for _, y in pairs[:m]] + rejected[:m]
        loop = run_arm("loop", path, sub_p, sub_r, args.threads, args.batch)
        rates = {}
        for name, r, k in (("engine", eng, n), ("loop", loop, m)):
            tokens = int(r["n_tokens"].sum())
            rates[name] = tokens / r["seconds"]
            print(f"{n:>6} {name:>7} {2 * k:>8} {tokens:>9} {r['seconds']:>8.2f} {rates[name]:>9.0f} {r['rss_mb']:>11.0f} "
                  f"{r['rss_mb'] - r['rss_before_mb']:>11.0f}")
        engine_sub = np.concatenate([eng["logp"][:m], eng["logp"][n : n + m]])
        diff = float(np.max(np.abs(engine_sub - loop["logp"])))
        rel = float(np.max(np.abs(engine_sub - loop["logp"]) / np.abs(loop["logp"])))
        same_tokens = bool(np.array_equal(np.concatenate([eng["n_tokens"][:m], eng["n_tokens"][n : n + m]]),
                                          loop["n_tokens"]))
        print(f"{n:>6} work ratio (loop / engine multiply-adds on these examples): "
              f"{work_ratio(tok, sub_p, sub_r, 4, 256, args.vocab_rows):.2f}")
        print(f"{n:>6} speed-up (tokens/s ratio) {rates['engine'] / rates['loop']:.1f}x; max |logp diff| {diff:.2e} "
              f"(relative {rel:.1e}, float32) on {2 * m} examples; token counts identical: {same_tokens}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
