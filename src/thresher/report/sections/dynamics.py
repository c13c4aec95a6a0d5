"""Report section: the data map (confidence vs variability) of a recorded training run.

Reads only the run directory: the per-epoch logits the
:class:`~thresher.signals.recorder.TrainingRecorder` stored under ``<run>/dynamics/``
(Swayamdipta et al., "Dataset Cartography", EMNLP 2020). Summarising stored logits into
per-row means is all it computes; nothing is trained.
"""

from __future__ import annotations

import numpy as np

from thresher.errors import RunDirError
from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 130


def build(run: RunDir) -> Section | None:
    """Return the data-map section, or None when the run recorded no training dynamics."""
    from thresher.signals.recorder import dynamics_signals

    # a recorder used by hand writes <run>/dynamics; the pipeline's `dynamics` signal
    # records under <run>/recordings/dynamics/dynamics
    roots = [run.path, run.path / "recordings" / "dynamics"]
    root = next((r for r in roots if (r / "dynamics" / "meta.json").exists()), None)
    if root is None:
        return None
    try:
        mats = dynamics_signals(root)
    except (RunDirError, OSError, ValueError):  # no completed epoch yet, or a half-written run
        return None
    seen = mats["dyn.seen"] > 0
    n_seen = seen.sum(axis=1)
    ok = n_seen > 0
    if not ok.any():
        return None
    P = np.where(seen, mats["dyn.prob"], np.nan)[ok]
    C = np.where(seen, mats["dyn.correct"], np.nan)[ok]
    conf = np.nanmean(P, axis=1)
    var = np.nanstd(P, axis=1)
    corr = np.nanmean(C, axis=1)
    n_epochs = mats["dyn.prob"].shape[1]
    blocks: list[Block] = [
        Paragraph(
            f"Training dynamics of {int(ok.sum())} rows over {n_epochs} recorded epochs. Easy-to-learn rows "
            "sit top left (high confidence, low variability), hard-to-learn rows (often mislabeled) bottom left, "
            "ambiguous rows to the right."
        )
    ]
    import matplotlib

    matplotlib.use("Agg")  # as the core sections do: render off-screen
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(var, conf, c=corr, s=4, cmap="viridis", alpha=0.6, vmin=0, vmax=1)
    fig.colorbar(sc, ax=ax, label="correctness")
    ax.set_xlabel("variability (std of p(label))")
    ax.set_ylabel("confidence (mean p(label))")
    ax.set_title("Data map")
    blocks.append(Figure.from_matplotlib(fig, caption="Data map (Swayamdipta et al., 2020)."))
    easy = (conf >= 0.75) & (var < 0.2)
    hard = conf < 0.25
    ambiguous = var >= 0.2
    blocks.append(TableBlock(
        ["region", "rows", "share"],
        [[name, int(m.sum()), f"{m.mean():.1%}"] for name, m in
         (("easy (conf >= 0.75, var < 0.2)", easy), ("hard (conf < 0.25)", hard), ("ambiguous (var >= 0.2)", ambiguous))],
        caption="Rows per data-map region.",
    ))
    return Section("Training dynamics", blocks)
