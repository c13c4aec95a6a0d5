"""The ``thresher`` command line: thin wrappers that parse, validate, call the API, print.

Extra command groups live in modules of this package that define
``register(app: typer.Typer) -> None``; they are discovered automatically.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import tomllib
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from thresher.errors import ThresherError

app = typer.Typer(
    name="thresher",
    help="Score, value and select training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err = Console(stderr=True)

RunOpt = typer.Option(Path("runs/default"), "--run", "-r", help="Run directory (created if absent).")
ForceOpt = typer.Option(False, "--force", help="Discard stored results and recompute.")
ParamOpt = typer.Option([], "--param", "-p", help="Constructor parameter KEY=VALUE (TOML value syntax; repeatable).")


def parse_params(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; values use TOML syntax, falling back to plain strings.

    Examples
    --------
    >>> parse_params(["k=5", "by=score.margin", "q=0.5", "largest=false"])
    {'k': 5, 'by': 'score.margin', 'q': 0.5, 'largest': False}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"`--param` must look like KEY=VALUE; got {item!r}.")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


class _Bars:
    """Progress bars for the library's ``progress(step, done, total)`` callbacks."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


def _load_table(data: str, label_column: Optional[str], id_column: Optional[str], embedding_columns: Optional[str]) -> Any:
    from thresher.data.datasets import DATASETS, load_dataset
    from thresher.data.io import read_table

    if data in DATASETS:
        return load_dataset(data)
    return read_table(
        data,
        label_column=label_column,
        id_column=id_column,
        embedding_columns=embedding_columns,
    )


@app.command("list")
def list_cmd() -> None:
    """List every registered scorer, selector, metric, signal, reference model and evaluation arm."""
    from thresher._registry import ARMS, METRICS, MODELS, SCORERS, SELECTORS, SIGNALS

    for reg in (SCORERS, SELECTORS, METRICS, SIGNALS, MODELS, ARMS):
        t = RichTable(title=f"{reg.kind}s", show_lines=False)
        t.add_column("name", style="bold")
        t.add_column("description")
        for e in reg:
            t.add_row(e.name, e.description)
        console.print(t)


@app.command()
def score(
    data: str = typer.Option("digits", "--data", "-d", help="Built-in dataset name or a data file."),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="Scorer registry name (repeatable)."),
    param: list[str] = ParamOpt,
    run: Path = RunOpt,
    label_column: Optional[str] = typer.Option(None, help="Label column of a data file."),
    id_column: Optional[str] = typer.Option(None, help="Id column of a data file."),
    embedding_columns: Optional[str] = typer.Option(None, help="Embedding column(s) of a data file, e.g. 'x*'."),
    seed: int = typer.Option(0, help="Seed."),
    executor: str = typer.Option("local", help="'local' or 'ray'."),
    force: bool = ForceOpt,
) -> None:
    """Compute score columns and store them in the run directory's scores.parquet."""
    from thresher.execute.base import get_executor
    from thresher.pipeline import Component, run_scores
    from thresher.store.rundir import RunDir

    table = _load_table(data, label_column, id_column, embedding_columns)
    rd = RunDir(run)
    rd.open(table, {"dataset": data, "step": "score"}, force=False)
    train = table.take(table.column("split") == "train") if table.has("split") else table
    params = parse_params(param)
    comps = [Component(s, params) for s in scorer]
    with _Bars() as bars:
        run_scores(train, comps, rd, seed=seed, executor=get_executor(executor), force=force, progress=bars)
    console.print(f"scores stored in [bold]{rd.scores_path}[/]: {', '.join(rd.score_columns())}")


@app.command()
def select(
    selector: str = typer.Option(..., "--selector", "-s", help="Selector registry name."),
    param: list[str] = ParamOpt,
    run: Path = RunOpt,
    fraction: Optional[float] = typer.Option(None, help="Keep this fraction of rows."),
    n: Optional[int] = typer.Option(None, help="Keep this many rows."),
    seed: int = typer.Option(0, help="Seed."),
    label: Optional[str] = typer.Option(None, help="Name of the selection (default: the selector name)."),
    out: Optional[Path] = typer.Option(None, help="Also write the selected row ids to this CSV."),
) -> None:
    """Select rows of a scored run directory under a budget; store the selection."""
    from thresher._registry import SELECTORS
    from thresher.pipeline import Component, build
    from thresher.select.base import Budget
    from thresher.store.atomic import atomic_path
    from thresher.store.rundir import RunDir, selection_key

    rd = RunDir(run)
    table = rd.read_table(with_scores=True, with_signals=True)
    if table.has("split"):
        table = table.take(table.column("split") == "train")
    budget = Budget(n=n, fraction=fraction)
    sel = build(SELECTORS, Component(selector, parse_params(param))).select(table, budget, seed=seed)
    key = selection_key(label or selector, budget, seed)
    rd.write_selection(key, sel)
    if out is not None:
        with atomic_path(out) as tmp:
            sel.to_pandas().to_csv(tmp, index=False)
    console.print(f"selected {len(sel)} of {table.n_rows} rows -> [bold]{rd.selection_path(key)}[/]")


@app.command()
def measure(
    metric: str = typer.Option(..., "--metric", "-m", help="Metric registry name."),
    param: list[str] = ParamOpt,
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run directory to measure."),
    selection: Optional[str] = typer.Option(None, help="Measure this stored selection (key) instead of all rows."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Data file (or built-in dataset) to measure."),
    reference: Optional[str] = typer.Option(None, help="Reference data file for comparative metrics."),
    embedding_columns: Optional[str] = typer.Option(None, help="Embedding column(s) of data files."),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """Compute a set metric on a run directory (optionally one selection) or on data files."""
    from thresher._registry import METRICS
    from thresher.pipeline import Component, build
    from thresher.store.rundir import RunDir

    m = build(METRICS, Component(metric, parse_params(param)))
    ref_table = None
    if run is not None:
        rd = RunDir(run)
        full = rd.read_table(with_scores=True)
        full = full.take(full.column("split") == "train") if full.has("split") else full
        table = full.subset(rd.read_selection(selection).row_ids) if selection else full
        ref_table = full
    elif data is not None:
        table = _load_table(data, None, None, embedding_columns)
        if reference is not None:
            ref_table = _load_table(reference, None, None, embedding_columns)
    else:
        raise typer.BadParameter("give `--run` or `--data`.")
    result = m.compute(table, reference=ref_table if getattr(m, "needs_reference", False) else None, seed=seed)
    if run is not None:
        RunDir(run).write_metric(f"{metric}/{selection or 'train'}", result)
    console.print_json(data=result.to_dict())


@app.command("evaluate")
def evaluate_cmd(
    selector: list[str] = typer.Option([], "--selector", "-s", help="LABEL=NAME or NAME; params via --param NAME.KEY=VALUE."),
    param: list[str] = ParamOpt,
    run: Path = RunOpt,
    fractions: str = typer.Option("0.1,0.3,0.5,0.7", help="Comma-separated keep fractions."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    model: str = typer.Option("logreg", help="Reference model registry name."),
) -> None:
    """Train the reference model on each selector's rows and on random rows; store accuracies."""
    from thresher.evaluate.harness import evaluate, make_arm, summarize
    from thresher.store.rundir import RunDir

    rd = RunDir(run)
    full = rd.read_table(with_scores=True)
    if not full.has("split"):
        raise typer.BadParameter("the run's data needs a `split` column with 'train' and 'test' rows.")
    train, test = full.take(full.column("split") == "train"), full.take(full.column("split") == "test")
    params = parse_params(param)
    arms = []
    for spec in selector:
        label, _, name = spec.rpartition("=")
        name = name or spec
        own = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"{label or name}.")}
        arms.append(make_arm(name, own, label or None, rd))
    with _Bars() as bars:
        df = evaluate(
            train,
            test,
            arms,
            [float(f) for f in fractions.split(",")],
            [int(s) for s in seeds.split(",")],
            model,
            run_dir=rd,
            on_progress=lambda i, n: bars("evaluate", i, n),
        )
    console.print(summarize(df).to_string(index=False))


@app.command()
def report(run: Path = RunOpt) -> None:
    """Write the HTML report of a run directory (from stored artifacts only)."""
    from thresher.report.html import write_report

    console.print(f"report: [bold]{write_report(run)}[/]")


@app.command("run")
def run_cmd(
    recipe: Path = typer.Argument(..., help="Recipe TOML file."),
    run: Path = RunOpt,
    force: bool = ForceOpt,
) -> None:
    """Run every step of a recipe (resumes work already stored in the run directory)."""
    from thresher.pipeline import load_recipe

    _run(load_recipe(recipe), run, force)


@app.command()
def demo(
    run: Path = typer.Option(Path("runs/demo"), "--run", "-r", help="Run directory."),
    dataset: str = typer.Option("digits", help="Built-in dataset ('digits' or 'fashion-mnist')."),
    n_train: Optional[int] = typer.Option(None, help="Fashion-MNIST only: keep the first N training rows."),
    force: bool = ForceOpt,
) -> None:
    """Run the whole slice on a built-in dataset: score, select, evaluate against random, report."""
    from thresher.pipeline import demo_recipe

    _run(demo_recipe(dataset, n_train), run, force)


def _run(recipe: Any, run: Path, force: bool) -> None:
    import time

    from thresher.evaluate.harness import summarize
    from thresher.pipeline import run_recipe

    t0 = time.perf_counter()
    with _Bars() as bars:
        rd = run_recipe(recipe, run, force=force, progress=bars)
    summary = summarize(rd.read_evaluation())
    console.print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    console.print(f"done in {time.perf_counter() - t0:.1f} s; run directory: [bold]{rd.path}[/]")
    console.print(f"report: [bold]{(rd.report_dir / 'index.html').resolve()}[/]")


def _register_extensions() -> None:
    pkg = importlib.import_module("thresher.cli")
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"thresher.cli.{info.name}").register(app)


_register_extensions()


def main() -> None:
    """Entry point: run the app, turning thresher errors into one clear line and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ThresherError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
