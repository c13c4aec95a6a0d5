"""Best-of-N vs Best-of-Majority (and majority vote) under simulated reward hacking: true quality against N.

Each prompt has one correct answer and ``--wrong`` wrong ones. A sampled candidate is
correct with probability ``--p-correct`` (else a wrong answer drawn with Zipf-like
weights, so the correct answer is the most frequent one in expectation but single
samples are mostly wrong). True quality is 1 for the correct answer, 0 otherwise. The
proxy reward a selector sees is quality + heavy-tailed noise (Student t with ``--df``
degrees of freedom, scale ``--noise``): with many samples, the largest reward belongs to a
candidate whose noise is huge, not to a good one (reward hacking, as in Gao et al.,
"Scaling Laws for Reward Model Overoptimization", 2023). The selectors are thresher's
``BestOfN``, ``MajorityVote`` and ``BestOfMajority`` on one candidate table per N; the
figure reported is the mean true quality of the one candidate picked per prompt, with a
95% interval over prompts, and the paired difference BoM - BoN with its interval.

    python benchmarks/bench_pairs_bom.py            # 2,000 prompts, N up to 256
    python benchmarks/bench_pairs_bom.py --quick    # 300 prompts, N up to 64
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def simulate(n_prompts: int, N: int, args: argparse.Namespace, rng: np.random.Generator):
    from thresher.data.candidates import candidate_table

    w = 1.0 / np.arange(1, args.wrong + 1) ** 1.0
    w = w / w.sum()
    correct = rng.random((n_prompts, N)) < args.p_correct
    wrong = rng.choice(args.wrong, size=(n_prompts, N), p=w) + 1
    answers = np.where(correct, 0, wrong)
    quality = correct.astype(np.float64)
    reward = quality + args.noise * rng.standard_t(args.df, size=(n_prompts, N))
    pid = np.repeat(np.arange(n_prompts), N)
    t = candidate_table(pid, [f"q{p}" for p in pid], [f"a{a}" for a in answers.ravel()],
                        answers=answers.ravel().astype(str), correct=correct.ravel(), rewards={"proxy": reward.ravel()})
    return t, quality.ravel()


def mean_ci(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(1.96 * x.std(ddof=1) / np.sqrt(len(x)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--ns", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--p-correct", type=float, default=0.3)
    ap.add_argument("--wrong", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--df", type=float, default=1.5)
    ap.add_argument("--alpha", default="0.15,0.3", help="Best-of-Majority thresholds (comma-separated).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_prompts = 300 if args.quick else args.prompts
    ns = [1, 4, 16, 64] if args.quick else [int(x) for x in args.ns.split(",")]
    from thresher.select.base import Budget
    from thresher.select.candidates import BestOfMajority, BestOfN, MajorityVote

    alphas = [float(a) for a in str(args.alpha).split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}; {n_prompts} prompts; p(correct) {args.p_correct}; "
          f"{args.wrong} wrong answers; reward = quality + {args.noise} * t({args.df})")
    heads = "".join(f"{f'BoM a={a:g}':>15}{f'BoM-BoN a={a:g}':>19}" for a in alphas)
    print(f"{'N':>4} {'best-of-N':>14} {'majority':>14}{heads} {'sec':>6}")
    rng = np.random.default_rng(args.seed)
    for N in ns:
        t0 = time.perf_counter()
        table, quality = simulate(n_prompts, N, args, rng)
        budget = Budget(n=n_prompts)
        out = {}
        rules = [("bon", BestOfN(by="reward.proxy")), ("maj", MajorityVote(by="reward.proxy"))]
        rules += [(f"bom{a}", BestOfMajority(by="reward.proxy", alpha=a)) for a in alphas]
        for name, sel in rules:
            s = sel.select(table, budget)
            pos = table.positions(s.row_ids)
            order = np.argsort(table.column("prompt_id")[pos], kind="stable")
            out[name] = quality[pos][order]  # one pick per prompt, in prompt order (paired across rules)
        cells = [f"{m:.3f} ± {h:.3f}" for m, h in (mean_ci(out[k]) for k in ("bon", "maj"))]
        line = f"{N:>4} {cells[0]:>14} {cells[1]:>14}"
        for a in alphas:
            m, h = mean_ci(out[f"bom{a}"])
            d, hd = mean_ci(out[f"bom{a}"] - out["bon"])
            line += f"{f'{m:.3f} ± {h:.3f}':>15}{f'{d:+.3f} ± {hd:.3f}':>19}"
        print(f"{line} {time.perf_counter() - t0:>6.1f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
