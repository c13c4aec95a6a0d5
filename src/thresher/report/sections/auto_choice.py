"""Report section: what ``auto`` chose at each budget, and on what inner-validation evidence.

Reads ``<run>/auto/*.json`` (written by the evaluation harness when an arm's selector
leaves ``evidence_``): per selection the chosen candidate, the proxy cost and time, and
every candidate's inner-validation accuracy at the last rung it reached.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from thresher.report.model import Block, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build", "collect"]

ORDER = 14


def collect(run: RunDir) -> list[dict[str, Any]]:
    """Return the stored evidence of every ``auto`` selection, sorted by key."""
    d = run.path / "auto"
    if not d.exists():
        return []
    return [{"key": p.stem, **json.loads(p.read_text())} for p in sorted(d.glob("*.json"))]


def build(run: RunDir) -> Section | None:
    """Return the "auto: choice per budget" section, or None when no auto evidence is stored."""
    evidence = collect(run)
    if not evidence:
        return None
    by_frac: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for e in evidence:
        by_frac[(str(e.get("arm", "auto")), round(float(e["fraction"]), 6))].append(e)
    choice_rows = []
    for (arm, f), evs in sorted(by_frac.items()):
        counts = Counter(e["chosen"] for e in evs)
        cost = [float(e["proxy_cost_vs_full_run"]) for e in evs if e.get("proxy_cost_vs_full_run") is not None]
        secs = [e.get("seconds", np.nan) for e in evs]
        choice_rows.append([
            arm, f"{f:g}", len(evs), ", ".join(f"{k} x{v}" for k, v in counts.most_common()),
            f"{np.mean(cost):.2f}" if cost else "", f"{np.nanmean(secs):.1f}",
        ])
    blocks: list[Block] = [
        Paragraph(
            "auto holds out a stratified share of the training rows (never the test rows), runs each candidate "
            "strategy on the rest at the same keep fraction, trains the proxy model on each candidate's rows and "
            "scores it on the held-out rows, dropping the weaker candidates rung by rung (successive halving; random "
            "always reaches the last rung). The proxy cost is the proxy's training work in row-epochs as a multiple "
            "of one full-data training run; time includes running every candidate selector."
        ),
        TableBlock(["arm", "fraction", "selections", "chosen (times)", "proxy cost (x full run)", "seconds"], choice_rows,
                   "Choice per budget over the seeds of the evaluation."),
    ]
    for (arm, f), evs in sorted(by_frac.items()):
        acc: dict[str, list[float]] = defaultdict(list)
        rung: dict[str, list[int]] = defaultdict(list)
        for e in evs:
            for c in e.get("candidates", []):
                res = c.get("results") or []
                if res:
                    acc[c["label"]].append(float(res[-1]["val_accuracy"]))
                    rung[c["label"]].append(int(res[-1]["rung"]))
        if not acc:
            continue
        ranked = sorted(acc, key=lambda lab: (-float(np.mean(rung[lab])), -float(np.mean(acc[lab]))))
        rows = [[lab, f"{np.mean(acc[lab]):.4f}", f"{np.mean(rung[lab]):.1f}", len(acc[lab])] for lab in ranked]
        blocks.append(TableBlock(["candidate", "inner-val accuracy (last rung reached)", "mean last rung", "seeds"], rows,
                                 f"{arm} at keep {f:g}: every candidate's inner-validation result."))
    return Section("auto: choice per budget and its evidence", blocks)
