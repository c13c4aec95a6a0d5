"""``thresher pairs``: preference pairs and generated candidates into a run directory, LM scores, per-prompt selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from thresher.cli._common import (
    ExecutorOpt,
    ForceOpt,
    ParamOpt,
    RunOpt,
    SeedOpt,
    ThreadsOpt,
    console,
    params_for,
    run_dir,
    targets_of,
    threads_context,
)

__all__ = ["register"]

pairs_app = typer.Typer(help="Post-training data: preference pairs and generated candidates (read, score, select, run).",
                        no_args_is_help=True)


def _rewards(items: list[str], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"`--reward` must look like NAME=FIELD (candidates) or NAME=CHOSEN,REJECTED "
                                     f"(pairs); got {item!r}.")
        name, fields = item.split("=", 1)
        parts = [f.strip() for f in fields.split(",")]
        if (kind == "pairs") != (len(parts) == 2):
            raise typer.BadParameter(f"`--reward` for {kind} must give {'two fields' if kind == 'pairs' else 'one field'}; "
                                     f"got {item!r}.")
        out[name.strip()] = tuple(parts) if kind == "pairs" else parts[0]
    return out


@pairs_app.command("read")
def read_cmd(
    data: str = typer.Argument(..., metavar="FILE", help="JSONL or Parquet file of pairs or candidates."),
    run: Optional[Path] = RunOpt,
    kind: str = typer.Option("pairs", metavar="pairs|candidates",
                             help="'pairs' (prompt/chosen/rejected) or 'candidates' (prompt_id/prompt/response)."),
    prompt_column: str = typer.Option("prompt", help="Field with the prompt."),
    implicit_prompt: bool = typer.Option(False, help="Pairs: no prompt field; take the shared prefix of chosen/rejected."),
    chosen_column: str = typer.Option("chosen", help="Pairs: field with the chosen response."),
    rejected_column: str = typer.Option("rejected", help="Pairs: field with the rejected response."),
    response_column: Optional[str] = typer.Option(None, help="Candidates: field with the response "
                                                  "(default: 'response' or 'completion')."),
    prompt_id_column: Optional[str] = typer.Option(None, help="Candidates: field with the prompt id."),
    answer_column: Optional[str] = typer.Option(None, help="Candidates: field with the extracted answer."),
    correct_column: Optional[str] = typer.Option(None, help="Candidates: field saying whether the answer is right."),
    id_column: Optional[str] = typer.Option(None, "--id-column", metavar="COLUMN", help="Field with stable row ids."),
    group_column: Optional[str] = typer.Option(None, "--group-column", metavar="COLUMN",
                                               help="Pairs: field with a group (topic, source)."),
    reward: list[str] = typer.Option([], help="Reward columns: NAME=CHOSEN,REJECTED (pairs) or NAME=FIELD (repeatable)."),
    on_bad: str = typer.Option("flag", metavar="flag|raise", help="'flag' bad rows or 'raise' on the first."),
    force: bool = ForceOpt,
) -> None:
    """Read pairs or candidates into a run directory; report the flagged rows."""
    from thresher.posttrain import read_post_training
    from thresher.store.rundir import RunDir

    d: dict[str, Any] = {"kind": kind, "path": data, "id_column": id_column, "on_bad": on_bad,
                         "reward_columns": _rewards(reward, kind)}
    if kind == "pairs":
        d.update(prompt_column=None if implicit_prompt else prompt_column, chosen_column=chosen_column,
                 rejected_column=rejected_column, group_column=group_column)
    else:
        d.update(prompt_column=prompt_column, response_column=response_column, prompt_id_column=prompt_id_column,
                 answer_column=answer_column, correct_column=correct_column)
    table = read_post_training(d)
    rd = RunDir(run_dir(run))
    rd.open(table, {"dataset": data, "step": "pairs_read", "read": {k: v for k, v in d.items() if v is not None}},
            force=force)
    flags = {c: int(table.column(c).sum()) for c in table.column_names if c.startswith("flag.")}
    console.print(f"{table.n_rows} {kind} stored in [bold]{rd.path}[/]; flagged: "
                  + (", ".join(f"{k[5:]} {v}" for k, v in flags.items()) or "none"))


@pairs_app.command("score")
def score_cmd(
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="Scorer: likelihood_margin, likelihood_margin_token, "
                                     "dpo_margin, ranking_accuracy, idealized_ranking_accuracy, ches, ches_normalized, "
                                     "preference_strength(_std), ifd, response_perplexity, length_difference, "
                                     "group_variance, group_vendi (repeatable)."),
    param: list[str] = ParamOpt,
    run: Optional[Path] = RunOpt,
    model: Optional[Path] = typer.Option(None, metavar="DIR", help="Local causal LM directory (the policy)."),
    reference_model: Optional[Path] = typer.Option(None, metavar="DIR", help="Local causal LM directory (reference)."),
    batch_size: int = typer.Option(8, metavar="N", help="Most examples per forward pass."),
    max_length: int = typer.Option(512, metavar="N", help="Most tokens per example."),
    seed: int = SeedOpt,
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Compute pair or candidate scores (LM signals computed as needed, resumably) and the derived flags."""
    from thresher._registry import SCORERS
    from thresher.execute.base import get_executor
    from thresher.pipeline import Component, run_scores
    from thresher.posttrain import store_flags
    from thresher.store.rundir import RunDir

    params = params_for(param, targets_of(SCORERS, [(s, s) for s in scorer]), "pairs score")
    rd = RunDir(run_dir(run))
    table = rd.read_table(with_scores=False)
    lm = {"batch_size": batch_size, "max_length": max_length}
    signals = []
    if model is not None:
        signals += [Component("pair_likelihood", {"model": str(model), **lm}),
                    Component("response_likelihood", {"model": str(model), **lm})]
    if reference_model is not None:
        signals.append(Component("pair_reference_likelihood", {"model": str(reference_model), **lm}))
    comps = [Component(name, params[name]) for name in scorer]
    with threads_context(threads):
        scored = run_scores(table, comps, rd, signals=signals, seed=seed, executor=get_executor(executor), force=force)
    flags = store_flags(scored, rd)
    for c in [comp.name for comp in comps]:
        console.print(f"score.{c} stored in [bold]{rd.scores_path}[/]")
    for f in flags:
        console.print(f"{f}: {int(rd.read_scores()[f].sum())} rows")


@pairs_app.command("select")
def select_cmd(
    selector: str = typer.Option(..., "--selector", "-S", metavar="NAME", help="Selector: best_of_n, majority_vote, "
                                 "best_of_majority, or any other (topk, bottomk, quota ...)."),
    param: list[str] = ParamOpt,
    run: Optional[Path] = RunOpt,
    fraction: Optional[float] = typer.Option(None, "--fraction", metavar="F", help="Keep this fraction of rows."),
    n: Optional[int] = typer.Option(None, "--n", metavar="N", help="Keep N rows."),
    per_prompt: Optional[int] = typer.Option(None, "--per-prompt", metavar="K",
                                             help="Candidates: keep the top K of every prompt."),
    seed: int = SeedOpt,
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME",
                                       help="Name the selection is stored under [default: the selector name]."),
) -> None:
    """Select pairs or candidates under a budget (or the top k per prompt); store the selection."""
    from thresher._registry import SELECTORS
    from thresher.pipeline import Component, build
    from thresher.posttrain import budget_of
    from thresher.store.rundir import RunDir, selection_key

    params = params_for(param, targets_of(SELECTORS, [(name or selector, selector)]), "pairs select")
    rd = RunDir(run_dir(run))
    table = rd.read_table(with_scores=True)
    given = {k: v for k, v in (("fraction", fraction), ("n", n), ("per_prompt", per_prompt)) if v is not None}
    budget, _ = budget_of(given, table, selector)
    sel = build(SELECTORS, Component(selector, params[name or selector])).select(table, budget, seed=seed)
    key = selection_key(name or selector, budget, seed)
    rd.write_selection(key, sel)
    console.print(f"selected {len(sel)} of {table.n_rows} rows -> [bold]{rd.selection_path(key)}[/]")


@pairs_app.command("run")
def run_cmd(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Post-training recipe TOML (see recipes/pairs.toml)."),
    run: Optional[Path] = RunOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Run a post-training recipe: read, signals, scores, flags, selections, metrics, report (resumes)."""
    from thresher.posttrain import load_post_training_recipe, run_post_training

    with threads_context(threads):
        rd = run_post_training(load_post_training_recipe(recipe), run_dir(run), force=force)
    console.print(f"scores: {', '.join(rd.score_columns())}")
    console.print(f"selections: {', '.join(rd.selection_keys()) or 'none'}")
    console.print(f"report: [bold]{(rd.report_dir / 'index.html').resolve()}[/]")


def register(app: typer.Typer) -> None:
    """Add the ``pairs`` command group to the main app."""
    app.add_typer(pairs_app, name="pairs")
