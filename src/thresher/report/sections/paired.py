"""Report section: paired differences against random and RS2, as a forest plot per fraction.

Reads the evaluation records and the per-test-row predictions stored in the run
directory (``predictions/``) and shows, for every arm and keep fraction, the mean paired
difference in accuracy with its 95% interval (seed and test-sample variance), the
Holm-corrected verdict, and the same against RS2 (a fixed-compute baseline that sees a
fresh random subset every epoch, not a subset) when the run has it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build", "comparisons"]

ORDER = 12
RS2 = "rs2"


def comparisons(run: RunDir) -> dict[str, Any]:
    """Return the paired-comparison tables (vs random, vs RS2, vs full) this run can give."""
    from thresher.evaluate.harness import FULL, PREDICTIONS_DIR, RANDOM
    from thresher.evaluate.paired import compare
    from thresher.evaluate.predictions import Predictions

    records = run.read_evaluation()
    preds = Predictions.load(run.path / PREDICTIONS_DIR)
    if len(records) == 0 or preds is None or "model" not in records.columns:
        return {}
    out = {}
    arms = set(records["arm"])
    for base in (RANDOM, RS2, FULL):
        if base in arms:
            c = compare(records, baseline=base, predictions=preds)
            if len(c):
                out[base] = c
    return out


def _forest(vs_random: Any, vs_rs2: Any | None) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted(vs_random["fraction"].unique())
    arms = sorted(vs_random["arm"].unique(), key=lambda a: (a == RS2, a))
    fig, axes = plt.subplots(1, len(fractions), figsize=(3.6 * len(fractions), 0.45 * len(arms) + 1.4), sharey=True, squeeze=False)
    for ax, f in zip(axes[0], fractions):
        for offset, (table, colour, label) in enumerate(((vs_random, "#225ea8", "vs random"), (vs_rs2, "#d95f02", "vs RS2"))):
            if table is None:
                continue
            sub = table[np.isclose(table["fraction"], f)].set_index("arm")
            for i, arm in enumerate(arms):
                if arm not in sub.index:
                    continue
                r = sub.loc[arm]
                y = i + (0.18 if offset else -0.18) * (vs_rs2 is not None)
                ax.errorbar(100 * r["mean_diff"], y, xerr=[[100 * (r["mean_diff"] - r["ci_low"])], [100 * (r["ci_high"] - r["mean_diff"])]],
                            fmt="o", color=colour, capsize=3, label=label if i == 0 else None)
        ax.axvline(0, color="gray", linewidth=1)
        ax.set_title(f"keep {f:g}")
        ax.set_xlabel("accuracy difference (points)")
        ax.set_yticks(range(len(arms)))
        ax.set_yticklabels([f"{a} (fixed compute)" if a == RS2 else a for a in arms], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return Figure.from_matplotlib(
        fig, "Mean paired difference in test accuracy (percentage points) with its 95% interval, counting seed and "
        "test-sample variance; to the right of the grey line is better than the baseline."
    )


def _cell(r: Any) -> str:
    return f"{100 * r['mean_diff']:+.2f} [{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}]"


def build(run: RunDir) -> Section | None:
    """Return the "Paired evidence" section, or None when the run has no stored predictions."""
    comps = comparisons(run)
    if "random" not in comps:
        return None
    vs_random = comps["random"]
    vs_rs2 = comps.get(RS2)
    vs_full = comps.get("full")
    n_seeds = int(vs_random["n_seeds"].max())
    n_test = int(vs_random["n_test"].max())
    blocks: list[Block] = [
        Paragraph(
            f"Every arm was trained with the same model seeds and scored on the same {n_test} test rows, so each "
            "difference below is paired. Intervals are 95% Student-t intervals from a seed x test-row variance "
            "decomposition (they count training randomness and the test sample, so a deterministic selector still "
            "gets one); verdicts use Holm-adjusted p-values across the arms at each fraction"
            + (f" and need at least 5 seeds (this run has {n_seeds})." if n_seeds < 5 else ".")
            + (" RS2 trains on a fresh random subset every epoch: it is a fixed-compute baseline, not a subset."
               if vs_rs2 is not None or RS2 in set(vs_random["arm"]) else "")
        ),
        _forest(vs_random, vs_rs2),
    ]
    rows = []
    idx_rs2 = None if vs_rs2 is None else vs_rs2.set_index(["arm", "fraction"])
    idx_full = None if vs_full is None else vs_full.set_index(["arm", "fraction"])
    for r in vs_random.sort_values(["fraction", "arm"]).to_dict("records"):
        key = (r["arm"], r["fraction"])
        row = [r["arm"] + (" (fixed compute)" if r["arm"] == RS2 else ""), f"{r['fraction']:g}", r["n_seeds"], _cell(r), r["verdict"]]
        if idx_rs2 is not None:
            s = idx_rs2.loc[key] if key in idx_rs2.index else None
            row += [_cell(s) if s is not None else "", s["verdict"] if s is not None else ""]
        if idx_full is not None:
            s = idx_full.loc[key] if key in idx_full.index else None
            row += [_cell(s) if s is not None else ""]
        rows.append(row)
    cols = ["arm", "fraction", "seeds", "vs random (points, 95% CI)", "verdict"]
    if idx_rs2 is not None:
        cols += ["vs RS2", "verdict vs RS2"]
    if idx_full is not None:
        cols += ["vs full data"]
    blocks.append(TableBlock(cols, rows, "Paired accuracy differences in percentage points."))
    return Section("Paired evidence: each arm against random and RS2", blocks)
