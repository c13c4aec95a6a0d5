"""How scores and selections are laid out in Parquet, each with its result key.

Score columns are merged by ``row_id`` into ``scores.parquet``; their keys live in the
file's schema metadata (``thresher.score_keys``), written in the same atomic rename as
the values, so a column and its key can never disagree. A selection's file carries its
selector, budget, seed, parameters and key in the ``thresher.selection`` metadata.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher.data.table import ROW_ID, Table
from thresher.select.base import Budget, Selection
from thresher.store.keys import canonical
from thresher.store.atomic import read_parquet, write_parquet

if TYPE_CHECKING:
    from thresher.store.rundir import RunDir

__all__ = ["SCORE_KEYS", "attach_scores", "merge_scores", "selection_to_arrow", "selection_from_arrow", "selection_meta"]

SCORE_KEYS = b"thresher.score_keys"
SELECTION_META = b"thresher.selection"


def merge_scores(
    rd: RunDir,
    row_ids: np.ndarray,
    columns: dict[str, np.ndarray],
    *,
    keys: dict[str, str] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Add or replace score columns (aligned with ``row_ids``) in ``rd``'s ``scores.parquet``, under its lock.

    A column written with a key it was not stored under before is replaced whole (rows
    not in ``row_ids`` become NaN), so no value of an older computation survives; without
    a key, values of rows not in ``row_ids`` are kept.
    """
    import pandas as pd

    keys = dict(keys or {})
    with rd.lock():
        at = read_parquet(rd.scores_path)
        has_keys = at is not None and at.schema.metadata and SCORE_KEYS in at.schema.metadata
        stored_keys = dict(json.loads(at.schema.metadata[SCORE_KEYS])) if has_keys else {}
        df = pd.DataFrame({ROW_ID: []}) if at is None else at.to_pandas()
        ids = np.asarray(row_ids)
        if len(df) == 0:
            df = pd.DataFrame({ROW_ID: ids})
        existing = df[ROW_ID].to_numpy()
        if len(existing) != len(ids) or not np.array_equal(existing, ids):
            index = {k: i for i, k in enumerate(existing.tolist())}
            missing = [r for r in ids.tolist() if r not in index]
            if missing:
                df = pd.concat([df, pd.DataFrame({ROW_ID: np.asarray(missing, dtype=ids.dtype)})], ignore_index=True)
                index = {k: i for i, k in enumerate(df[ROW_ID].tolist())}
            pos = np.array([index[r] for r in ids.tolist()], dtype=np.int64)
        else:
            pos = np.arange(len(ids))
        for name, values in columns.items():
            fresh = name not in df.columns or (name in keys and stored_keys.get(name) != keys[name])
            full = np.full(len(df), np.nan) if fresh else df[name].to_numpy(dtype=np.float64).copy()
            full[pos] = np.asarray(values, dtype=np.float64)
            df[name] = full
            if name in keys:
                stored_keys[name] = keys[name]
            else:
                stored_keys.pop(name, None)
        out = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(out.schema.metadata or {})
        meta[SCORE_KEYS] = json.dumps(dict(sorted(stored_keys.items()))).encode()
        write_parquet(rd.scores_path, out.replace_schema_metadata(meta))
        for name in columns:
            rd.record_artifact(f"scores/{name}", keys.get(name), (provenance or {}).get(name))



def selection_to_arrow(sel: Selection, key: str | None) -> pa.Table:
    """Return ``sel`` as an Arrow table with its metadata (and result ``key``) in the schema."""
    at = pa.Table.from_pandas(sel.to_pandas(), preserve_index=False)
    meta = {"selector": sel.selector, "budget": sel.budget.to_dict(), "seed": sel.seed, "params": canonical(sel.params)}
    if key is not None:
        meta["key"] = key
    return at.replace_schema_metadata({SELECTION_META: json.dumps(meta, sort_keys=True, default=str).encode()})


def selection_meta(at: pa.Table) -> dict[str, Any]:
    """Return the metadata a selection file was written with (empty if none)."""
    if not at.schema.metadata or SELECTION_META not in at.schema.metadata:
        return {}
    return dict(json.loads(at.schema.metadata[SELECTION_META]))


def selection_from_arrow(at: pa.Table) -> Selection:
    """Inverse of :func:`selection_to_arrow`."""
    meta = selection_meta(at)
    df = at.to_pandas()
    return Selection(
        row_ids=df[ROW_ID].to_numpy(),
        selector=meta["selector"],
        budget=Budget(**meta["budget"]),
        seed=meta["seed"],
        gains=df["gain"].to_numpy() if "gain" in df.columns else None,
        weights=df["weight"].to_numpy() if "weight" in df.columns else None,
        params=meta.get("params", {}),
    )


def attach_scores(table: Table, scores: Any) -> Table:
    """Return ``table`` with the columns of the ``scores`` frame attached by ``row_id`` (NaN where absent)."""
    if len(scores.columns) <= 1:
        return table
    ids = scores[ROW_ID].to_numpy()
    known = {k: i for i, k in enumerate(table.row_id.tolist())}
    src = np.array([i for i, r in enumerate(ids.tolist()) if r in known], dtype=np.int64)
    dst = np.array([known[ids[i]] for i in src.tolist()], dtype=np.int64)
    cols = {}
    for c in scores.columns:
        if c == ROW_ID:
            continue
        v = np.full(table.n_rows, np.nan)
        v[dst] = scores[c].to_numpy(dtype=np.float64)[src]
        cols[c] = v
    return table.with_columns(cols)
