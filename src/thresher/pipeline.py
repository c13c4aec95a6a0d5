"""The end-to-end run: data -> signals -> scores -> selections/evaluation -> metrics -> report.

A :class:`Recipe` (usually read from TOML) names the dataset, the signals, scorers,
selectors and metrics by registry name with their parameters, and the evaluation grid.
:func:`run_recipe` executes it in a run directory; every step first checks what the
directory already holds, so a re-run skips finished work and a killed run resumes.

Recipe TOML::

    [data]
    dataset = "digits"            # a built-in dataset, or:
    # path = "rows.csv"           # relative to the recipe file; keys: thresher.data.source.DataSpec
    # label_column = "y"          # + id_column / group_column / embedding_columns / standardize ...
    # test_path = "test.csv"      # else a `split` column, else a stratified split is made
    [run]
    seeds = [0, 1, 2]
    fractions = [0.1, 0.3, 0.5, 0.7]
    model = "logreg"
    executor = "local"            # or "ray"
    threads = 2                   # BLAS/torch threads of every step (default: the machine's cores)
    [[signals]]
    name = "probs"                # out-of-fold probabilities
    [[scorers]]
    name = "margin"
    [[selectors]]
    name = "topk"
    label = "easy-margin"         # arm name in results (default: the registry name)
    by = "score.margin"
    [[metrics]]
    name = "vendi"
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import METRICS, SCORERS, SELECTORS, SIGNALS
from thresher._threads import threads, threads_active
from thresher._validation import check_int
from thresher.data.source import DataSpec, LoadedData, read_data
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, get_executor
from thresher.select.base import Budget
from thresher.store.rundir import RunDir, selection_key

__all__ = ["Recipe", "Component", "load_recipe", "demo_recipe", "run_recipe", "ensure_signals", "build", "load_data", "open_run"]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Component:
    """A registry entry by name with its constructor parameters (and an optional label)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> Component:
        if "name" not in d:
            raise InvalidParameterError(f"each entry of `{where}` in a recipe must have a `name`; got {d!r}.")
        params = {k: v for k, v in d.items() if k not in ("name", "label")}
        return cls(str(d["name"]), params, d.get("label"))


@dataclass(frozen=True)
class Recipe:
    """Everything a run does, by name; see the module docstring for the TOML form."""

    data: dict[str, Any]
    signals: list[Component]
    scorers: list[Component]
    selectors: list[Component]
    metrics: list[Component]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    fractions: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7])
    model: str = "logreg"
    executor: str = "local"
    base_dir: str | None = None  # the recipe file's folder: relative data paths are read from there
    threads: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], base_dir: str | Path | None = None) -> Recipe:
        known = {"data", "run", "signals", "scorers", "selectors", "metrics"}
        unknown = set(d) - known
        if unknown:
            raise InvalidParameterError(
                f"recipe sections must be among {sorted(known)}; got unknown {sorted(unknown)}."
            )
        run = dict(d.get("run", {}))
        run_known = {"seeds", "fractions", "model", "executor", "threads"}
        if set(run) - run_known:
            raise InvalidParameterError(f"`[run]` keys must be among {sorted(run_known)}; got {sorted(set(run) - run_known)}.")
        if "data" not in d:
            raise InvalidParameterError("a recipe must have a `[data]` section; got none.")
        if "threads" in run:
            check_int(run["threads"], "threads", "[run]", low=1)
        comps = {k: [Component.from_dict(x, k) for x in d.get(k, [])] for k in ("signals", "scorers", "selectors", "metrics")}
        DataSpec.from_dict(d["data"])  # unknown [data] keys fail here, before any work
        return cls(
            data=dict(d["data"]),
            signals=comps["signals"],
            scorers=comps["scorers"],
            selectors=comps["selectors"],
            metrics=comps["metrics"],
            base_dir=None if base_dir is None else str(base_dir),
            **run,
        )

    def to_dict(self) -> dict[str, Any]:
        def comp(c: Component) -> dict[str, Any]:
            return {"name": c.name, **({"label": c.label} if c.label else {}), **c.params}

        return {
            "data": self.data,
            # `threads` is left out: it changes how fast a run goes, not what it stores
            "run": {"seeds": self.seeds, "fractions": self.fractions, "model": self.model, "executor": self.executor},
            "signals": [comp(c) for c in self.signals],
            "scorers": [comp(c) for c in self.scorers],
            "selectors": [comp(c) for c in self.selectors],
            "metrics": [comp(c) for c in self.metrics],
        }


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe from a TOML file."""
    p = Path(path)
    if not p.exists():
        raise InvalidParameterError(f"`recipe` must be an existing TOML file; got {str(p)!r}, which does not exist.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"`recipe` {str(p)!r} is not valid TOML: {exc}.") from None
    return Recipe.from_dict(data, base_dir=p.resolve().parent)


def demo_recipe(dataset: str = "digits", n_train: int | None = None) -> Recipe:
    """Return the built-in demo recipe (``recipes/demo.toml``) on ``dataset``.

    ``n_train`` keeps the first training rows of ``fashion-mnist`` (all 60,000 by default).
    """
    text = resources.files("thresher.recipes").joinpath("demo.toml").read_text(encoding="utf-8")
    d = tomllib.loads(text)
    d["data"]["dataset"] = dataset
    if n_train is not None:
        if dataset != "fashion-mnist":
            raise InvalidParameterError(f"`n_train` of demo_recipe applies to 'fashion-mnist' only; got dataset {dataset!r}.")
        d["data"]["n_train"] = n_train
    return Recipe.from_dict(d)


def build(registry: Any, comp: Component) -> Any:
    """Instantiate ``comp`` from ``registry``; a misspelt parameter gets a clear error."""
    cls = registry.get(comp.name)
    try:
        return cls(**comp.params)
    except TypeError as exc:
        raise InvalidParameterError(
            f"parameters of {registry.kind} {comp.name!r} must match its signature; got {comp.params}: {exc}."
        ) from None


def load_data(data: dict[str, Any], base_dir: str | Path | None = None) -> LoadedData:
    """Read a recipe's ``[data]`` section (paths relative to ``base_dir``); see :func:`read_data`."""
    return read_data(DataSpec.from_dict(data, base_dir=base_dir))


def open_run(run: RunDir, loaded: LoadedData, params: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Start or resume ``run`` on the loaded rows; record how the data was read in the manifest."""
    manifest = run.open(loaded.table, params, force=force)
    manifest["data"] = {"spec": loaded.spec.to_dict(), **loaded.provenance}
    run.write_manifest(manifest)
    return manifest


def ensure_signals(
    table: Table,
    names: set[str] | frozenset[str],
    run: RunDir | None = None,
    *,
    specs: list[Component] | None = None,
    seed: int = 0,
    executor: Executor | None = None,
) -> Table:
    """Return ``table`` with every matrix in ``names`` attached, computing missing signals.

    A missing matrix is produced by the registered signal whose ``produces`` lists it (with
    the parameters given in ``specs`` for that signal, if any) and stored in ``run``.
    """
    specs_by_name = {c.name: c for c in (specs or [])}
    for name in sorted(names):
        if table.has(name):
            continue
        if run is not None and run.has_signal(name):
            stored_ids = run.signal_row_ids()
            if stored_ids is not None and np.array_equal(stored_ids, table.row_id):
                log.info("signal %s already stored; reusing it", name)
                table = table.with_matrix(name, run.read_signal(name))
                table.meta.update(run.read_signal_meta())
                continue
        providers = [e for e in SIGNALS.entries() if name in getattr(e.cls, "produces", ())]
        if not providers:
            continue  # not a signal: the scorer's own require() will name what is missing
        entry = providers[0]
        comp = specs_by_name.get(entry.name, Component(entry.name))
        provider = build(SIGNALS, comp)
        if run is not None and getattr(provider, "run_dir", False) is None:
            # signals that record a training run keep it in the run directory (resumable)
            provider.run_dir = run.path / "recordings" / entry.name
        log.info("computing signal %s", entry.name)
        result = provider.compute(table, seed=seed, executor=executor)
        for mname, values in result.matrices.items():
            table = table.with_matrix(mname, values)
            if run is not None:
                run.write_signal(mname, values)
        table.meta.update(result.meta)
        if run is not None:
            run.write_signal_rows(table.row_id)
            run.write_signal_meta(result.meta)
    return table


def run_scores(
    train: Table,
    scorers: list[Component],
    run: RunDir,
    *,
    signals: list[Component] | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Table:
    """Compute each scorer's column unless stored; return ``train`` with all score columns."""
    for i, comp in enumerate(scorers):
        scorer = build(SCORERS, comp)
        column = f"score.{comp.label}" if comp.label else scorer.column
        if run.has_score(column) and not force:
            log.info("score %s already stored; skipping", column)
        else:
            train = ensure_signals(train, set(scorer.requires), run, specs=signals, seed=seed, executor=executor)
            # earlier scorers' columns are visible to later ones (e.g. `fuse` reads them)
            values = scorer.score(run.attach_scores(train), seed=seed)
            run.write_scores(train.row_id, {column: values})
            if getattr(scorer, "meta_", None):  # what a scorer learned (e.g. fusion weights) goes in the manifest
                run.mark_step(f"score:{column}", scorer.meta_)
        if progress:
            progress("scores", i + 1, len(scorers))
    return run.attach_scores(train)


def run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> RunDir:
    """Run every step of ``recipe`` in ``run_dir`` (resuming what is already there).

    Every step runs inside :func:`thresher.threads` with the recipe's ``threads``; a
    caller's enclosing ``threads(n)`` block (the CLI's ``--threads``) takes precedence.
    """
    with threads(None if threads_active() else recipe.threads):
        return _run_recipe(recipe, run_dir, force=force, progress=progress, executor=executor)


def _run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> RunDir:
    from thresher.evaluate.harness import SelectorArm, evaluate
    from thresher.report.html import write_report

    loaded = load_data(recipe.data, recipe.base_dir)
    run = RunDir(run_dir)
    open_run(run, loaded, {**recipe.to_dict(), "dataset": loaded.spec.name}, force=force)
    ex = executor or get_executor(recipe.executor)
    train, test = loaded.train, loaded.test
    seed0 = recipe.seeds[0] if recipe.seeds else 0
    train = ensure_signals(
        train,
        {m for c in recipe.signals for m in getattr(SIGNALS.get(c.name), "produces", ())},
        run,
        specs=recipe.signals,
        seed=seed0,
        executor=ex,
    )
    train = run_scores(train, recipe.scorers, run, signals=recipe.signals, seed=seed0, executor=ex, force=force, progress=progress)
    run.mark_step("scores", {"columns": run.score_columns()})

    arms = [SelectorArm(c.key, build(SELECTORS, c), run) for c in recipe.selectors]
    evaluate(
        train,
        test,
        arms,
        recipe.fractions,
        recipe.seeds,
        recipe.model,
        run_dir=run,
        on_progress=(lambda i, n: progress("evaluate", i, n)) if progress else None,
    )
    run.mark_step("evaluate")

    run_metrics(train, recipe, run, force=force, progress=progress)
    run.mark_step("metrics")
    write_report(run)
    run.mark_step("report")
    return run


def run_metrics(train: Table, recipe: Recipe, run: RunDir, *, force: bool = False, progress: Progress | None = None) -> None:
    """Compute each metric on the training set and on each stored selection of the first seed."""
    seed0 = recipe.seeds[0] if recipe.seeds else 0
    targets: list[tuple[str, Table]] = [("train", train)]
    for arm in [c.key for c in recipe.selectors] + ["random"]:
        for f in recipe.fractions:
            key = selection_key(arm, Budget(fraction=f), seed0)
            if run.has_selection(key):
                targets.append((key, train.subset(run.read_selection(key).row_ids)))
    total = len(targets) * len(recipe.metrics)
    i = 0
    for comp in recipe.metrics:
        metric = build(METRICS, comp)
        for target_key, subset in targets:
            i += 1
            key = f"{comp.key}/{target_key}"
            if run.has_metric(key) and not force:
                continue
            reference = train if getattr(metric, "needs_reference", False) else None
            run.write_metric(key, metric.compute(subset, reference=reference, seed=seed0))
            if progress:
                progress("metrics", i, total)
