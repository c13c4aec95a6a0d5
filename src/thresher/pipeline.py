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
    model = "logreg"             # a reference model; its parameters in model_params = {...}
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

from thresher._registry import METRICS, SCORERS, SIGNALS
from thresher._threads import threads, threads_active
from thresher._validation import check_int
from thresher.data.source import DataSpec, LoadedData, read_data
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, get_executor
from thresher.select.base import Budget
from thresher.evaluate.models import get_model
from thresher.recipe_checks import build, check_recipe
from thresher.store.keys import component_key, explicit_params, inputs_fingerprint, metric_slot, needs_of
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
    model_params: dict[str, Any] = field(default_factory=dict)
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
        run_known = {"seeds", "fractions", "model", "executor", "model_params", "threads"}
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
            "run": {
                "seeds": self.seeds,
                "fractions": self.fractions,
                "model": self.model,
                "executor": self.executor,
                **({"model_params": self.model_params} if self.model_params else {}),
            },
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


def load_data(data: dict[str, Any], base_dir: str | Path | None = None) -> LoadedData:
    """Read a recipe's ``[data]`` section (paths relative to ``base_dir``); see :func:`read_data`."""
    return read_data(DataSpec.from_dict(data, base_dir=base_dir))


def open_run(run: RunDir, loaded: LoadedData, params: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Start or resume ``run`` on the loaded rows; record how the data was read in the manifest."""
    run.open(loaded.table, params, force=force)
    return _record_data(run, loaded)


def _record_data(run: RunDir, loaded: LoadedData) -> dict[str, Any]:
    with run.lock():
        manifest = run.read_manifest()
        manifest["data"] = {"spec": loaded.spec.to_dict(), **loaded.provenance}
        run.write_manifest(manifest)
    return manifest


def on_executor(component: Any, executor: str) -> Any:
    """Let a recipe's ``[run] executor`` reach a component that shards its work.

    Only a component that takes an ``executor`` and left it at the local default gets it,
    by name (names keep result keys stable; an Executor object's repr would not).
    """
    if executor != "local" and getattr(component, "executor", "absent") in (None, "local"):
        component.executor = executor
    return component


def ensure_signals(
    table: Table,
    names: set[str] | frozenset[str],
    run: RunDir | None = None,
    *,
    specs: list[Component] | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    force: bool = False,
) -> Table:
    """Return ``table`` with every matrix in ``names`` attached, computing missing signals.

    A missing matrix is produced by the registered signal whose ``produces`` lists it (with
    the parameters given in ``specs`` for that signal, if any) and stored in ``run``. A
    stored signal is reused only if it describes these rows and its result key (signal,
    parameters, seed, input) matches; otherwise it is recomputed.
    """
    specs_by_name = {c.name: c for c in (specs or [])}
    for name in sorted(names):
        if table.has(name):
            continue
        providers = [e for e in SIGNALS.entries() if name in getattr(e.cls, "produces", ())]
        if not providers:
            continue  # not a signal: the scorer's own require() will name what is missing
        entry = providers[0]
        comp = specs_by_name.get(entry.name, Component(entry.name))
        provider = build(SIGNALS, comp)
        key, provenance = component_key("signal", provider, entry.name, seed=seed, table=table)
        if run is not None and not force and run.has_signal(name, key):
            stored_ids = run.signal_row_ids()
            if stored_ids is not None and np.array_equal(stored_ids, table.row_id):
                log.info("signal %s already stored; reusing it", name)
                table = table.with_matrix(name, run.read_signal(name))
                table.meta.update(run.read_signal_meta())
                continue
        if run is not None and getattr(provider, "run_dir", False) is None:
            # signals that record a training run keep it in the run directory (resumable)
            provider.run_dir = run.path / "recordings" / entry.name
        log.info("computing signal %s", entry.name)
        result = provider.compute(table, seed=seed, executor=executor)
        for mname, values in result.matrices.items():
            table = table.with_matrix(mname, values)
        table.meta.update(result.meta)
        if run is not None:
            with run.lock():
                run.write_signal_rows(table.row_id)
                run.write_signal_meta(result.meta)
                for mname, values in result.matrices.items():
                    run.write_signal(mname, values, key=key, provenance=provenance)
            # what the signal chose (e.g. the OOF model) goes in the manifest too; class lists stay in meta.json
            chosen = {k: v for k, v in result.meta.items() if k != "classes"}
            if chosen:
                run.mark_step(f"signal:{entry.name}", chosen)
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
    """Compute each scorer's column unless stored under the same key; return ``train`` with all score columns.

    The key covers the scorer, every parameter (defaults included), the seed, the rows
    and the signals the scorer reads; a stored column under another key is recomputed.
    """
    for i, comp in enumerate(scorers):
        scorer = on_executor(build(SCORERS, comp), getattr(executor, "name", "local"))
        column = f"score.{comp.label}" if comp.label else scorer.column
        train = ensure_signals(train, set(scorer.requires), run, specs=signals, seed=seed, executor=executor, force=force)
        # earlier scorers' columns are visible to later ones (e.g. `fuse` reads them); the key
        # covers those the scorer names
        scored = run.attach_scores(train)
        key, provenance = component_key("score", scorer, comp.name, seed=seed, table=scored, column=column)
        if run.has_score(column, key) and not force:
            log.info("score %s already stored under the same key; skipping", column)
        else:
            values = scorer.score(scored, seed=seed)
            run.write_scores(train.row_id, {column: values}, keys={column: key}, provenance={column: provenance})
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
    lock_timeout: float | None = 0.0,
) -> RunDir:
    """Run every step of ``recipe`` in ``run_dir`` (resuming what is already there).

    The whole recipe is validated before any step runs. The run holds the directory's
    lock throughout: a second run on the same directory waits ``lock_timeout`` seconds
    (``0``: fails at once, naming the holder). If the first step fails, the directory is
    left as it was. Every step runs inside :func:`thresher.threads` with the recipe's
    ``threads``; a caller's enclosing ``threads(n)`` block (the CLI's ``--threads``) takes
    precedence.
    """
    with threads(None if threads_active() else recipe.threads):
        return _run_recipe(recipe, run_dir, force=force, progress=progress, executor=executor, lock_timeout=lock_timeout)


def _run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    executor: Executor | None = None,
    lock_timeout: float | None = 0.0,
) -> RunDir:
    from thresher.evaluate.harness import evaluate, make_arm
    from thresher.report.html import write_report

    check_recipe(recipe)
    loaded = load_data(recipe.data, recipe.base_dir)
    train, test = loaded.train, loaded.test
    check_recipe(recipe, train)
    run = RunDir(run_dir)
    ex = executor or get_executor(recipe.executor)
    seed0 = recipe.seeds[0] if recipe.seeds else 0
    params = {**recipe.to_dict(), "dataset": loaded.spec.name}
    with run.session(loaded.table, params, force=force, timeout=lock_timeout):
        _record_data(run, loaded)
        train = ensure_signals(
            train,
            {m for c in recipe.signals for m in getattr(SIGNALS.get(c.name), "produces", ())},
            run,
            specs=recipe.signals,
            seed=seed0,
            executor=ex,
            force=force,
        )
        train = run_scores(
            train, recipe.scorers, run, signals=recipe.signals, seed=seed0, executor=ex, force=force, progress=progress
        )
        run.mark_step("scores", {"columns": run.score_columns()})

        arms = [make_arm(c.name, c.params, c.label, run) for c in recipe.selectors]
        for a in arms:  # the recipe's executor reaches selectors that shard their work
            if hasattr(a, "selector"):
                on_executor(a.selector, ex.name)
        records = evaluate(
            train,
            test,
            arms,
            recipe.fractions,
            recipe.seeds,
            get_model(recipe.model, **recipe.model_params),
            run_dir=run,
            on_progress=(lambda i, n: progress("evaluate", i, n)) if progress else None,
        )
        run.mark_step("evaluate")
        arm_names = [*(c.key for c in recipe.selectors), "random"]
        current = {selection_key(a, Budget(fraction=f), s) for a in arm_names for f in recipe.fractions for s in recipe.seeds}
        run.prune(set(records["key"].astype(str)), current)  # the run now describes this recipe only

        run_metrics(train, recipe, run, force=force, progress=progress)
        run.mark_step("metrics")
        run.finish()  # every result is stored: the request's parameters are now the run's
        write_report(run)
        run.mark_step("report")
    return run


def run_metrics(train: Table, recipe: Recipe, run: RunDir, *, force: bool = False, progress: Progress | None = None) -> None:
    """Compute each metric on the training set and on each stored selection of the first seed.

    A metric's results are stored at a slot named by the metric and its non-default
    parameters (``vendi[q=2]/train``), so runs with other parameters are kept beside;
    a stored result is reused only under the same key (metric, parameters, seed, rows).
    """
    seed0 = recipe.seeds[0] if recipe.seeds else 0
    targets: list[tuple[str, Table, str | None]] = [("train", train, None)]
    for arm in [c.key for c in recipe.selectors] + ["random"]:
        for f in recipe.fractions:
            name = selection_key(arm, Budget(fraction=f), seed0)
            if run.has_selection(name):
                targets.append((name, train.subset(run.read_selection(name).row_ids), run.selection_result_key(name)))
    total = len(targets) * len(recipe.metrics)
    i = 0
    for comp in recipe.metrics:
        metric = on_executor(build(METRICS, comp), recipe.executor)
        needs_ref = getattr(metric, "needs_reference", False)
        for target_key, subset, sel_key in targets:
            i += 1
            slot = metric_slot(comp.name, explicit_params(metric), target_key, comp.label)
            extra: dict[str, Any] = {"target_key": sel_key} if sel_key else {}
            if needs_ref:
                extra["reference"] = inputs_fingerprint(train, needs_of(metric))
            key, provenance = component_key("metric", metric, comp.name, seed=seed0, table=subset, target=target_key, **extra)
            if run.has_metric(slot, key) and not force:
                continue
            reference = train if needs_ref else None
            run.write_metric(slot, metric.compute(subset, reference=reference, seed=seed0), key=key, provenance=provenance)
            if progress:
                progress("metrics", i, total)
