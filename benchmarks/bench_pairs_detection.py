"""Finding swapped (mislabelled) preference pairs on real text: LM margins, DPO margin, ranking accuracy, preference strength.

Data: Debian manual pages (troff stripped). The pages are split in two disjoint halves:
one trains a small GPT-2 (2 layers, 96-d, byte-level BPE of 2,048 trained here) on CPU
for a bounded time, the other gives the pairs. A pair is prompt = 24 consecutive words,
chosen = the next 40 words (the original), rejected = a degraded copy of them (shuffled
4-word chunks, a dropped quarter, a repeated 3-gram, or typos in 20% of the words, in
turn). Then chosen and rejected are swapped in 20% of the pairs: those are the pairs to
find. Three reward columns are simulated from the gold label: r = quality + N(0, s^2)
with quality 1 for the original and 0 for the degraded text.

Detection scores (higher = more suspicious): minus the summed and per-token likelihood
margin, minus the DPO implicit reward margin with the reference = the model before its
last training epoch, 1 - ranking accuracy, minus mean preference strength; also CHES for
comparison. Reported: AUROC and AUPRC with 95% bootstrap intervals over pairs (500
resamples), and AUROC of the margin per degradation type.

    python benchmarks/bench_pairs_detection.py            # 1,500 pages, 1,000 pairs, 4 min of training (3 epochs)
    python benchmarks/bench_pairs_detection.py --quick    # 500 pages, 300 pairs, 45 s of training
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def train_lm(model, tok, docs: list[str], *, epochs: int, seconds: float, ctx: int, batch: int, seed: int,
             ref_dir: Path, out_dir: Path) -> dict[str, float]:
    """Train ``model`` for ``epochs`` passes (each cut at seconds/epochs); save the model before the last epoch."""
    import torch

    from bench_pairs_common import save

    ids: list[int] = []
    for d in docs:
        ids.extend([tok.bos_token_id] + tok(d)["input_ids"])
    n_chunks = len(ids) // ctx
    data = torch.tensor(ids[: n_chunks * ctx]).view(n_chunks, ctx)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    model.train()
    info = {"chunks": float(n_chunks), "tokens": float(n_chunks * ctx)}
    for epoch in range(epochs):
        if epoch == epochs - 1:
            save(model, tok, ref_dir)
        t0 = time.perf_counter()
        perm = torch.randperm(n_chunks, generator=g)
        losses = []
        for s in range(0, n_chunks - batch + 1, batch):
            x = data[perm[s : s + batch]]
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if time.perf_counter() - t0 > seconds / epochs:
                break
        info[f"epoch{epoch}_steps"] = float(len(losses))
        info[f"epoch{epoch}_loss"] = float(np.mean(losses[-20:]))
    model.eval()
    save(model, tok, out_dir)
    return info


def auc_ci(y: np.ndarray, s: np.ndarray, rng: np.random.Generator, n_boot: int = 500) -> tuple[float, float, str, str]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    roc, pr = roc_auc_score(y, s), average_precision_score(y, s)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), size=len(y))
        if y[i].min() == y[i].max():
            continue
        boots.append((roc_auc_score(y[i], s[i]), average_precision_score(y[i], s[i])))
    b = np.array(boots)
    lo, hi = np.percentile(b, [2.5, 97.5], axis=0)
    return roc, pr, f"[{lo[0]:.3f}, {hi[0]:.3f}]", f"[{lo[1]:.3f}, {hi[1]:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=1500)
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--train-seconds", type=float, default=240.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--swap", type=float, default=0.2)
    ap.add_argument("--reward-noise", type=float, default=1.0)
    ap.add_argument("--n-embd", type=int, default=96)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--ctx", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.pages, args.pairs, args.train_seconds = 500, 300, 45.0
    import torch

    torch.set_num_threads(args.threads)
    from bench_pairs_common import DEGRADATIONS, build_gpt2, degrade, man_documents, train_tokenizer, windows
    from thresher.data.pairs import pair_table
    from thresher.scores.pairs import (
        CHES,
        DPOMargin,
        LikelihoodMargin,
        LikelihoodMarginPerToken,
        PreferenceStrength,
        RankingAccuracy,
        likely_flipped,
    )
    from thresher.signals.lm_likelihood import PairLikelihood, PairReferenceLikelihood

    t_start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    docs = man_documents(args.pages, seed=args.seed)
    order = rng.permutation(len(docs))
    half = len(docs) // 2
    lm_docs = [docs[i] for i in order[:half]]
    pair_docs = [docs[i] for i in order[half:]]
    tok = train_tokenizer(lm_docs, vocab_size=args.vocab)
    tmp = Path(tempfile.mkdtemp(prefix="bench_pairs_det_"))
    model = build_gpt2(len(tok), n_embd=args.n_embd, n_layer=args.n_layer, n_head=4, n_positions=512, seed=args.seed)
    info = train_lm(model, tok, lm_docs, epochs=args.epochs, seconds=args.train_seconds, ctx=args.ctx, batch=16,
                    seed=args.seed, ref_dir=tmp / "ref", out_dir=tmp / "final")
    wins = windows(pair_docs, 24, 40, rng, per_doc=3)
    pick = rng.choice(len(wins), size=min(args.pairs, len(wins)), replace=False)
    prompts, chosen, rejected, kinds = [], [], [], []
    for j, i in enumerate(pick.tolist()):
        p, y = wins[i]
        kind = DEGRADATIONS[j % len(DEGRADATIONS)]
        prompts.append(p)
        chosen.append(y)
        rejected.append(degrade(y, kind, rng))
        kinds.append(kind)
    n = len(prompts)
    swapped = np.zeros(n, dtype=bool)
    swapped[rng.choice(n, size=int(round(args.swap * n)), replace=False)] = True
    q_chosen = np.where(swapped, 0.0, 1.0)
    q_rejected = 1.0 - q_chosen
    c_final = [r if s else c for c, r, s in zip(chosen, rejected, swapped)]
    r_final = [c if s else r for c, r, s in zip(chosen, rejected, swapped)]
    rewards = {f"rm{k}": (q_chosen + args.reward_noise * rng.normal(size=n),
                          q_rejected + args.reward_noise * rng.normal(size=n)) for k in range(3)}
    table = pair_table(prompts, c_final, r_final, rewards=rewards, columns={"degradation": np.array(kinds, dtype=object)})
    t0 = time.perf_counter()
    for sig in (PairLikelihood(str(tmp / "final"), batch_size=32), PairReferenceLikelihood(str(tmp / "ref"), batch_size=32)):
        for k, v in sig.compute(table).matrices.items():
            table = table.with_matrix(k, v)
    t_score = time.perf_counter() - t0
    scores = {
        "-likelihood margin (sum)": -LikelihoodMargin().score(table),
        "-likelihood margin (per token)": -LikelihoodMarginPerToken().score(table),
        "-DPO margin (ref = before last epoch)": -DPOMargin(beta=0.1).score(table),
        "1 - ranking accuracy": 1.0 - RankingAccuracy().score(table),
        "-preference strength (3 rewards)": -PreferenceStrength().score(table),
        "CHES": CHES().score(table),
        "-CHES": -CHES().score(table),
    }
    print(f"load average {os.getloadavg()[0]:.2f}; threads {args.threads}; {len(docs)} man pages "
          f"({half} for the LM, {len(docs) - half} for pairs); {n} pairs, {int(swapped.sum())} swapped")
    print(f"LM: GPT-2 {args.n_layer}x{args.n_embd}, vocab {len(tok)}, context {args.ctx}, {int(info['tokens'])} training tokens, "
          + ", ".join(f"epoch {e}: {int(info[f'epoch{e}_steps'])} steps, loss {info[f'epoch{e}_loss']:.2f}"
                      for e in range(args.epochs)) + f"; scoring both models took {t_score:.1f} s")
    print(f"{'detector':<40} {'AUROC':>6} {'95% CI':>16} {'AUPRC':>6} {'95% CI':>16}   (AUPRC of random = {swapped.mean():.2f})")
    for name, s in scores.items():
        roc, pr, ci_roc, ci_pr = auc_ci(swapped.astype(int), s, np.random.default_rng(1))
        print(f"{name:<40} {roc:>6.3f} {ci_roc:>16} {pr:>6.3f} {ci_pr:>16}")
    from sklearn.metrics import roc_auc_score

    m = -LikelihoodMargin().score(table)
    print("AUROC of -margin by degradation: " + ", ".join(
        f"{k} {roc_auc_score(swapped[np.array(kinds) == k], m[np.array(kinds) == k]):.3f}" for k in DEGRADATIONS))
    flag = likely_flipped(table)
    tp = int((flag & swapped).sum())
    print(f"flag.likely_flipped: {int(flag.sum())} flagged, precision {tp / max(flag.sum(), 1):.3f}, "
          f"recall {tp / swapped.sum():.3f}; ranking accuracy of the final model on unswapped pairs "
          f"{RankingAccuracy().score(table)[~swapped].mean():.3f}")
    print(f"total {time.perf_counter() - t_start:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
