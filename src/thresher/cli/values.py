"""``thresher values`` and ``thresher issues``: data values and data issues into a run directory.

``values`` computes value scores (``score.<method>``; sampled semivalues also store their
standard errors as ``stderr.<method>``) with the valuation scorers;
``issues`` runs confident learning, near-duplicate and outlier detection and stores the
flags as ``flag.label_issue``, ``flag.near_duplicate``, ``flag.outlier`` (0.0/1.0 float
columns in ``scores.parquet``), their continuous scores, and the details the report shows
(noise matrix, duplicate clusters, thresholds) under ``<run>/issues/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

__all__ = ["register", "ISSUES_DIR"]

ISSUES_DIR = "issues"
_VALUE_METHODS = ("knn_shapley", "data_oob", "tmc_shapley", "beta_shapley", "banzhaf", "loo")


def _open(run: Path, data: Optional[str], label_column: Optional[str], embedding_columns: Optional[str]) -> Any:
    """Return (RunDir, the whole stored table) - from ``data`` (stored first) or from the run."""
    from thresher.cli import _load_table
    from thresher.store.rundir import RunDir

    rd = RunDir(run)
    if data is not None:
        table = _load_table(data, label_column, None, embedding_columns)
        rd.open(table, {"dataset": data, "step": "values/issues"}, force=False)
    return rd, rd.read_table(with_scores=False)


def values_cmd(
    method: list[str] = typer.Option(["knn_shapley"], "--method", "-m", help=f"One of {', '.join(_VALUE_METHODS)} (repeatable)."),
    run: Path = typer.Option(Path("runs/default"), "--run", "-r", help="Run directory (created from --data if absent)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Built-in dataset or data file to store in the run first."),
    valid: Optional[str] = typer.Option(
        None, help="Split value whose rows are the validation set (e.g. 'test'); default: 'test' if the data has a "
        "split column, else KNN-Shapley values rows against each other."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="METHOD.KEY=VALUE or KEY=VALUE (TOML values)."),
    label_column: Optional[str] = typer.Option(None, help="Label column of a data file."),
    embedding_columns: Optional[str] = typer.Option(None, help="Embedding column(s) of a data file."),
    seed: int = typer.Option(0, help="Seed."),
    executor: str = typer.Option("local", help="'local' or 'ray'."),
) -> None:
    """Compute data values (KNN-Shapley, Data-OOB, TMC/Beta-Shapley, Banzhaf, LOO) into scores.parquet."""
    from thresher._registry import SCORERS
    from thresher.cli import console, parse_params
    from thresher.execute.base import get_executor

    rd, table = _open(run, data, label_column, embedding_columns)
    params = parse_params(param)
    has_split = table.has("split")
    split_name = valid if valid is not None else ("test" if has_split else None)
    if has_split and split_name is not None and not np.any(np.asarray(table.column("split")).astype(str) == split_name):
        raise typer.BadParameter(f"`--valid` must be a value of the split column; got {split_name!r}.")
    ex = get_executor(executor)
    for m in method:
        if m not in _VALUE_METHODS:
            raise typer.BadParameter(f"`--method` must be one of {', '.join(_VALUE_METHODS)}; got {m!r}.")
        own = {k: v for k, v in params.items() if "." not in k}
        own.update({k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"{m}.")})
        if m != "data_oob":
            own.setdefault("valid", split_name)
        if "executor" in SCORERS.get(m).__init__.__code__.co_varnames:
            own["executor"] = ex
        scorer = SCORERS.create(m, **own)
        if m == "data_oob" and has_split:  # Data-OOB needs no validation set: score the training rows only
            rows = np.asarray(table.column("split")).astype(str) != (split_name or "test")
            sub = table.take(rows)
            values, ids = scorer.score(sub, seed=seed), sub.row_id
        else:
            values, ids = scorer.score(table, seed=seed), table.row_id
        keep = ~np.isnan(values)
        rd.write_scores(ids[keep], {scorer.column: values[keep]})
        stderr = getattr(scorer, "stderr_", None)
        if stderr is not None:  # sampled semivalues: store the standard errors next to the values
            ok = ~np.isnan(stderr)
            rd.write_scores(scorer.row_ids_[ok], {f"stderr.{m}": stderr[ok]})
        rd.mark_step(f"values/{m}", {"params": {k: v for k, v in own.items() if k != "executor"}, "seed": seed})
        console.print(
            f"{scorer.column}: {int(keep.sum())} rows valued; mean {np.mean(values[keep]):.4g}, "
            f"min {np.min(values[keep]):.4g}, max {np.max(values[keep]):.4g}"
        )
    console.print(f"stored in [bold]{rd.scores_path}[/]")


def issues_cmd(
    run: Path = typer.Option(Path("runs/default"), "--run", "-r", help="Run directory (created from --data if absent)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Built-in dataset or data file to store in the run first."),
    split: Optional[str] = typer.Option("train", help="Only rows with this split value (ignored without a split column)."),
    filter_by: str = typer.Option("prune_by_noise_rate", help="Confident-learning pruning rule."),
    threshold: Optional[float] = typer.Option(None, help="Near-duplicate distance (default: 0.13 x median NN distance)."),
    outlier_k: int = typer.Option(10, help="Neighbours of the outlier score."),
    label_column: Optional[str] = typer.Option(None, help="Label column of a data file."),
    embedding_columns: Optional[str] = typer.Option(None, help="Embedding column(s) of a data file."),
    seed: int = typer.Option(0, help="Seed of the out-of-fold probabilities."),
) -> None:
    """Find label issues, near-duplicates and outliers; store flag.* columns and details in the run."""
    from thresher.cli import console
    from thresher.scores.issues import find_near_duplicates, find_outliers
    from thresher.scores.labels import find_label_issues
    from thresher.signals.oof import label_codes, out_of_fold_probs
    from thresher.store.atomic import write_json

    rd, table = _open(run, data, label_column, embedding_columns)
    if table.has("split") and split is not None:
        table = table.take(np.asarray(table.column("split")).astype(str) == split)
    ids = table.row_id
    out_dir = rd.path / ISSUES_DIR
    if table.has("label"):
        if rd.has_signal("probs") and rd.signal_row_ids() is not None and np.array_equal(rd.signal_row_ids(), ids):
            P = rd.read_signal("probs")
            classes = np.asarray(rd.read_signal_meta().get("classes") or np.unique(table.labels))
        else:
            P, classes = out_of_fold_probs(table, seed=seed)
        codes, _ = label_codes(_with_classes(table, classes), "issues")
        li = find_label_issues(codes, P, filter_by=filter_by, classes=classes)
        rd.write_scores(ids, li.columns())
        worst = li.ranked()[:50]
        write_json(out_dir / "label_issues.json", {
            "filter_by": filter_by, "n_rows": int(len(ids)), "n_issues": li.n_issues,
            "noise": li.noise.to_dict(),
            "worst": [{"row_id": _py(ids[i]), "label": _py(classes[codes[i]]), "suggested": _py(classes[li.suggested[i]]),
                       "self_confidence": float(li.quality[i])} for i in worst],
        })
        console.print(f"label issues: {li.n_issues} of {len(ids)} rows ({filter_by})")
    else:
        logging.getLogger(__name__).warning("no label column: label issues skipped")
    X = table.embeddings
    nd = find_near_duplicates(X, threshold=threshold)
    rd.write_scores(ids, nd.columns())
    write_json(out_dir / "near_duplicates.json", {
        "threshold": nd.threshold, "n_pairs": int(len(nd.pairs)), "n_flagged": int(nd.flags.sum()),
        "clusters": [[_py(ids[i]) for i in c] for c in nd.clusters()[:50]],
    })
    console.print(f"near-duplicates: {len(nd.pairs)} pairs in {nd.n_clusters} clusters (threshold {nd.threshold:.4g})")
    ol = find_outliers(X, k=min(outlier_k, len(ids) - 1))
    rd.write_scores(ids, ol.columns())
    write_json(out_dir / "outliers.json", {"threshold": ol.threshold, "k": outlier_k, "n_flagged": int(ol.flags.sum())})
    console.print(f"outliers: {int(ol.flags.sum())} rows above the kNN-distance fence {ol.threshold:.4g}")
    rd.mark_step("issues", {"filter_by": filter_by, "seed": seed})


def _with_classes(table: Any, classes: np.ndarray) -> Any:
    from thresher.data.table import Table

    return Table(table.row_id, columns={"label": table.labels}, meta={"classes": np.asarray(classes).tolist()})


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def register(app: typer.Typer) -> None:
    """Add ``thresher values`` and ``thresher issues``."""
    app.command("values")(values_cmd)
    app.command("issues")(issues_cmd)
