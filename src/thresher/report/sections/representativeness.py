"""Report section: how well each selection represents the training set, next to its accuracy.

Reads only the run directory: the metrics stored under ``representativeness/<selection
key>`` (written by the pipeline when the recipe lists the ``representativeness`` metric,
or by :func:`thresher.metrics.representativeness.store_representativeness`) and the
evaluation records for the accuracy column and curves. Nothing is recomputed.
"""

from __future__ import annotations

import re
from typing import Any

from thresher.metrics.representativeness import KEY_PREFIX
from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.report.palette import line_style, run_palette
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build", "collect"]

ORDER = 120
_FRACTION = re.compile(r"__f=([0-9.eE+-]+)")


def collect(run: RunDir) -> list[dict[str, Any]]:
    """Return one row per stored representativeness result: arm, fraction and the numbers."""
    rows = []
    for key, m in sorted(run.read_metrics().items()):
        if not key.startswith(KEY_PREFIX):
            continue
        sel_key = key[len(KEY_PREFIX) :]
        d = m.get("details", {})
        f = _FRACTION.search(sel_key)
        rows.append(
            {
                "selection": sel_key,
                "arm": sel_key.split("__")[0],
                "fraction": float(f.group(1)) if f else float(d.get("fraction", float("nan"))),
                "coverage": d.get("coverage"),
                "density": d.get("density"),
                "vendi_ratio": d.get("vendi_ratio"),
                "class_tv": d.get("class_tv"),
                "group_tv": d.get("group_tv"),
                "drift_p": d.get("drift_p_value"),
            }
        )
    return rows


def _accuracy(run: RunDir) -> dict[tuple[str, float], float]:
    records = run.read_evaluation()
    if len(records) == 0:
        return {}
    from thresher.evaluate.harness import summarize

    s = summarize(records)
    return {(str(a), round(float(f), 6)): float(m) for a, f, m in zip(s["arm"], s["fraction"], s["mean"])}


def _fmt(v: Any, spec: str = "{:.3f}") -> str:
    return "" if v is None else spec.format(v)


def _figure(rows: list[dict[str, Any]], acc: dict[tuple[str, float], float], palette: dict[str, str]) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("coverage", "coverage of the training set"), ("vendi_ratio", "Vendi ratio (subset / full)")]
    n = len(panels) + (1 if acc else 0)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    arms = sorted({r["arm"] for r in rows})
    ax_i = 0
    if acc:
        ax = axes[0][0]
        for arm in arms:
            pts = sorted((f, a) for (name, f), a in acc.items() if name == arm)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=arm, **line_style(arm, palette))
        ax.set_xlabel("fraction kept")
        ax.set_title("mean test accuracy")
        ax_i = 1
    for j, (col, title) in enumerate(panels):
        ax = axes[0][ax_i + j]
        for arm in arms:
            pts = sorted((r["fraction"], r[col]) for r in rows if r["arm"] == arm and r[col] is not None)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=arm, **line_style(arm, palette))
        ax.set_xlabel("fraction kept")
        ax.set_title(title)
    axes[0][-1].legend(fontsize=9)
    fig.tight_layout()
    return Figure.from_matplotlib(fig, "Accuracy (left, when evaluated) next to how well each selection covers the data.")


def _without_empty_columns(head: list[str], rows: list[list[str]], caption: str) -> TableBlock:
    """Drop the columns no row has a value in (e.g. group TV for data without groups)."""
    keep = [j for j in range(len(head)) if any(r[j] for r in rows)]
    return TableBlock([head[j] for j in keep], [[r[j] for j in keep] for r in rows], caption)


def build(run: RunDir) -> Section | None:
    """Return the "Representativeness of selections" section, or None when none is stored."""
    rows = collect(run)
    if not rows:
        return None
    acc = _accuracy(run)
    table_rows = [
        [
            r["arm"],
            f"{r['fraction']:g}",
            _fmt(acc.get((r["arm"], round(r["fraction"], 6)))),
            _fmt(r["coverage"]),
            _fmt(r["density"]),
            _fmt(r["vendi_ratio"]),
            _fmt(r["class_tv"]),
            _fmt(r["group_tv"]),
            _fmt(r["drift_p"], "{:.3g}"),
        ]
        for r in rows
    ]
    blocks: list[Block] = [
        Paragraph(
            "Coverage: share of training rows whose 5-nearest-neighbour ball holds a selected row "
            "(Naeem et al. 2020). Density near 1 means selected rows sit where the data is as dense as usual. "
            "Vendi ratio: effective number of distinct items of the subset over that of the full set. "
            "TV: total variation distance between class (group) proportions of subset and full set. "
            "Drift p: kNN two-sample permutation test of the subset against the rows left out "
            "(small = the subset looks unlike the rest)."
        ),
        _figure(rows, acc, run_palette(run)),
        _without_empty_columns(
            ["arm", "fraction", "accuracy", "coverage", "density", "Vendi ratio", "class TV", "group TV", "drift p"],
            table_rows,
            "Representativeness of each stored selection (first seed).",
        ),
    ]
    return Section("Representativeness of selections", blocks)
