"""Report section: text selection toward a target domain, quality-rule failures, near-duplicates.

Reads only the run directory: ``<run>/text/summary.json`` written by the text demo
(:func:`thresher.text.demo.run_text_mixture`) and, when present, the text score columns of
``scores.parquet`` (``score.dsir``, ``score.moore_lewis``, ``score.perplexity``, ...).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from thresher.report.model import Block, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 160
TEXT_SCORES = (
    "score.dsir",
    "score.moore_lewis",
    "score.perplexity",
    "score.likelihood_ratio",
    "score.text_quality",
    "score.text_near_duplicates",
)


def _summary_blocks(summary: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [
        Paragraph(
            f"Pool of {summary['n_pool']} documents; the target domain is '{summary['target']}' "
            f"({summary['pool_target_share']:.1%} of the pool), described by a disjoint sample of "
            f"{summary['n_target_sample']} documents. {summary['n_near_duplicates']} documents are near-duplicates "
            "(MinHash LSH, Jaccard >= 0.8) of a kept one."
        ),
        TableBlock(
            ["selection", "documents", "target-domain share"],
            [[k, v["n"], f"{v['target_share']:.3f}"] for k, v in summary["selections"].items()],
            caption="Share of each selection that comes from the target domain (random is the baseline).",
        ),
    ]
    fails = summary.get("quality_fail_rate", {})
    if fails:
        rows = [[k, f"{v:.3f}"] for k, v in sorted(fails.items(), key=lambda kv: -kv[1]) if v > 0]
        blocks.append(TableBlock(["rule", "fail rate"], rows,
                                 caption="Gopher/C4 quality rules: share of pool documents failing each rule."))
    return blocks


def _score_block(run: RunDir) -> Block | None:
    scores = run.read_scores()
    present = [c for c in TEXT_SCORES if c in scores.columns]
    if not present:
        return None
    rows = []
    for c in present:
        v = scores[c].to_numpy(dtype=np.float64)
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            continue
        q = np.quantile(finite, [0.0, 0.25, 0.5, 0.75, 1.0])
        rows.append([c, int(finite.size), *[f"{x:.4g}" for x in q]])
    return TableBlock(["score", "finite rows", "min", "q25", "median", "q75", "max"], rows,
                      caption="Distribution of the text scores stored in the run.")


def build(run: RunDir) -> Section | None:
    """Return the text section, or ``None`` when the run has no text results."""
    blocks: list[Block] = []
    p = run.path / "text" / "summary.json"
    if p.exists():
        blocks.extend(_summary_blocks(json.loads(p.read_text(encoding="utf-8"))))
    score_block = _score_block(run)
    if score_block is not None:
        blocks.append(score_block)
    if not blocks:
        return None
    return Section("Text data", blocks)
