"""Report section: preference pairs and generated candidates.

Reads only the run directory (``table.parquet``, ``scores.parquet``, ``selections/``,
``metrics.json``) of a run whose table is a pair table (``meta["kind"] == "pairs"``) or
a candidate table (``"candidates"``). For pairs: flag counts, length bias, histograms of
the margins and of preference strength, and the most-displacing (highest CHES) and
most-likely-flipped (lowest preference strength) pairs as text. For candidates: prompt
and group facts, homogeneous groups, pass@k and selection metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 170
HISTOGRAMS = ("score.likelihood_margin", "score.likelihood_margin_token", "score.dpo_margin",
              "score.preference_strength", "score.ches_normalized", "score.length_difference")
SHOW_CHARS = 240


def _short(text: Any) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= SHOW_CHARS else s[: SHOW_CHARS - 3] + "..."


def _table(run: RunDir) -> Any | None:
    if not (run.path / "table.parquet").exists():
        return None
    t = run.read_table()
    return t if t.meta.get("kind") in ("pairs", "candidates") else None


def _histograms(t: Any) -> Block | None:
    cols = [c for c in HISTOGRAMS if t.has(c) and np.isfinite(np.asarray(t.column(c), dtype=float)).any()]
    if not cols:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 2.8), squeeze=False)
    for ax, c in zip(axes[0], cols):
        v = np.asarray(t.column(c), dtype=float)
        ax.hist(v[np.isfinite(v)], bins=40, color="#4477aa")
        ax.axvline(0.0, color="#aa3377", lw=1)
        ax.set_title(c, fontsize=9)
    fig.tight_layout()
    return Figure.from_matplotlib(fig, "Margins and preference strength per pair (the line marks 0: left of it the "
                                  "model or the reward ensemble prefers the rejected response).")


def _examples(t: Any, column: str, largest: bool, title: str, n: int = 5) -> Block | None:
    if not t.has(column):
        return None
    v = np.asarray(t.column(column), dtype=float)
    ok = np.flatnonzero(np.isfinite(v))
    if ok.size == 0:
        return None
    order = ok[np.argsort(-v[ok] if largest else v[ok], kind="stable")[:n]]
    rows = [[t.row_id[i].item() if hasattr(t.row_id[i], "item") else t.row_id[i], f"{v[i]:.4g}",
             _short(t.column("prompt")[i]), _short(t.column("chosen")[i]), _short(t.column("rejected")[i])] for i in order]
    return TableBlock(["row_id", column, "prompt", "chosen", "rejected"], rows, caption=title)


def _pair_blocks(t: Any) -> list[Block]:
    from thresher.scores.lengths import length_statistics

    flags = [c for c in t.column_names if c.startswith("flag.")]
    counts = ", ".join(f"{c[5:]}: {int(np.nansum(np.asarray(t.column(c), dtype=float)))}" for c in flags)
    blocks: list[Block] = [Paragraph(f"{t.n_rows} preference pairs. Flagged pairs ({counts or 'no flags'}); flagged "
                                     "pairs are kept in the table, not dropped.")]
    margin = next((c for c in ("score.preference_strength", "score.likelihood_margin") if t.has(c)), None)
    s = length_statistics(t, margin=margin)
    rows = [[k, f"{v:.3f}"] for k, v in s.items()]
    blocks.append(TableBlock(["length (words)", "value"], rows,
                             caption="Length bias: mean lengths, the share of pairs whose chosen response is longer, "
                             + (f"and the Spearman correlation of the length difference with {margin}." if margin else
                                "(no margin stored to correlate with).")))
    hist = _histograms(t)
    if hist is not None:
        blocks.append(hist)
    for col, largest, title in (
        ("score.ches", True, "Most displacing pairs (highest CHES): DPO on these lowers the chosen response's likelihood."),
        ("score.preference_strength", False, "Most likely flipped pairs (lowest mean preference strength)."),
        ("score.likelihood_margin", False, "Pairs the model most strongly ranks the other way (lowest margin)."),
    ):
        b = _examples(t, col, largest, title)
        if b is not None:
            blocks.append(b)
    return blocks


def _candidate_blocks(t: Any, run: RunDir) -> list[Block]:
    from thresher.data.candidates import group_codes

    codes, n_groups = group_codes(t.column("prompt_id"))
    sizes = np.bincount(codes, minlength=n_groups)
    text = (f"{t.n_rows} candidates for {n_groups} prompts ({sizes.min()}-{sizes.max()} per prompt, "
            f"median {np.median(sizes):g}).")
    if t.has("flag.homogeneous_group"):
        h = np.asarray(t.column("flag.homogeneous_group"), dtype=float)
        share = float(np.mean([h[codes == g][0] for g in range(n_groups)]))
        text += f" {share:.1%} of prompts are homogeneous (all candidates right or all wrong: no group-relative signal)."
    return [Paragraph(text)]


def _selection_block(run: RunDir) -> Block | None:
    keys = run.selection_keys()
    metrics = run.read_metrics()
    if not keys:
        return None
    names = sorted({k.split("/", 1)[0] for k in metrics})
    rows = []
    for key in ["all", *keys]:
        size = run.read_selection(key).row_ids.size if key != "all" else run.read_manifest().get("n_rows", "?")
        rows.append([key, size, *[f"{metrics[f'{m}/{key}']['value']:.4f}" if f"{m}/{key}" in metrics else "" for m in names]])
    return TableBlock(["selection", "rows", *names], rows, caption="Stored selections and the metrics computed on them.")


def build(run: RunDir) -> Section | None:
    """Return the post-training section, or ``None`` when the run holds no pair or candidate table."""
    t = _table(run)
    if t is None:
        return None
    blocks = _pair_blocks(t) if t.meta["kind"] == "pairs" else _candidate_blocks(t, run)
    sel = _selection_block(run)
    if sel is not None:
        blocks.append(sel)
    return Section("Preference pairs" if t.meta["kind"] == "pairs" else "Generated candidates", blocks)
