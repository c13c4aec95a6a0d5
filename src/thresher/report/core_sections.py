"""The report's core sections: overview, accuracy curves, scores, examples, metrics.

Each ``build_*`` function reads only the run directory (never recomputes a score or
retrains a model) and returns a :class:`Section` or ``None`` when it has nothing to show.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from thresher.report.model import Block, Figure, Paragraph, Section, TableBlock
from thresher.report.palette import FULL_COLOR, line_style, run_palette
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
    from thresher.evaluate.harness import FULL, PREDICTIONS_DIR, RANDOM, summarize
    from thresher.evaluate.predictions import Predictions

    records = run.read_evaluation()
    if len(records) == 0:
        return None
    preds = Predictions.load(run.path / PREDICTIONS_DIR)
    summary = summarize(records, predictions=preds)
    palette = run_palette(run)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    full = summary[summary["arm"] == FULL]
    arms = [a for a in summary["arm"].unique() if a != FULL]
    arms.sort(key=lambda a: (a != RANDOM, a))
    for arm in arms:
        s = summary[summary["arm"] == arm].sort_values("fraction")
        style = line_style(arm, palette)
        ax.plot(s["fraction"], s["mean"], marker="o", label=arm, **style)
        ax.fill_between(s["fraction"], s["ci_low"], s["ci_high"], alpha=0.15, color=style["color"], linewidth=0)
    if len(full):
        ax.axhline(float(full["mean"].iloc[0]), color=FULL_COLOR, linestyle=":", label="full data")
    ax.set_xlabel("fraction of training rows kept")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    n_seeds = int(records["seed"].nunique())
    model = str(records["model"].iloc[0]) if "model" in records.columns else "?"
    part = summary[summary["arm"] != FULL]
    cells = [f"{m:.4f} [{lo:.4f}, {h:.4f}]" for m, lo, h in zip(part["mean"], part["ci_low"], part["ci_high"])]
    table = part.assign(cell=cells).pivot(index="arm", columns="fraction", values="cell").reset_index()
    table.columns = [str(c) for c in table.columns]
    caption = ("Mean test accuracy [95% interval, inside 0-1; seeds and test rows counted when predictions are "
               "stored] per keep fraction.")
    if len(full):
        f = full.iloc[0]
        n_full = int(records.loc[records["arm"] == FULL, "n_train"].iloc[0]) if "n_train" in records.columns else None
        rows = f" ({n_full} rows)" if n_full else ""
        caption += f" Full training data{rows}: {f['mean']:.4f} [{f['ci_low']:.4f}, {f['ci_high']:.4f}]."
    blocks: list[Block] = [
        Figure.from_matplotlib(fig, f"Test accuracy (mean and 95% CI over {n_seeds} seeds) of model '{model}' trained on each selection, against random selection at the same budget and the full data."),
        TableBlock.from_pandas(table, caption),
    ]
    verdict = _verdicts(records, preds)
    if verdict:
        blocks.append(Paragraph(verdict))
    return Section("Accuracy versus fraction kept", blocks)


def _join(values: list[str]) -> str:
    """``["0.1", "0.3", "0.5"]`` -> ``"0.1, 0.3 and 0.5"``."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} and {values[-1]}"


def _verdicts(records: Any, preds: Any) -> str:
    """Say where each arm is better or worse than random by the paired, Holm-corrected test."""
    if preds is None:
        return "No per-test-row predictions are stored, so no paired verdict against random is given."
    from thresher.evaluate.paired import compare

    c = compare(records, predictions=preds)
    if len(c) == 0:
        return "No arm shares seeds with random, so no paired verdict is given."
    out = []
    for arm, g in c.groupby("arm", sort=True):
        better = [f"{f:g}" for f, v in zip(g["fraction"], g["verdict"]) if v == "better"]
        worse = [f"{f:g}" for f, v in zip(g["fraction"], g["verdict"]) if v == "worse"]
        few = any(v.startswith("too few") for v in g["verdict"])
        if all(v.startswith("too few") for v in g["verdict"]):
            out.append(f"{arm}: too few seeds for a verdict (at least 5 are needed).")
            continue
        parts = ([f"better than random at {_join(better)}"] if better else []) + (
            [f"worse {'' if better else 'than random '}at {_join(worse)}"] if worse else [])
        text = " and ".join(parts) if parts else "no detectable difference from random at any fraction with a verdict"
        out.append(f"{arm}: {text}" + (" (too few seeds for a verdict at some fractions)" if few else "") + ".")
    return ("Paired verdicts (95% interval of the paired difference, Holm-corrected; see Paired evidence): " + " ".join(out))


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
    fig, axes = plt.subplots(2 * len(cols), n_show, figsize=(n_show * 1.0, 2 * len(cols) * 1.25), squeeze=False)
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
                        ax.set_title(str(classes[int(lab)]) if classes else str(lab), fontsize=11)
            axes[row, 0].text(-0.2, 0.5, f"{c}\n{name}", transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(left=0.2, wspace=0.08, hspace=0.5)
    return Section(
        "Lowest- and highest-scored examples",
        [Figure.from_matplotlib(fig, "For each score: the lowest-scored (top row) and highest-scored (bottom row) training images, titled with their given label.")],
    )


_TARGET = re.compile(r"^(?P<arm>.+?)__(?:f=(?P<f>[0-9.eE+-]+)|n=(?P<n>\d+))(?:__cost=[^_]+)?(?:__s=(?P<s>-?\d+))?$")


def _target(key: str) -> tuple[str, str, str]:
    """Split a metric target (``train`` or a selection key) into (selection, budget, seed)."""
    if key == "train":
        return "all training rows", "1", ""
    m = _TARGET.match(key)
    if not m:
        return key, "", ""
    return m["arm"], m["f"] or f"n={m['n']}", m["s"] or ""


def build_metrics(run: RunDir) -> Section | None:
    metrics = run.read_metrics()
    if not metrics:
        return None
    values: dict[tuple[str, str, str], dict[str, str]] = {}
    params: dict[str, str] = {}
    for key, m in sorted(metrics.items()):
        metric, _, target = key.partition("/")
        v = m.get("value")
        cell = f"{v:.4f}" if isinstance(v, (int, float)) and np.isfinite(v) else "—"
        err = (m.get("details") or {}).get("approx_error")
        if cell != "—" and isinstance(err, (int, float)) and np.isfinite(err):
            # an approximate route prints its measured error beside the value (and a mark when it missed)
            tol = (m.get("details") or {}).get("tolerance")
            missed = isinstance(tol, (int, float)) and err > tol
            cell += f" (approx., error {100 * err:.1f}%{'; above tolerance' if missed else ''})"
        values.setdefault(_target(target or "train"), {})[metric] = cell
        params[metric] = ", ".join(f"{k}={v}" for k, v in sorted(m.get("params", {}).items()) if v is not None)
    names = sorted(params)
    show_seed = len({t[2] for t in values if t[2]}) > 1
    order = sorted(values, key=lambda t: (t[0] != "all training rows", t[0], float(t[1]) if t[1][:1].isdigit() else 0.0))
    rows = [[t[0], t[1], *([t[2]] if show_seed else []), *(values[t].get(n, "—") for n in names)] for t in order]
    head = ["selection", "fraction", *(["seed"] if show_seed else []), *names]
    caption = "Set metrics of each stored selection. " + " ".join(f"{n}: {params[n] or 'defaults'}." for n in names)
    return Section("Set metrics", [TableBlock(head, rows, caption)])


CORE_BUILDERS = [
    (0, build_overview),
    (10, build_curves),
    (20, build_scores),
    (30, build_examples),
    (40, build_metrics),
]
