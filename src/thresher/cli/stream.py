"""``thresher stream``: out-of-core work on a directory or glob of Parquet/JSONL files.

    thresher stream score 'data/*.parquet' -o out -s margin -s entropy --label-column y
    thresher stream knn data/ -o out --embedding-columns emb --k 10
    thresher stream dedup data/ -o out --embedding-columns emb --eps 0.05
    thresher stream select data/ -o out -S facility_location --fraction 0.01 --embedding-columns emb
    thresher stream sieve out -o picks --fraction 0.01     # one pass over the graph of `stream knn`
    thresher stream greedi out -o picks --fraction 0.01    # two rounds of greedy on that graph

Every command writes partitioned outputs with completion markers under ``OUT`` and
skips what is already done, so a killed command resumes and a re-run is a no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from thresher.cli._common import (  # the one grammar's shared options
    EmbeddingColumnsOpt,
    ExecutorOpt,
    IdColumnOpt,
    LabelColumnOpt,
    ParamOpt,
    SeedOpt,
    ThreadsOpt,
)

__all__ = ["register"]

app = typer.Typer(help="Out-of-core scores, kNN graph, deduplication and selection over Parquet/JSONL files.",
                  no_args_is_help=True)

OutOpt = typer.Option(..., "--out", "-o", metavar="DIR", help="Output directory (partitioned results; resumable).")


def _open(source: str, id_column: Optional[str], label_column: Optional[str] = None,
          text_column: Optional[str] = None, embedding_columns: Optional[str] = None) -> Any:
    from thresher.data.dataset import open_dataset

    emb: Any = embedding_columns
    if embedding_columns and "," in embedding_columns:
        emb = [c.strip() for c in embedding_columns.split(",") if c.strip()]
    return open_dataset(source, id_column=id_column, label_column=label_column, text_column=text_column,
                        embedding_columns=emb)


def _params(items: list[str], registry: Any, names: list[str], command: str) -> dict[str, dict[str, Any]]:
    from thresher.cli._common import params_for, targets_of

    return params_for(items, targets_of(registry, [(n, n) for n in names]), command)


@app.command("score")
def score_cmd(
    source: str = typer.Argument(..., help="Directory, glob or file of Parquet/JSONL data."),
    out: Path = OutOpt,
    scorer: list[str] = typer.Option(..., "--scorer", "-s", metavar="NAME", help="Row-wise scorer (repeatable)."),
    param: list[str] = ParamOpt,
    label_column: Optional[str] = LabelColumnOpt,
    text_column: Optional[str] = typer.Option(None, "--text-column", metavar="COLUMN", help="Column holding text."),
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    id_column: Optional[str] = IdColumnOpt,
    batch_size: int = typer.Option(65536, "--batch-size", metavar="N", help="Rows per batch."),
    executor: str = ExecutorOpt,
    seed: int = SeedOpt,
    threads: Optional[int] = ThreadsOpt,
) -> None:
    """Stream row-wise scorers over every row into OUT/scores/part-*.parquet."""
    from thresher._registry import SCORERS
    from thresher.cli import console
    from thresher.pipeline import Component, build
    from thresher.stream.scores import stream_scores

    from thresher.cli._common import threads_context

    ds = _open(source, id_column, label_column, text_column, embedding_columns)
    params = _params(param, SCORERS, scorer, "stream score")
    scorers = [build(SCORERS, Component(n, params[n])) for n in scorer]
    with threads_context(threads):
        r = stream_scores(ds, scorers, out, executor=executor, batch_size=batch_size, seed=seed)
    if r.n_skipped:
        console.print(f"resuming: {r.n_skipped} of {r.n_partitions} partitions already stored")
    console.print(f"{r.n_rows} rows scored in {r.n_computed} partitions ({r.seconds:.1f} s): "
                  f"{', '.join(r.columns)} -> {out / 'scores'}")


@app.command("knn")
def knn_cmd(
    source: str = typer.Argument(..., help="Directory, glob or file of Parquet/JSONL data."),
    out: Path = OutOpt,
    k: int = typer.Option(10, "--k", metavar="K", help="Neighbours per row."),
    quantizer: str = typer.Option("flat", "--quantizer", metavar="flat|sq8|pq", help="How vectors are stored."),
    n_probe: int = typer.Option(16, "--n-probe", metavar="N", help="Inverted lists searched per query."),
    distance: str = typer.Option("euclidean", "--distance", metavar="euclidean|cosine", help="Distance."),
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    id_column: Optional[str] = IdColumnOpt,
    seed: int = SeedOpt,
) -> None:
    """Build a faiss IVF index and write the approximate kNN graph with its measured recall."""
    from thresher.cli import console
    from thresher.stream.ann import build_ivf, knn_graph

    ds = _open(source, id_column, embedding_columns=embedding_columns)
    index = build_ivf(ds, quantizer=quantizer, n_probe=n_probe, metric=distance, seed=seed)
    s = knn_graph(ds, index, out, k=k, seed=seed + 1)
    flag = "" if s["meets_min_recall"] else f" [bold red](below {s['min_recall']})[/]"
    console.print(f"kNN graph of {ds.n_rows} rows -> {out / 'knn'}; recall@{k} {s['recall_at_k']:.3f}{flag}")


@app.command("dedup")
def dedup_cmd(
    source: str = typer.Argument(..., help="Directory, glob or file of Parquet/JSONL data."),
    out: Path = OutOpt,
    n_clusters: int = typer.Option(1000, "--n-clusters", metavar="K", help="k-means clusters."),
    eps: float = typer.Option(0.05, "--eps", metavar="EPS", help="Near-duplicates have cosine similarity >= 1 - eps."),
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    id_column: Optional[str] = IdColumnOpt,
    seed: int = SeedOpt,
) -> None:
    """Semantic deduplication (SemDeDup) into OUT/semdedup/."""
    from thresher.cli import console
    from thresher.stream.semdedup import stream_semdedup

    ds = _open(source, id_column, embedding_columns=embedding_columns)
    s = stream_semdedup(ds, out, n_clusters=n_clusters, eps=eps, seed=seed)
    console.print(f"{s['n_duplicates']} of {s['n_rows']} rows are semantic near-duplicates -> {out / 'semdedup'}")


@app.command("select")
def select_cmd(
    source: str = typer.Argument(..., help="Directory, glob or file of Parquet/JSONL data."),
    out: Path = OutOpt,
    selector: str = typer.Option(..., "--selector", "-S", metavar="NAME", help="Selector (e.g. facility_location)."),
    param: list[str] = ParamOpt,
    fraction: Optional[float] = typer.Option(None, "--fraction", metavar="F", help="Keep fraction (or give --n)."),
    n: Optional[int] = typer.Option(None, "--n", metavar="N", help="Rows to keep."),
    embedding_columns: Optional[str] = EmbeddingColumnsOpt,
    id_column: Optional[str] = IdColumnOpt,
    executor: str = ExecutorOpt,
    seed: int = SeedOpt,
) -> None:
    """Two-round selection over partitions (GreeDi); writes OUT/selection.parquet."""
    from thresher._registry import SELECTORS
    from thresher.cli import console
    from thresher.pipeline import Component, build
    from thresher.select.base import Budget
    from thresher.stream.partitioned import partitioned_select

    ds = _open(source, id_column, embedding_columns=embedding_columns)
    sel = build(SELECTORS, Component(selector, _params(param, SELECTORS, [selector], "stream select")[selector]))
    r = partitioned_select(ds, sel, Budget(n=n, fraction=fraction), executor=executor, seed=seed)
    path = _write_selection(out, r.selection, {"selector": selector, "union_size": r.union_size,
                                               "local_budget": r.local_budget, "local_budgets": list(r.local_budgets),
                                               "seed": seed, "source": str(source)})
    console.print(f"{len(r.selection)} rows selected from {ds.n_rows} (union of round one: {r.union_size}) -> {path}")


def _write_selection(out: Path, selection: Any, info: dict[str, Any]) -> Path:
    """Write ``OUT/selection.parquet`` and ``OUT/selection.json`` atomically; return the Parquet path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.store.atomic import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "selection.parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(selection.to_pandas(), preserve_index=False), tmp)
    write_json(out / "selection.json", info)
    return out / "selection.parquet"


GraphArg = typer.Argument(..., help="The output directory of `thresher stream knn` (holds knn/).")
FractionOpt = typer.Option(None, "--fraction", metavar="F", help="Keep fraction (or give --n).")
NOpt = typer.Option(None, "--n", metavar="N", help="Rows to keep.")
KernelOpt = typer.Option("gaussian", "--kernel", help="gaussian, or cosine for a cosine graph.")
BandwidthOpt = typer.Option(None, "--bandwidth", help="Gaussian bandwidth (default: median neighbour distance "
                            "of the first partition).")
MetricOpt = typer.Option("euclidean", "--metric", help="The graph's metric: euclidean or cosine.")


@app.command("sieve")
def sieve_cmd(
    graph: Path = GraphArg,
    out: Path = OutOpt,
    fraction: Optional[float] = FractionOpt,
    n: Optional[int] = NOpt,
    kernel: str = KernelOpt,
    bandwidth: Optional[float] = BandwidthOpt,
    metric: str = MetricOpt,
    epsilon: float = typer.Option(0.1, "--epsilon", help="Threshold grid: (1/2 - epsilon) of the optimum."),
) -> None:
    """One-pass facility location over a stored kNN graph (Sieve-Streaming++); writes OUT/selection.parquet."""
    from thresher.cli import console
    from thresher.select.base import Budget
    from thresher.stream.sieve import stream_facility_location

    sel, r = stream_facility_location(graph, Budget(n=n, fraction=fraction), kernel=kernel, bandwidth=bandwidth,
                                      metric=metric, epsilon=epsilon)
    path = _write_selection(out, sel, {"method": "sieve-streaming++", "graph": str(graph), "value": r.value,
                                       "tau": r.tau, "rows_seen": r.n_seen, "sieves_max": r.n_sieves_max,
                                       **{k: v for k, v in sel.params.items() if k != "value"}})
    console.print(f"{len(sel)} rows selected in one pass over {r.n_seen} rows (objective {r.value:.6g}, "
                  f"{r.n_sieves_max} sieves at most) -> {path}")


@app.command("greedi")
def greedi_cmd(
    graph: Path = GraphArg,
    out: Path = OutOpt,
    fraction: Optional[float] = FractionOpt,
    n: Optional[int] = NOpt,
    kernel: str = KernelOpt,
    bandwidth: Optional[float] = BandwidthOpt,
    metric: str = MetricOpt,
    local_budget: str = typer.Option("proportional", "--local-budget", help="proportional or k (per partition)."),
    oversample: float = typer.Option(3.0, "--oversample", help="Round one picks about oversample x budget rows."),
    executor: str = ExecutorOpt,
) -> None:
    """Two rounds of greedy facility location on a stored kNN graph (GreeDi); writes OUT/selection.parquet."""
    from thresher.cli import console
    from thresher.select.base import Budget
    from thresher.stream.graph_greedi import graph_greedi

    sel, r = graph_greedi(graph, Budget(n=n, fraction=fraction), kernel=kernel, bandwidth=bandwidth, metric=metric,
                          local_budget=local_budget, oversample=oversample, executor=executor)
    path = _write_selection(out, sel, {"graph": str(graph), "from_round": r.from_round,
                                       "local_budgets": list(r.local_budgets), **sel.params})
    console.print(f"{len(sel)} rows selected by two rounds of greedy (union of round one: {r.union_size}, "
                  f"objective {r.value:.6g}) -> {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stream")
