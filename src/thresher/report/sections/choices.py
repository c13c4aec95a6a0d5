"""Report section: the models and weights thresher chose for this run.

Reads only the run directory: the ``probs`` signal's metadata (``signals/meta.json``:
``oof_model`` and, when it was chosen automatically, every candidate's cross-validated
log-loss and Brier score) and the manifest steps ``score:<column>`` where scorers
recorded what they learned (e.g. ``fuse`` weights).
"""

from __future__ import annotations

from typing import Any

from thresher.report.model import Block, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 110


def _oof_blocks(meta: dict[str, Any]) -> list[Block]:
    if "oof_model" not in meta:
        return []
    choice = meta.get("oof_choice")
    if not choice:
        return [Paragraph(f"Out-of-fold probabilities: {meta['oof_model']} (fixed by the user).")]
    rows = [
        [name, f"{choice['log_loss'][name]:.4f}", f"{choice['brier'][name]:.4f}", "chosen" if name == choice["name"] else ""]
        for name in sorted(choice["log_loss"], key=lambda k: choice[choice["criterion"]][k])  # best first
    ]
    return [TableBlock(
        ["model", "CV log-loss", "CV Brier", ""], rows,
        caption=f"Out-of-fold probabilities: {choice['name']}, chosen by cross-validated {choice['criterion']} "
        f"({choice['n_splits']} folds on {choice['n_rows']} rows).",
    )]


def _weight_blocks(manifest: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for step, info in sorted(manifest.get("steps", {}).items()):
        if not step.startswith("score:") or "weights" not in info:
            continue
        cols = info.get("columns") or list(info["weights"])  # JSON may reorder the weights' keys
        hib = info.get("higher_is_better") or [None] * len(cols)
        rows = [[c, f"{info['weights'][c]:+.4f}", {True: "higher", False: "lower", None: ""}[h]]
                for c, h in zip(cols, hib)]
        extra = ""
        if "meta_rater" in info:
            mr = info["meta_rater"]
            extra = f"; Meta-rater fit over {mr.get('n_proxies', len(mr['losses']))} proxies, R² {mr['r2']:.3f}"
        blocks.append(TableBlock(["column", "weight", "better when"], rows,
                                 caption=f"{step[len('score:'):]}: method {info.get('method')}{extra}."))
    return blocks


def build(run: RunDir) -> Section | None:
    """Return the section, or ``None`` when the run recorded no choice."""
    blocks = _oof_blocks(run.read_signal_meta())
    blocks += _weight_blocks(run.read_manifest())
    return Section("Models and weights chosen", blocks) if blocks else None
