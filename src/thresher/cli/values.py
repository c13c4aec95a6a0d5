"""``thresher values`` and ``thresher issues``: data values and data issues into a run directory.

``values`` computes value scores (``score.<method>``, methods chosen with ``-s``/``--scorer``
like every scorer; sampled semivalues also store their standard errors as
``stderr.<method>``) with the valuation scorers;
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

from thresher.cli._common import (
    DataOpt,
    EmbeddingColumnsOpt,
    ExecutorOpt,
    ForceOpt,
    IdColumnOpt,
    LabelColumnOpt,
    ParamOpt,
    RunOpt,
    SeedOpt,
    SplitColumnOpt,
    StandardizeOpt,
    ThreadsOpt,
    console,
    data_run,
    deprecated,
    params_for,
    resuming,
    targets_of,
    threads_context,
)
from thresher.errors import InvalidParameterError

__all__ = ["register", "ISSUES_DIR"]

ISSUES_DIR = "issues"
_VALUE_METHODS = ("knn_shapley", "data_oob", "tmc_shapley", "beta_shapley", "banzhaf", "loo")


def values_cmd(
    scorer: list[str] = typer.Option(
        [], "--scorer", "-s", metavar="NAME", help=f"Value method: {', '.join(_VALUE_METHODS)} (repeatable) [default: knn_shapley]."
    ),
    method_old: list[str] = typer.Option([], "--method", "-m", hidden=True),
    run: Optional[Path] = RunOpt,
    data: Optional[str] = DataOpt,
    valid: Optional[str] = typer.Option(
        None, "--valid", metavar="SPLIT", help="Split value whose rows are the validation set [default: 'test' when the "
        "data has a split column, else KNN-Shapley values rows against each other]."
    ),
    param: list[str] = ParamOpt,
    label_column: Optional[str] = LabelColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    split_column: Optional[str] = SplitColumnOpt,
    standardize: bool = StandardizeOpt,
    seed: int = SeedOpt,
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Compute data values (KNN-Shapley, Data-OOB, TMC/Beta-Shapley, Banzhaf, LOO) into scores.parquet."""
    from thresher._registry import SCORERS
    from thresher.execute.base import get_executor

    if method_old:
        deprecated("--method/-m", "`-s`/`--scorer`", "values")
    methods = [*scorer, *method_old] or ["knn_shapley"]
    for m in methods:
        if m not in _VALUE_METHODS:
            raise InvalidParameterError(f"`--scorer` of `thresher values` must be one of {', '.join(_VALUE_METHODS)}; got {m!r}.")
    params = params_for(param, targets_of(SCORERS, [(m, m) for m in methods]), "values")
    rd, table = data_run(
        run, data, command="values", label_column=label_column, id_column=id_column,
        embedding_columns=embedding_columns, split_column=split_column, standardize=standardize,
    )  # fmt: skip
    has_split = table.has("split")
    split_name = valid if valid is not None else ("test" if has_split else None)
    if has_split and split_name is not None and not np.any(np.asarray(table.column("split")).astype(str) == split_name):
        raise InvalidParameterError(f"`--valid` must be a value of the split column; got {split_name!r}.")
    if not force:
        resuming(sum(rd.has_score(f"score.{m}") for m in methods), len(methods), rd.path, "value scores")
    ex = get_executor(executor)
    for m in methods:
        if rd.has_score(f"score.{m}") and not force:
            continue
        own = dict(params[m])
        if m != "data_oob":
            own.setdefault("valid", split_name)
        if "executor" in SCORERS.get(m).__init__.__code__.co_varnames:
            own["executor"] = ex
        scorer_obj = SCORERS.create(m, **own)
        with threads_context(threads):
            if m == "data_oob" and has_split:  # Data-OOB needs no validation set: score the training rows only
                sub = table.take(np.asarray(table.column("split")).astype(str) != (split_name or "test"))
                values, ids = scorer_obj.score(sub, seed=seed), sub.row_id
            else:
                values, ids = scorer_obj.score(table, seed=seed), table.row_id
        keep = ~np.isnan(values)
        rd.write_scores(ids[keep], {scorer_obj.column: values[keep]})
        stderr = getattr(scorer_obj, "stderr_", None)
        if stderr is not None:  # sampled semivalues: store the standard errors next to the values
            ok = ~np.isnan(stderr)
            rd.write_scores(scorer_obj.row_ids_[ok], {f"stderr.{m}": stderr[ok]})
        rd.mark_step(f"values/{m}", {"params": {k: v for k, v in own.items() if k != "executor"}, "seed": seed})
        console.print(
            f"{scorer_obj.column}: {int(keep.sum())} rows valued; mean {np.mean(values[keep]):.4g}, "
            f"min {np.min(values[keep]):.4g}, max {np.max(values[keep]):.4g}"
        )
    console.print(f"stored in [bold]{rd.scores_path}[/]")


def issues_cmd(
    run: Optional[Path] = RunOpt,
    data: Optional[str] = DataOpt,
    split: Optional[str] = typer.Option(
        "train", "--split", metavar="SPLIT", help="Only rows with this split value (ignored without a split column)."
    ),
    filter_by: str = typer.Option("prune_by_noise_rate", "--filter-by", metavar="RULE", help="Confident-learning pruning rule."),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", metavar="X", help="Near-duplicate distance [default: 0.13 x median NN distance]."
    ),
    outlier_k: int = typer.Option(10, "--outlier-k", metavar="K", help="Neighbours of the outlier score."),
    label_column: Optional[str] = LabelColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    split_column: Optional[str] = SplitColumnOpt,
    standardize: bool = StandardizeOpt,
    seed: int = typer.Option(0, "--seed", metavar="SEED", help="Seed of the out-of-fold probabilities."),
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Find label issues, near-duplicates and outliers; store flag.* columns and details in the run."""
    rd, table = data_run(
        run, data, command="issues", label_column=label_column, id_column=id_column,
        embedding_columns=embedding_columns, split_column=split_column, standardize=standardize,
    )  # fmt: skip
    if not force and "issues" in rd.read_manifest().get("steps", {}) and rd.has_score("flag.outlier"):
        resuming(1, 1, rd.path, "issue reports")
        return
    if table.has("split") and split is not None:
        table = table.take(np.asarray(table.column("split")).astype(str) == split)
    ids = table.row_id
    out_dir = rd.path / ISSUES_DIR
    with threads_context(threads):
        _issues(rd, table, ids, out_dir, filter_by, threshold, outlier_k, seed)
    rd.mark_step("issues", {"filter_by": filter_by, "seed": seed})


def _issues(rd: Any, table: Any, ids: Any, out_dir: Path, filter_by: str, threshold: Optional[float], outlier_k: int,
            seed: int) -> None:  # fmt: skip
    from thresher.scores.issues import find_near_duplicates, find_outliers
    from thresher.scores.labels import find_label_issues
    from thresher.signals.oof import label_codes, out_of_fold_probs
    from thresher.store.atomic import write_json

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


def _with_classes(table: Any, classes: np.ndarray) -> Any:
    from thresher.data.table import Table

    return Table(table.row_id, columns={"label": table.labels}, meta={"classes": np.asarray(classes).tolist()})


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def register(app: typer.Typer) -> None:
    """Add ``thresher values`` and ``thresher issues``."""
    app.command("values")(values_cmd)
    app.command("issues")(issues_cmd)
