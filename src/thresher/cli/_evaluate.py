"""``thresher evaluate``: train on selections (made here or stored with ``thresher select``) against random."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from thresher.cli._common import (
    EmbeddingColumnsOpt,
    ForceOpt,
    GroupColumnOpt,
    IdColumnOpt,
    LabelColumnOpt,
    SplitColumnOpt,
    StandardizeOpt,
    TestDataOpt,
    FractionsOpt,
    ParamOpt,
    RunOpt,
    SeedsOpt,
    ThreadsOpt,
    Bars,
    console,
    data_run,
    deprecated,
    params_for,
    parse_fractions,
    parse_seeds,
    resuming,
    run_dir,
    split_list,
    targets_of,
    threads_context,
)
from thresher.errors import InvalidParameterError

__all__ = ["evaluate_cmd", "stored_names"]


def stored_names(rd: Any) -> list[str]:
    """Return the names of the selections stored in a run (the part of each key before ``__``)."""
    return sorted({k.split("__")[0] for k in rd.selection_keys()})


class _Stored:
    """A stand-in selector for evaluating selections stored with ``thresher select``: it never selects."""

    reads_stored = True  # the harness keys its training runs by the stored selection's own key

    def __init__(self, name: str) -> None:
        self.name = name

    def select(self, table: Any, budget: Any, *, seed: Any = None) -> Any:
        raise InvalidParameterError(
            f"`--selection {self.name}` has no stored selection at fraction {budget.fraction:g} and seed {seed}; "
            f"store it with `thresher select -S <selector> --name {self.name} --fraction {budget.fraction:g} --seed {seed}`."
        )


def _stored_grid(rd: Any, names: list[str]) -> tuple[list[float], list[int]]:
    fractions, seeds = set(), set()
    for key in rd.selection_keys():
        if key.split("__")[0] in names:
            sel = rd.read_selection(key)
            if sel.budget.fraction is not None and sel.seed is not None:
                fractions.add(float(sel.budget.fraction))
                seeds.add(int(sel.seed))
    return sorted(fractions), sorted(seeds)


def evaluate_cmd(
    selector: list[str] = typer.Option(
        [], "--selector", "-S", metavar="[ARM=]NAME", help="A selector to evaluate, optionally named ARM (repeatable)."
    ),
    selector_old: list[str] = typer.Option([], "-s", hidden=True),
    selection: list[str] = typer.Option(
        [], "--selection", metavar="NAME", help="Selections stored with `thresher select` under NAME (repeatable) "
        "[default without --selector: every stored one]."
    ),
    param: list[str] = ParamOpt,
    run: Optional[Path] = RunOpt,
    fraction: list[str] = FractionsOpt,
    fractions_old: Optional[str] = typer.Option(None, "--fractions", hidden=True),
    seed: list[str] = SeedsOpt,
    seeds_old: Optional[str] = typer.Option(None, "--seeds", hidden=True),
    model: str = typer.Option("logreg", "--model", metavar="NAME", help="Reference model registry name."),
    data: Optional[str] = typer.Option(
        None, "--data", "-d", metavar="DATA", help="Store this dataset or file in the run first [default: the run's rows]."
    ),
    label_column: Optional[str] = LabelColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    group_column: Optional[str] = GroupColumnOpt,
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    split_column: Optional[str] = SplitColumnOpt,
    standardize: bool = StandardizeOpt,
    test_data: Optional[str] = TestDataOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Train the reference model on each selection and on random rows of the same size; store accuracies."""
    from thresher._registry import ARMS, SELECTORS
    from thresher.evaluate.harness import FULL, RANDOM, SelectorArm, evaluate, make_arm, summarize
    from thresher.evaluate.paired import compare
    from thresher.store.rundir import RunDir

    if selector_old:
        deprecated("-s", "`-S`/`--selector`", "evaluate")
    if fractions_old is not None:
        deprecated("--fractions", "`--fraction` (repeat or comma-separate)", "evaluate")
    if seeds_old is not None:
        deprecated("--seeds", "`--seed` (repeat or comma-separate)", "evaluate")
    # everything that can be checked without the data is checked before the data is stored,
    # so a misspelt option leaves no run directory behind
    from thresher.evaluate.models import get_model

    get_model(model)
    early = [(s.rpartition("=")[0] or s, s.rpartition("=")[2]) for s in [*selector, *selector_old]]
    params_for(param, targets_of(SELECTORS, [p for p in early if p[1] not in ARMS])
               + targets_of(ARMS, [p for p in early if p[1] in ARMS]), "evaluate")
    parse_fractions([*fraction, *split_list(fractions_old)])
    parse_seeds([*seed, *split_list(seeds_old)])
    if data is not None:
        data_run(
            run, data, command="evaluate", label_column=label_column, id_column=id_column, group_column=group_column,
            embedding_columns=embedding_columns, split_column=split_column, standardize=standardize, test_data=test_data,
        )  # fmt: skip
    rd = RunDir(run_dir(run))
    full = rd.read_table(with_scores=True)
    if not full.has("split"):
        raise InvalidParameterError("the run's data needs a `split` column with 'train' and 'test' rows; got none.")
    split = full.column("split").astype(str)
    train, test = full.take(split == "train"), full.take(split == "test")
    specs = [(s.rpartition("=")[0] or s, s.rpartition("=")[2]) for s in [*selector, *selector_old]]
    stored = list(selection) or ([n for n in stored_names(rd) if n != RANDOM] if not specs else [])
    for s in stored:
        if s not in stored_names(rd):
            raise InvalidParameterError(f"`--selection` must be a stored selection name; got {s!r}; stored are {stored_names(rd)}.")
    if not specs and not stored:
        raise InvalidParameterError("`thresher evaluate` needs `--selector` or stored selections (`thresher select`); got neither.")
    targets = targets_of(SELECTORS, [p for p in specs if p[1] not in ARMS]) + targets_of(ARMS, [p for p in specs if p[1] in ARMS])
    params = params_for(param, targets, "evaluate")
    arms = [make_arm(name, params[key], key, rd) for key, name in specs]  # rs2 is an arm, the rest selectors
    arms += [SelectorArm(s, _Stored(s), rd) for s in stored]  # type: ignore[arg-type]
    grid = _stored_grid(rd, stored) if stored else ([], [])
    fractions = parse_fractions([*fraction, *split_list(fractions_old)]) or grid[0] or [0.1, 0.3, 0.5, 0.7]
    seeds = parse_seeds([*seed, *split_list(seeds_old)]) or grid[1] or [0, 1, 2, 3, 4]  # >= 5 for a verdict
    names = {a.name for a in arms} | {RANDOM, FULL}
    jobs = {(a, round(f, 6), s) for a in names - {FULL} for f in fractions for s in seeds} | {(FULL, 1.0, s) for s in seeds}
    if force:
        _forget_evaluation(rd, jobs, own={key for key, _ in specs} | {RANDOM})
    else:
        resuming(len(jobs & rd.evaluation_done()), len(jobs), rd.path, "training runs")
    with threads_context(threads), Bars() as bars:
        df = evaluate(train, test, arms, fractions, seeds, model, run_dir=rd, on_progress=lambda i, k: bars("evaluate", i, k))
    rd.mark_step("evaluate", {"seeds": seeds, "fractions": fractions, "model": model, "arms": sorted(a.name for a in arms)})
    df = df[[(str(a), round(float(f), 6), int(s)) in jobs for a, f, s in zip(df["arm"], df["fraction"], df["seed"])]]
    console.print(summarize(df).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if "log_loss" in df.columns:  # per-test-row predictions were stored: paired differences
        for base in [RANDOM, *(["rs2"] if "rs2" in set(df["arm"]) else [])]:
            c = compare(df, baseline=base, run_dir=rd)
            if len(c):
                console.print(f"\npaired difference in accuracy vs {base} (95% interval over seeds and test rows; Holm):")
                cols = ["arm", "fraction", "n_seeds", "mean_diff", "ci_low", "ci_high", "verdict"]
                console.print(c[cols].to_string(index=False, float_format=lambda v: f"{v:+.4f}"))


def _forget_evaluation(rd: Any, jobs: set[tuple[str, float, int]], own: set[str]) -> None:
    """For ``--force``: drop the stored training runs of ``jobs`` and the selections the arms in ``own`` made."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.select.base import Budget
    from thresher.store.atomic import atomic_path
    from thresher.store.rundir import selection_key

    with rd.lock():  # a read-modify-write of a shared file
        df = rd.read_evaluation()
        keep = [(str(a), round(float(f), 6), int(s)) not in jobs for a, f, s in zip(df["arm"], df["fraction"], df["seed"])]
        if len(df) and not all(keep):
            with atomic_path(rd.evaluation_path) as tmp:
                pq.write_table(pa.Table.from_pandas(df[keep], preserve_index=False), tmp)
    for arm, f, s in jobs:
        path = rd.selection_path(selection_key(arm, Budget(fraction=f), s))
        if arm in own and path.exists():
            path.unlink()
