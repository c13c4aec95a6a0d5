"""The ``thresher`` command line: thin wrappers that parse, validate, call the API, print.

The grammar every command shares (options, ``--param NAME.KEY=VALUE``, budgets, seeds,
the default run directory, deprecated spellings) lives in :mod:`thresher.cli._common`.
Extra command groups live in modules of this package that define
``register(app: typer.Typer) -> None``; they are discovered automatically.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table as RichTable

from thresher.cli._common import (
    DataOpt,
    EmbeddingColumnsOpt,
    ExecutorOpt,
    ForceOpt,
    FractionsOpt,
    GroupColumnOpt,
    IdColumnOpt,
    LabelColumnOpt,
    ParamOpt,
    RunOpt,
    SeedOpt,
    SeedsOpt,
    SplitColumnOpt,
    StandardizeOpt,
    TestDataOpt,
    ThreadsOpt,
    Bars,
    console,
    data_run,
    deprecated,
    err,
    params_for,
    parse_fractions,
    parse_params,
    parse_seeds,
    resuming,
    run_dir,
    split_list,
    targets_of,
    threads_context,
    train_rows,
)
from thresher.cli._evaluate import evaluate_cmd, stored_names
from thresher.cli._plain import plain
from thresher.errors import InvalidParameterError, ThresherError

__all__ = ["app", "main", "console", "err", "parse_params"]

app = typer.Typer(
    name="thresher",
    help="Score, value and select training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_Bars = Bars  # the name other command modules used before the grammar moved to _common


def _load_table(data: str, label_column: Optional[str], id_column: Optional[str], embedding_columns: Optional[str]) -> Any:
    """Read ``data`` the way every command does (kept for command modules written against it)."""
    from thresher.data.source import read_data

    return read_data(data, label_column=label_column, id_column=id_column, embedding_columns=embedding_columns).table


def _version(value: bool) -> None:
    if value:
        from thresher import __version__

        console.print(f"thresher {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True, callback=_version),
) -> None:
    """Score, value and select training data."""


@app.command("list")
def list_cmd() -> None:
    """List every registered scorer, selector, metric, signal and reference model."""
    from thresher._registry import METRICS, MODELS, SCORERS, SELECTORS, SIGNALS

    for reg in (SCORERS, SELECTORS, METRICS, SIGNALS, MODELS):
        t = RichTable(title=f"{reg.kind}s", show_lines=False)
        t.add_column("name", style="bold", no_wrap=True)
        t.add_column("description")
        for e in reg:
            t.add_row(e.name, e.description)
        console.print(t)


@app.command()
def score(
    scorer: list[str] = typer.Option(..., "--scorer", "-s", metavar="NAME", help="Scorer registry name (repeatable)."),
    param: list[str] = ParamOpt,
    data: Optional[str] = DataOpt,
    run: Optional[Path] = RunOpt,
    label_column: Optional[str] = LabelColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    group_column: Optional[str] = GroupColumnOpt,
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    split_column: Optional[str] = SplitColumnOpt,
    standardize: bool = StandardizeOpt,
    test_data: Optional[str] = TestDataOpt,
    seed: int = SeedOpt,
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Compute score columns and store them in the run directory's scores.parquet."""
    from thresher._registry import SCORERS
    from thresher.execute.base import get_executor
    from thresher.pipeline import Component, build, run_scores

    targets = targets_of(SCORERS, [(s, s) for s in scorer])
    params = params_for(param, targets, "score")
    rd, table = data_run(
        run, data, command="score", legacy_default="digits", label_column=label_column, id_column=id_column,
        group_column=group_column, embedding_columns=embedding_columns, split_column=split_column,
        standardize=standardize, test_data=test_data,
    )  # fmt: skip
    comps = [Component(s, params[s]) for s in scorer]
    if not force:
        resuming(sum(rd.has_score(build(SCORERS, c).column) for c in comps), len(comps), rd.path, "scores")
    with threads_context(threads), Bars() as bars:
        run_scores(train_rows(table), comps, rd, seed=seed, executor=get_executor(executor), force=force, progress=bars)
    rd.mark_step("scores", {"columns": rd.score_columns(), "seed": seed})
    console.print(f"scores stored in [bold]{rd.scores_path}[/]: {', '.join(rd.score_columns())}")


@app.command()
def select(
    selector: Optional[str] = typer.Option(None, "--selector", "-S", metavar="NAME", help="Selector registry name."),
    selector_old: Optional[str] = typer.Option(None, "-s", hidden=True),
    param: list[str] = ParamOpt,
    run: Optional[Path] = RunOpt,
    fraction: list[str] = FractionsOpt,
    n: list[str] = typer.Option([], "--n", metavar="N", help="Keep N rows: repeat or comma-separate."),
    seed: list[str] = SeedsOpt,
    name: Optional[str] = typer.Option(
        None, "--name", metavar="NAME", help="Name the selection is stored under [default: the selector name]."
    ),
    label_old: Optional[str] = typer.Option(None, "--label", hidden=True),
    out: Optional[Path] = typer.Option(None, "--out", metavar="CSV", help="Also write the selected row ids here."),
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Select rows of a scored run under each budget and seed; store the selections."""
    import pandas as pd

    from thresher._registry import SELECTORS
    from thresher.pipeline import Component, build
    from thresher.select.base import Budget
    from thresher.store.atomic import atomic_path
    from thresher.store.rundir import RunDir, selection_key

    if selector_old is not None:
        deprecated("-s", "`-S`/`--selector`", "select")
        selector = selector or selector_old
    if label_old is not None:
        deprecated("--label", "`--name`", "select")
        name = name or label_old
    if selector is None:
        raise InvalidParameterError("`--selector` of `thresher select` must name a selector; got none.")
    name = name or selector
    budgets = [Budget(fraction=f) for f in parse_fractions(fraction)] + [Budget(n=int(k)) for k in split_list(n)]
    if not budgets:
        raise InvalidParameterError("`thresher select` needs a budget: `--fraction F` or `--n N`; got neither.")
    seeds = parse_seeds(seed) or [0]
    targets = targets_of(SELECTORS, [(name, selector)])
    obj = build(SELECTORS, Component(selector, params_for(param, targets, "select")[name]))
    rd = RunDir(run_dir(run))
    table = train_rows(rd.read_table(with_scores=True, with_signals=True))
    keys = [(selection_key(name, b, s), b, s) for b in budgets for s in seeds]
    if not force:
        resuming(sum(rd.has_selection(k) for k, _, _ in keys), len(keys), rd.path, "selections")
    frames = []
    with threads_context(threads):
        for key, budget, s in keys:
            sel = rd.read_selection(key) if rd.has_selection(key) and not force else obj.select(table, budget, seed=s)
            rd.write_selection(key, sel)
            frames.append(sel.to_pandas().assign(selection=key) if len(keys) > 1 else sel.to_pandas())
            console.print(f"selected {len(sel)} of {table.n_rows} rows -> [bold]{rd.selection_path(key)}[/]")
    rd.mark_step(f"select/{name}", {"selector": selector, "seeds": seeds, "budgets": [b.to_dict() for b in budgets]})
    if out is not None:
        with atomic_path(out) as tmp:
            pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)


@app.command()
def measure(
    metric: str = typer.Option(..., "--metric", "-m", metavar="NAME", help="Metric registry name."),
    param: list[str] = ParamOpt,
    run: Optional[Path] = RunOpt,
    selection: list[str] = typer.Option(
        [], "--selection", metavar="NAME|KEY", help="Stored selection(s) to measure: a key, or a name for all its keys "
        "[default: all training rows]."
    ),
    data: Optional[str] = typer.Option(None, "--data", "-d", metavar="DATA", help="Measure this data instead of a run."),
    reference: Optional[str] = typer.Option(None, "--reference", metavar="DATA", help="Reference data for comparative metrics."),
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    seed: int = SeedOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Compute a set metric on a run (all training rows or stored selections) or on data files."""
    from thresher._registry import METRICS
    from thresher.data.source import read_data
    from thresher.pipeline import Component, build
    from thresher.store.rundir import RunDir

    own = params_for(param, targets_of(METRICS, [(metric, metric)]), "measure")[metric]
    m = build(METRICS, Component(metric, own))
    needs_ref = getattr(m, "needs_reference", False)
    with threads_context(threads):
        if data is not None and run is None:
            table = read_data(data, embedding_columns=embedding_columns).train
            ref = read_data(reference, embedding_columns=embedding_columns).train if reference is not None else None
            console.print_json(data=m.compute(table, reference=ref if needs_ref else None, seed=seed).to_dict())
            return
        rd = RunDir(run_dir(run))
        full = train_rows(rd.read_table(with_scores=True))
        keys = []
        for s in selection:
            keys += [s] if rd.has_selection(s) else [k for k in rd.selection_keys() if k.split("__")[0] == s]
            if not keys:
                raise InvalidParameterError(
                    f"`--selection` must be a stored selection key or name; got {s!r}; stored names are {stored_names(rd)}."
                )
        results = {}
        for key in keys or ["train"]:
            store_key = f"{metric}/{key}"
            if rd.has_metric(store_key) and not force:
                results[key] = rd.read_metrics()[store_key]
                continue
            table = full if key == "train" else full.subset(rd.read_selection(key).row_ids)
            result = m.compute(table, reference=full if needs_ref else None, seed=seed)
            rd.write_metric(store_key, result)
            results[key] = result.to_dict()
    rd.mark_step("metrics", {"seed": seed})
    console.print_json(data=results[keys[0]] if len(results) == 1 and keys else results.get("train", results))


app.command("evaluate")(evaluate_cmd)


@app.command()
def report(run: Optional[Path] = RunOpt) -> None:
    """Write the HTML report of a run directory (from stored artifacts only)."""
    from thresher.report.html import write_report

    path = write_report(run_dir(run))
    console.print(f"report: [bold]{path.resolve()}[/]")


@app.command("run")
def run_cmd(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe TOML file."),
    run: Optional[Path] = RunOpt,
    executor: Optional[str] = typer.Option(None, "--executor", metavar="local|ray", help="Override the recipe's executor."),
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Run every step of a recipe (resumes work already stored in the run directory)."""
    from thresher.pipeline import load_recipe

    _run(load_recipe(recipe), run_dir(run), force, executor, threads)


@app.command()
def demo(
    run: Path = typer.Option(Path("runs/demo"), "--run", "-r", metavar="DIR", help="Run directory."),
    dataset: str = typer.Option("digits", "--dataset", metavar="NAME", help="Built-in dataset: digits or fashion-mnist."),
    n_train: Optional[int] = typer.Option(None, "--n-train", metavar="N", help="Fashion-MNIST only: the first N training rows."),
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Run the whole slice on a built-in dataset: score, select, evaluate against random, report."""
    from thresher.pipeline import demo_recipe

    _run(demo_recipe(dataset, n_train), run, force, executor, threads)


def _recipe_progress(recipe: Any, rd: Any) -> tuple[int, int]:
    """Return (stored, total) units of work of ``recipe`` in ``rd``: scores, training runs, metrics."""
    from thresher._registry import SCORERS
    from thresher.pipeline import build
    from thresher.select.base import Budget
    from thresher.store.rundir import selection_key

    columns = [f"score.{c.label}" if c.label else build(SCORERS, c).column for c in recipe.scorers]
    stored_cols = set(rd.score_columns())
    arms = [c.key for c in recipe.selectors] + ["random"]
    jobs = {(a, round(float(f), 6), int(s)) for a in arms for f in recipe.fractions for s in recipe.seeds}
    jobs |= {("full", 1.0, int(s)) for s in recipe.seeds}
    seed0 = recipe.seeds[0] if recipe.seeds else 0
    targets = ["train"] + [selection_key(a, Budget(fraction=f), seed0) for a in arms for f in recipe.fractions]
    metric_keys = {f"{m.key}/{t}" for m in recipe.metrics for t in targets}
    done = sum(c in stored_cols for c in columns) + len(jobs & rd.evaluation_done()) + len(metric_keys & set(rd.read_metrics()))
    return done, len(columns) + len(jobs) + len(metric_keys)


def _run(recipe: Any, run: Path, force: bool, executor: Optional[str], threads: Optional[int]) -> None:
    from thresher.evaluate.harness import summarize
    from thresher.execute.base import get_executor
    from thresher.pipeline import run_recipe
    from thresher.store.rundir import RunDir

    t0 = time.perf_counter()
    if not force and RunDir(run).manifest_path.exists():
        resuming(*_recipe_progress(recipe, RunDir(run)), run)
    ex = get_executor(executor) if executor is not None else None
    with threads_context(threads), Bars() as bars:
        rd = run_recipe(recipe, run, force=force, progress=bars, executor=ex)
    summary = summarize(rd.read_evaluation())
    console.print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    console.print(f"done in {time.perf_counter() - t0:.1f} s; run directory: [bold]{rd.path}[/]")
    console.print(f"report: [bold]{(rd.report_dir / 'index.html').resolve()}[/]")


# ----------------------------------------------------------- extensions
def _register_extensions() -> None:
    pkg = importlib.import_module("thresher.cli")
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"thresher.cli.{info.name}").register(app)


_register_extensions()
plain(app)


def main() -> None:
    """Entry point: run the app; warnings from the library are shown, thresher errors exit with status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ThresherError as exc:  # raised outside a command (e.g. while registering one)
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
