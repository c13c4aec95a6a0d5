"""End-to-end text demo: select toward a user-chosen domain of a real Debian text mixture.

The pool mixes manual pages, license texts and fortunes (see
:func:`thresher.data.text.load_debian_text_mixture`); a disjoint sample of the target
domain plays the "target data" the user wants more of. The demo computes quality
signals and flags, near-duplicate clusters, and four scores toward the target (DSIR
log importance weight, Moore-Lewis cross-entropy difference with a cross-fitted general
model, n-gram perplexity under a target model, fraction of quality rules passed),
stores them in a run directory, selects a fraction of the pool with DSIR importance
resampling (Gumbel top-k), Moore-Lewis bottom-k, perplexity bottom-k and uniform random,
and records how much of each selection comes from the target domain.

Settings can come from a TOML recipe (``recipes/text_mixture.toml``)::

    [data]
    target = "fortune"
    domains = ["man", "license", "fortune"]
    n_per_domain = 300
    n_target = 100
    [run]
    fraction = 0.2
    order = 3
    seed = 0
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._typing import Seed, as_generator, seed_int
from thresher._validation import check_float, check_int
from thresher.data.table import Table
from thresher.data.text import load_debian_text_mixture
from thresher.execute.base import Executor
from thresher.select.base import Budget
from thresher.store.rundir import RunDir, selection_key

__all__ = ["debian_pool_and_target", "run_text_mixture", "load_text_recipe"]

_KEYS = {"target", "domains", "n_per_domain", "n_target", "fraction", "order", "seed"}


def load_text_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a text-mixture recipe (``[data]`` and ``[run]`` tables) into keyword arguments of :func:`run_text_mixture`."""
    from thresher.errors import InvalidParameterError

    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for section in ("data", "run"):
        out.update(raw.get(section, {}))
    unknown = sorted(set(out) - _KEYS)
    if unknown:
        raise InvalidParameterError(
            f"keys of a text recipe must be among {sorted(_KEYS)}; got unknown {unknown} in {str(path)!r}."
        )
    return out


def debian_pool_and_target(
    target: str = "fortune",
    *,
    domains: Sequence[str] = ("man", "license", "fortune"),
    n_per_domain: int = 300,
    n_target: int = 100,
    seed: Seed = 0,
) -> tuple[Table, list[str]]:
    """Return (pool table with ``n_per_domain`` documents per domain, disjoint target-domain sample).

    Examples
    --------
    >>> pool, tgt = debian_pool_and_target("license", domains=("license",), n_per_domain=20, n_target=5)
    >>> pool.n_rows, len(tgt), set(tgt) & set(pool.text)
    (20, 5, set())
    """
    check_int(n_target, "n_target", "debian_pool_and_target", low=1)
    rng = as_generator(seed)
    full = load_debian_text_mixture(n_per_domain + n_target, domains=domains, target=target, seed=rng)
    keep = []
    target_rows = []
    for d in domains:
        rows = np.flatnonzero(full.groups == d)
        rows = rows[rng.permutation(len(rows))]
        if d == target:
            target_rows = rows[:n_target].tolist()
            keep.extend(rows[n_target : n_target + n_per_domain].tolist())
        else:
            keep.extend(rows[:n_per_domain].tolist())
    pool = full.take(np.sort(np.asarray(keep, dtype=np.int64)))
    return pool, [str(full.text[i]) for i in target_rows]


def run_text_mixture(
    run_dir: str | os.PathLike[str],
    *,
    target: str = "fortune",
    domains: Sequence[str] = ("man", "license", "fortune"),
    n_per_domain: int = 300,
    n_target: int = 100,
    fraction: float = 0.2,
    order: int = 3,
    seed: int = 0,
    force: bool = False,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Score a Debian text mixture toward ``target``, select ``fraction`` of it four ways, and store it all.

    Returns the summary also written to ``<run>/text/summary.json``: for each selection,
    its size and the share of target-domain documents (the pool's share is the baseline).

    Raises
    ------
    DatasetUnavailableError
        When a domain's files are missing (the message names the apt package).
    """
    from thresher.scores.text import DSIRWeight, MooreLewis, NearDuplicateCount, Perplexity, TextQuality
    from thresher.select.random import RandomSelector
    from thresher.select.sampling import ImportanceResampling
    from thresher.select.topk import TopK
    from thresher.store.atomic import atomic_path, write_json
    from thresher.text.minhash import add_near_duplicate_columns
    from thresher.text.quality import add_quality_columns

    owner = "run_text_mixture"
    check_float(fraction, "fraction", owner, low=0.0, high=1.0, low_open=True)
    check_int(seed, "seed", owner, low=0)
    pool, tgt = debian_pool_and_target(target, domains=domains, n_per_domain=n_per_domain, n_target=n_target, seed=seed)
    rd = RunDir(run_dir)
    params = dict(target=target, domains=list(domains), n_per_domain=n_per_domain, n_target=n_target,
                  fraction=fraction, order=order, seed=seed)
    rd.open(pool, {"step": "text_mixture", **params}, force=force)
    flagged = add_near_duplicate_columns(add_quality_columns(pool, executor=executor), executor=executor)
    flags = {c: flagged.column(c) for c in flagged.column_names if c.startswith("flag.")}
    quality = {c: flagged.column(c) for c in flagged.column_names if c.startswith("score.quality.")}
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.DataFrame({"row_id": pool.row_id, "text_near_dup.cluster": flagged.column("text_near_dup.cluster"), **flags})
    with atomic_path(rd.path / "text" / "flags.parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    scorers = [
        DSIRWeight(target=tgt, executor=executor),
        MooreLewis(target=tgt, order=order, executor=executor),
        Perplexity(reference=tgt, order=order, executor=executor),
        TextQuality(executor=executor),
        NearDuplicateCount(executor=executor),
    ]
    scores = {s.column: s.score(pool, seed=seed) for s in scorers}
    rd.write_scores(pool.row_id, {**scores, **quality})
    table = pool.with_columns(scores)
    budget = Budget(fraction=fraction)
    selectors = {
        "dsir-resample": ImportanceResampling(by="score.dsir", log=True),
        "moore-lewis": TopK(by="score.moore_lewis", largest=False),
        "perplexity": TopK(by="score.perplexity", largest=False),
        "random": RandomSelector(),
    }
    is_target = np.asarray(table.groups == target)
    summary: dict[str, Any] = {
        "target": target,
        "n_pool": pool.n_rows,
        "n_target_sample": len(tgt),
        "pool_target_share": float(is_target.mean()),
        "n_near_duplicates": int(flags["flag.text_near_duplicate"].sum()),
        "quality_fail_rate": {k[len("flag.quality."):]: float(np.mean(v)) for k, v in flags.items()
                              if k.startswith("flag.quality.")},
        "selections": {},
    }
    for label, sel in selectors.items():
        s = sel.select(table, budget, seed=seed)
        rd.write_selection(selection_key(label, budget, seed_int(seed)), s)
        pos = table.positions(s.row_ids)
        summary["selections"][label] = {"n": len(s), "target_share": float(is_target[pos].mean())}
    write_json(rd.path / "text" / "summary.json", summary)
    rd.mark_step("text_mixture", params)
    return summary
