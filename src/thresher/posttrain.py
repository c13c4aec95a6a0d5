"""The post-training flow: pairs or candidates -> LM signals -> scores and flags -> selections -> metrics -> report.

A post-training recipe (``recipes/pairs.toml``) names the data and its column mapping,
the LM-likelihood signals with their local model directories, scorers, selectors with
their budgets and metrics; :func:`run_post_training` runs it in a run directory, reusing
the score and signal steps of :mod:`thresher.pipeline` (so stored results are skipped and
a killed run resumes; the engine's finished shards are kept under ``recordings/``).
There is no training-vs-random evaluation here: the arms are selections of pairs or
candidates, recorded with their metrics and shown in the report's pairs section.

Recipe TOML::

    [data]
    kind = "pairs"                 # or "candidates"
    path = "pairs.jsonl"           # JSONL or Parquet; plus read_pairs / read_candidates options
    [run]
    seed = 0
    [[signals]]
    name = "pair_likelihood"
    model = "models/policy"        # a local save_pretrained directory
    [[scorers]]
    name = "ches"
    [[selectors]]
    name = "bottomk"               # drop the 10% highest-CHES pairs: one entry
    by = "score.ches"
    fraction = 0.9                 # or n = ..., or per_prompt = k for candidate selectors
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import METRICS, SELECTORS
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, get_executor
from thresher.pipeline import Component, build, run_scores
from thresher.select.base import Budget
from thresher.store.rundir import RunDir, selection_key

__all__ = ["read_post_training", "load_post_training_recipe", "run_post_training", "budget_of", "store_flags"]

_KINDS = ("pairs", "candidates")


def read_post_training(data: dict[str, Any]) -> Table:
    """Read the ``[data]`` section: ``kind`` (pairs/candidates), ``path`` and the reader's mapping options.

    Examples
    --------
    >>> read_post_training({"kind": "pairs"})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidParameterError: `[data]` of a post-training recipe needs `path` ...
    """
    from thresher.data.candidates import read_candidates
    from thresher.data.pairs import read_pairs

    d = dict(data)
    kind = d.pop("kind", "pairs")
    if kind not in _KINDS:
        raise InvalidParameterError(f"`kind` of a post-training recipe must be one of {list(_KINDS)}; got {kind!r}.")
    if "path" not in d:
        raise InvalidParameterError(f"`[data]` of a post-training recipe needs `path`; got keys {sorted(data)}.")
    path = d.pop("path")
    if d.pop("implicit_prompt", False):
        d["prompt_column"] = None  # TOML has no null: TRL's implicit-prompt form is asked for by name
    if "reward_columns" in d and kind == "pairs":
        d["reward_columns"] = {k: tuple(v) for k, v in d["reward_columns"].items()}
    reader: Any = read_pairs if kind == "pairs" else read_candidates
    try:
        return reader(path, **d)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise InvalidParameterError(f"`[data]` keys of a {kind} recipe must be options of {reader.__name__}; "
                                    f"got {sorted(d)}: {exc}.") from None


def load_post_training_recipe(path: str | Path) -> dict[str, Any]:
    """Read a post-training recipe from TOML (sections ``data``, ``run``, ``signals``, ``scorers``, ``selectors``, ``metrics``)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError(f"`recipe` must be an existing TOML file; got {str(p)!r}.")
    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"`recipe` {str(p)!r} is not valid TOML: {exc}.") from None
    known = {"data", "run", "signals", "scorers", "selectors", "metrics"}
    if set(d) - known:
        raise InvalidParameterError(f"recipe sections must be among {sorted(known)}; got unknown {sorted(set(d) - known)}.")
    if set(d.get("run", {})) - {"seed", "executor", "flip_threshold"}:
        raise InvalidParameterError("`[run]` keys of a post-training recipe must be among ['executor', "
                                    f"'flip_threshold', 'seed']; got {sorted(d['run'])}.")
    return d


def budget_of(params: dict[str, Any], table: Table, owner: str) -> tuple[Budget, dict[str, Any]]:
    """Split a selector entry into its budget (``fraction``, ``n`` or ``per_prompt``) and constructor parameters.

    ``per_prompt = k`` means ``n = k * (number of prompts)``, the top k of every prompt.

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a"] * 4, ["w", "x", "y", "z"])
    >>> budget_of({"per_prompt": 1, "by": "x"}, t, "demo")
    (Budget(n=2, fraction=None, cost=None), {'by': 'x'})
    """
    rest = dict(params)
    given = {k: rest.pop(k) for k in ("fraction", "n", "per_prompt") if k in rest}
    if len(given) != 1:
        raise InvalidParameterError(f"selector {owner!r} of a post-training recipe needs exactly one of `fraction`, `n` "
                                    f"or `per_prompt`; got {sorted(given)}.")
    if "per_prompt" in given:
        from thresher.data.candidates import PROMPT_ID, group_codes

        table.require([PROMPT_ID], owner)
        k = int(given["per_prompt"])
        codes, n_groups = group_codes(table.column(PROMPT_ID))
        sizes = np.bincount(codes, minlength=n_groups)
        return Budget(n=int(np.minimum(sizes, k).sum())), rest
    return Budget(**given), rest


def store_flags(table: Table, run: RunDir, *, flip_threshold: float = 0.0) -> list[str]:
    """Compute the derived flags (likely-flipped pairs, homogeneous prompt groups) into the score store.

    Flags are stored as 0/1 columns next to the scores; returns the names written.
    """
    from thresher.data.pairs import reward_names

    cols: dict[str, np.ndarray] = {}
    if table.meta.get("kind") == "pairs" and reward_names(table):
        from thresher.scores.pairs import likely_flipped

        cols["flag.likely_flipped"] = likely_flipped(table, threshold=flip_threshold).astype(np.float64)
    if table.meta.get("kind") == "candidates" and table.has("correct"):
        from thresher.scores.candidates import homogeneous_groups

        cols["flag.homogeneous_group"] = homogeneous_groups(table).astype(np.float64)
    if cols:
        run.write_scores(table.row_id, cols)
    return sorted(cols)


def run_post_training(
    recipe: dict[str, Any],
    run_dir: str | Path,
    *,
    force: bool = False,
    executor: Executor | None = None,
) -> RunDir:
    """Run a post-training recipe (see the module docstring) in ``run_dir``, resuming what is stored."""
    from thresher.report.html import write_report

    table = read_post_training(recipe.get("data", {}))
    run_cfg = dict(recipe.get("run", {}))
    seed = int(run_cfg.get("seed", 0))
    ex = executor or get_executor(run_cfg.get("executor", "local"))
    rd = RunDir(run_dir)
    rd.open(table, {**recipe, "dataset": str(recipe["data"]["path"]), "step": "post_training"}, force=force)
    signals = [Component.from_dict(c, "signals") for c in recipe.get("signals", [])]
    scorers = [Component.from_dict(c, "scorers") for c in recipe.get("scorers", [])]
    scored = run_scores(table, scorers, rd, signals=signals, seed=seed, executor=ex, force=force)
    store_flags(scored, rd, flip_threshold=float(run_cfg.get("flip_threshold", 0.0)))
    scored = rd.attach_scores(scored)
    rd.mark_step("scores", {"columns": rd.score_columns()})
    targets: list[tuple[str, Table]] = [("all", scored)]
    for entry in recipe.get("selectors", []):
        comp = Component.from_dict(entry, "selectors")
        budget, params = budget_of(comp.params, scored, comp.key)
        key = selection_key(comp.key, budget, seed)
        if force or not rd.has_selection(key):
            rd.write_selection(key, build(SELECTORS, Component(comp.name, params)).select(scored, budget, seed=seed))
        targets.append((key, scored.subset(rd.read_selection(key).row_ids)))
    for entry in recipe.get("metrics", []):
        comp = Component.from_dict(entry, "metrics")
        metric = build(METRICS, comp)
        for target, subset in targets:
            mkey = f"{comp.key}/{target}"
            if force or not rd.has_metric(mkey):
                rd.write_metric(mkey, metric.compute(subset, seed=seed))
    rd.mark_step("selections")
    write_report(rd)
    rd.mark_step("report")
    return rd
