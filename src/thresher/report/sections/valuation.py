"""Report section: data values (top and lowest valued rows) and data issues.

Reads only the run directory: value columns of ``scores.parquet`` (``score.knn_shapley``,
``score.data_oob``, ...), flag columns (``flag.*``) and the details ``thresher issues``
stored under ``<run>/issues/`` (noise matrix, duplicate clusters, thresholds).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from thresher.report.model import Block, Paragraph, Section, TableBlock
from thresher.errors import RunDirError
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 140
VALUE_COLUMNS = ("score.knn_shapley", "score.data_oob", "score.tmc_shapley", "score.beta_shapley", "score.banzhaf", "score.loo")
N_SHOWN = 10


def _read_json(run: RunDir, name: str) -> dict[str, Any] | None:
    p = run.path / "issues" / name
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def _labels_by_id(run: RunDir) -> dict[Any, Any]:
    try:
        table = run.read_table(with_scores=False)
    except RunDirError:  # no stored table: show values without labels
        return {}
    if not table.has("label"):
        return {}
    return dict(zip(table.row_id.tolist(), np.asarray(table.labels).tolist()))


def _value_blocks(run: RunDir) -> list[Block]:
    scores = run.read_scores()
    present = [c for c in VALUE_COLUMNS if c in scores.columns]
    if not present:
        return []
    labels = _labels_by_id(run)
    blocks: list[Block] = []
    for col in present:
        s = scores[["row_id", col]].dropna()
        order = np.argsort(s[col].to_numpy(), kind="stable")
        ids, vals = s["row_id"].to_numpy(), s[col].to_numpy()
        rows = []
        picks = [("top", p) for p in order[::-1][:N_SHOWN]] + [("lowest", p) for p in order[:N_SHOWN]]
        for tag, pos in picks:
            rid = ids[pos].item() if isinstance(ids[pos], np.generic) else ids[pos]
            rows.append([tag, rid, labels.get(rid, ""), f"{vals[pos]:.4g}"])
        blocks.append(TableBlock(
            ["", "row_id", "label", "value"], rows,
            caption=f"{col}: the {N_SHOWN} highest- and lowest-valued of {len(s)} rows "
            f"(mean {vals.mean():.4g}, min {vals.min():.4g}, max {vals.max():.4g}).",
        ))
    return blocks


def _issue_blocks(run: RunDir) -> list[Block]:
    blocks: list[Block] = []
    scores = run.read_scores()
    flags = [c for c in ("flag.label_issue", "flag.near_duplicate", "flag.outlier") if c in scores.columns]
    if flags:
        counts: list[list[Any]] = [
            [c, int(np.nansum(scores[c].to_numpy())), int(scores[c].notna().sum())] for c in flags
        ]
        blocks.append(TableBlock(["flag", "rows flagged", "rows checked"], counts, caption="Data issues found."))
    li = _read_json(run, "label_issues.json")
    if li is not None:
        noise = li["noise"]
        classes = [str(c) for c in noise["classes"]]
        nm = np.asarray(noise["noise_matrix"])
        rows: list[list[Any]] = [
            [f"given {classes[i]}"] + [f"{nm[i, j]:.3f}" for j in range(len(classes))] for i in range(len(classes))
        ]
        blocks.append(TableBlock(
            [""] + [f"true {c}" for c in classes], rows,
            caption="Estimated noise matrix P(given label | true label) by confident learning "
            f"(columns sum to 1); {li['n_issues']} of {li['n_rows']} rows flagged ({li['filter_by']}).",
        ))
        if li.get("worst"):
            rows = [[w["row_id"], w["label"], w["suggested"], f"{w['self_confidence']:.3f}"] for w in li["worst"][:N_SHOWN]]
            blocks.append(TableBlock(["row_id", "given", "suggested", "self-confidence"], rows,
                                     caption="Most likely label errors (lowest self-confidence first)."))
    nd = _read_json(run, "near_duplicates.json")
    if nd is not None:
        if nd["clusters"]:
            rows = [[i, len(c), ", ".join(str(r) for r in c[:12]) + (" ..." if len(c) > 12 else "")]
                    for i, c in enumerate(nd["clusters"][:N_SHOWN])]
            blocks.append(TableBlock(["cluster", "size", "row ids"], rows,
                                     caption=f"Near-duplicate clusters (distance <= {nd['threshold']:.4g}); "
                                     f"{nd['n_pairs']} pairs, {nd['n_flagged']} rows."))
        else:
            blocks.append(Paragraph(f"No near-duplicates within distance {nd['threshold']:.4g}."))
    ol = _read_json(run, "outliers.json")
    if ol is not None:
        blocks.append(Paragraph(
            f"{ol['n_flagged']} outliers: mean distance to the {ol['k']} nearest neighbours above "
            f"the upper Tukey fence {ol['threshold']:.4g}."
        ))
    return blocks


def build(run: RunDir) -> Section | None:
    """Return the "Data values and issues" section, or None when the run has neither."""
    blocks = _value_blocks(run) + _issue_blocks(run)
    if not blocks:
        return None
    return Section("Data values and issues", blocks)
