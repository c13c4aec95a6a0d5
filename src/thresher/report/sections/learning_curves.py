"""Report section: a power-law learning curve per arm, extrapolated, with "rows for X%" answers.

Fits ``acc(n) = c - a n^-b`` (:mod:`thresher.evaluate.curves`) to each arm's stored
(training rows, accuracy) points, the full-data runs included as every arm's largest
size, with a bootstrap over seeds; arms measured at fewer than three sizes are skipped.
"""

from __future__ import annotations

import numpy as np

from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 16
TARGETS = (0.95, 0.99)


def build(run: RunDir) -> Section | None:
    """Return the "Learning curves" section, or None when no arm has three sizes."""
    from thresher.evaluate.curves import fit_arm_curves

    records = run.read_evaluation()
    if len(records) == 0 or "n_train" not in records.columns:
        return None
    fits = fit_arm_curves(records, n_boot=100)
    if not fits:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = records[records["arm"] == "full"]
    n_full = int(full["n_train"].max()) if len(full) else int(records["n_train"].max())
    acc_full = float(full["accuracy"].mean()) if len(full) else float("nan")
    arms = sorted(fits)
    ncols = min(3, len(arms))
    nrows = (len(arms) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    grid = np.geomspace(max(1, int(records["n_train"].min()) // 2), n_full * 2, 60)
    rows = []
    for ax, arm in zip(axes.ravel(), arms):
        f = fits[arm]
        pts = records[records["arm"].isin([arm, "full"])]
        ax.scatter(pts["n_train"], pts["accuracy"], s=10, color="#225ea8")
        lo, hi = f.predict_interval(grid)
        ax.fill_between(grid, lo, hi, alpha=0.2, color="#225ea8")
        ax.plot(grid, f.predict(grid), color="#225ea8")
        if np.isfinite(acc_full):
            ax.axhline(acc_full, color="gray", linestyle=":")
        ax.set_xscale("log")
        ax.set_title(arm, fontsize=9)
        ax.set_xlabel("training rows")
        need = [f.rows_for(t * acc_full) if np.isfinite(acc_full) else float("nan") for t in TARGETS]
        rows.append([
            arm, f"{f.c:.4f} [{f.c_ci[0]:.4f}, {f.c_ci[1]:.4f}]", f"{f.b:.3f}", f"{float(f.predict(n_full)):.4f}",
            *[("never" if not np.isfinite(v) else f"{v:,.0f}") for v in need],
        ])
    for ax in axes.ravel()[len(arms):]:
        ax.axis("off")
    fig.tight_layout()
    blocks: list[Block] = [
        Paragraph(
            "Each arm's test accuracy against the number of training rows it kept, with the fitted power law "
            "acc(n) = c - a n^-b (least squares) and a 95% bootstrap band over seeds; the dotted line is full-data "
            "accuracy. Extrapolations beyond the measured sizes are model-based, not measured."
        ),
        Figure.from_matplotlib(fig, "Learning curve per arm (full-data runs included as the largest size)."),
        TableBlock(
            ["arm", "c [95% CI]", "b", f"fit, n={n_full:,}", *[f"rows for {int(100 * t)}%" for t in TARGETS]],
            rows,
            "c: fitted asymptote; b: exponent; rows for X%: training rows the fit needs for X% of full-data accuracy.",
        ),
    ]
    return Section("Learning curves", blocks)
