"""The report's core sections: overview, accuracy curves, scores, examples, metrics.

Each ``build_*`` function reads only the run directory (never recomputes a score or
retrains a model) and returns a :class:`Section` or ``None`` when it has nothing to show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["build_overview", "build_curves", "build_scores", "build_examples", "build_metrics", "CORE_BUILDERS"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _seeds(run: RunDir, m: dict[str, Any]) -> list[int]:
    """Seeds of the run: of the stored training runs, else of the recipe or of any step."""
    records = run.read_evaluation()
    if len(records):
        return sorted({int(s) for s in records["seed"]})
    params = m.get("params", {})
    found = params.get("seeds", params.get("run", {}).get("seeds"))
    if found is None:
        steps = m.get("steps", {}).values()
        found = sorted({int(s) for st in steps for s in np.atleast_1d(st.get("seeds", st.get("seed", [])))})
    return [int(s) for s in np.atleast_1d(found)]


def build_overview(run: RunDir) -> Section | None:
    m = run.read_manifest()
    if not m:
        return None
    params = m.get("params", {})
    steps = sorted(m.get("steps", {}).items(), key=lambda kv: str(kv[1].get("finished", "")))
    data = m.get("data", {})
    split = data.get("split", {})
    rows = [
        ["dataset", params.get("dataset", "?")],
        ["rows", m.get("n_rows", "?")],
        ["seeds", ", ".join(str(s) for s in _seeds(run, m)) or "none yet"],
        ["steps done", ", ".join(k for k, _ in steps) or "none yet"],
        ["thresher version", m.get("thresher_version", "?")],
        ["created", m.get("created", "?")],
        ["input fingerprint", str(m.get("input_fingerprint", ""))[:16]],
    ]
    if split.get("how") == "made":
        rows.insert(2, ["split", f"made here: {split['method']}, {split['n_test']} test rows (seed {split['seed']})"])
    elif split.get("how"):
        rows.insert(2, ["split", f"from the {split['how']}: {split.get('n_train', '?')} train, {split.get('n_test', '?')} test rows"])
    if data.get("standardize"):
        rows.insert(3, ["features", "standardised with training-row means and deviations"])
    return Section("Run", [TableBlock(["", ""], rows)])


def build_curves(run: RunDir) -> Section | None:
    from thresher.evaluate.harness import FULL, RANDOM, summarize

    records = run.read_evaluation()
    if len(records) == 0:
        return None
    summary = summarize(records)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    full = summary[summary["arm"] == FULL]
    arms = [a for a in summary["arm"].unique() if a != FULL]
    arms.sort(key=lambda a: (a != RANDOM, a))
    for arm in arms:
        s = summary[summary["arm"] == arm].sort_values("fraction")
        style = {"color": "black", "linestyle": "--", "linewidth": 2} if arm == RANDOM else {}
        ax.plot(s["fraction"], s["mean"], marker="o", label=arm, **style)
        ax.fill_between(s["fraction"], s["ci_low"], s["ci_high"], alpha=0.15, **({"color": "black"} if arm == RANDOM else {}))
    if len(full):
        ax.axhline(float(full["mean"].iloc[0]), color="gray", linestyle=":", label="full data")
    ax.set_xlabel("fraction of training rows kept")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    n_seeds = int(records["seed"].nunique())
    model = str(records["model"].iloc[0]) if "model" in records.columns else "?"
    wide = summary.assign(cell=[f"{m:.4f} ± {(h - lo) / 2:.4f}" for m, lo, h in zip(summary["mean"], summary["ci_low"], summary["ci_high"])])
    table = wide.pivot(index="arm", columns="fraction", values="cell").reset_index()
    table.columns = [str(c) for c in table.columns]
    blocks: list[Block] = [
        Figure.from_matplotlib(fig, f"Test accuracy (mean and 95% CI over {n_seeds} seeds) of model '{model}' trained on each selection, against random selection at the same budget and the full data."),
        TableBlock.from_pandas(table, "Mean accuracy ± half-width of the 95% confidence interval per keep fraction."),
    ]
    rnd = summary[summary["arm"] == RANDOM].set_index("fraction")["mean"]
    wins = []
    for arm in arms:
        if arm == RANDOM:
            continue
        s = summary[summary["arm"] == arm].set_index("fraction")
        better = [f for f in s.index if f in rnd.index and s.loc[f, "ci_low"] > rnd[f]]
        worse = [f for f in s.index if f in rnd.index and s.loc[f, "ci_high"] < rnd[f]]
        wins.append(f"{arm}: above random (CI clear of random's mean) at {better or 'no'} fraction(s); below at {worse or 'no'}.")
    if wins:
        blocks.append(Paragraph(" ".join(wins)))
    return Section("Accuracy versus fraction kept", blocks)


def build_scores(run: RunDir) -> Section | None:
    scores = run.read_scores()
    cols = [c for c in scores.columns if c.startswith("score.")]
    if not cols:
        return None
    plt = _plt()
    n = len(cols)
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.8 * nrows), squeeze=False)
    for ax, c in zip(axes.ravel(), cols):
        v = scores[c].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=40, color="#4477aa")
        ax.set_title(c, fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    desc = scores[cols].describe().T.reset_index().rename(columns={"index": "score"})
    desc = desc[["score", "mean", "std", "min", "50%", "max"]]
    return Section(
        "Score distributions",
        [Figure.from_matplotlib(fig, "Histogram of each stored score column."), TableBlock.from_pandas(desc)],
    )


def build_examples(run: RunDir, n_show: int = 10) -> Section | None:
    table_path = run.path / "table.parquet"
    scores = run.read_scores()
    cols = [c for c in scores.columns if c.startswith("score.")]
    if not table_path.exists() or not cols:
        return None
    table = run.read_table(with_scores=True)
    shape = table.meta.get("image_shape")
    if not shape or "pixels" not in table.matrix_names:
        return None
    plt = _plt()
    pixels = table.matrix("pixels")
    classes = table.meta.get("class_names")
    labels = table.labels if table.has("label") else None
    fig, axes = plt.subplots(2 * len(cols), n_show, figsize=(n_show * 0.9, 2 * len(cols) * 1.05), squeeze=False)
    for ci, c in enumerate(cols):
        v = table.column(c).astype(np.float64)
        ok = np.flatnonzero(np.isfinite(v))
        order = ok[np.argsort(v[ok], kind="stable")]
        for ri, (name, pos) in enumerate((("lowest", order[:n_show]), ("highest", order[::-1][:n_show]))):
            row = 2 * ci + ri
            for j in range(n_show):
                ax = axes[row, j]
                ax.axis("off")
                if j < len(pos):
                    ax.imshow(pixels[pos[j]].reshape(shape), cmap="gray_r")
                    if labels is not None:
                        lab = labels[pos[j]]
                        ax.set_title(str(classes[int(lab)]) if classes else str(lab), fontsize=6)
            axes[row, 0].text(-0.3, 0.5, f"{c}\n{name}", transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=0.15, wspace=0.05, hspace=0.45)
    return Section(
        "Lowest- and highest-scored examples",
        [Figure.from_matplotlib(fig, "For each score: the lowest-scored (top row) and highest-scored (bottom row) training images, titled with their given label.")],
    )


def build_metrics(run: RunDir) -> Section | None:
    metrics = run.read_metrics()
    if not metrics:
        return None
    rows = []
    for key, m in sorted(metrics.items()):
        params = ", ".join(f"{k}={v}" for k, v in sorted(m.get("params", {}).items()) if v is not None)
        rows.append([key, m.get("name", ""), f"{m.get('value', float('nan')):.4f}", params])
    return Section("Set metrics", [TableBlock(["key", "metric", "value", "parameters"], rows)])


CORE_BUILDERS = [
    (0, build_overview),
    (10, build_curves),
    (20, build_scores),
    (30, build_examples),
    (40, build_metrics),
]
