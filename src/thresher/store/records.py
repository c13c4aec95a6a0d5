"""Training-run records (``evaluation.parquet``): stored once per key, read once per key, pruned.

Each record is one training run of the reference model on one arm's rows at one keep
fraction and seed, with the result key that says what produced it. Writers merge under
the run lock and skip keys already stored, so concurrent runs duplicate nothing; a
record in the same slot (arm, fraction, seed, model) with another key is stale and is
replaced. Readers drop duplicates (files written before keys existed can hold some) and
say how many.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher.store.atomic import read_parquet, write_json, write_parquet

if TYPE_CHECKING:
    from thresher.store.rundir import RunDir

__all__ = ["EVAL_SLOT", "append_records", "dedupe_records", "prune_run"]

log = logging.getLogger(__name__)

EVAL_SLOT = ("arm", "fraction", "seed", "model")


def append_records(rd: RunDir, records: list[dict[str, Any]], *, provenance: dict[str, Any] | None = None) -> None:
    """Store training-run records (each: arm, fraction, seed, model, accuracy, key, ...).

    A record whose key is already stored is not stored twice; a stored record in the
    same slot (arm, fraction, seed, model) with another key is stale and is replaced.
    Timings (``seconds``) go to the manifest, not the data file.
    """
    import pandas as pd

    recs = [dict(r) for r in records]
    timings = [r.pop("seconds", None) for r in recs]
    with rd.lock():
        at = read_parquet(rd.evaluation_path)
        df = None if at is None else at.to_pandas()
        new = pd.DataFrame(recs)
        if df is not None and len(df):
            if "key" in new.columns and "key" in df.columns:
                known = set(df["key"].dropna().astype(str))
                keep_new = ~new["key"].astype(str).isin(known)
                new = new[keep_new]
                timings = [t for t, k in zip(timings, keep_new.tolist()) if k]
            slot_cols = [c for c in EVAL_SLOT if c in df.columns and c in new.columns]
            if slot_cols and len(new):
                new_slots = set(map(tuple, new[slot_cols].astype(str).to_numpy().tolist()))
                stale = [tuple(r) in new_slots for r in df[slot_cols].astype(str).to_numpy().tolist()]
                df = df[~np.asarray(stale, dtype=bool)]
            df = pd.concat([df, new], ignore_index=True) if len(new) else df
        else:
            df = new
        sort_cols = [c for c in EVAL_SLOT if c in df.columns]
        df = df.sort_values(sort_cols, kind="stable").reset_index(drop=True) if sort_cols else df
        write_parquet(rd.evaluation_path, pa.Table.from_pandas(df, preserve_index=False))
        for rec, secs in zip(new.to_dict("records"), timings):
            slot = "__".join(f"{c}={rec.get(c)}" for c in EVAL_SLOT)
            rd.record_artifact(f"evaluation/{slot}", rec.get("key"), provenance, seconds=secs)


def prune_run(rd: RunDir, evaluation_keys: set[str], selections: set[str]) -> dict[str, int]:
    """Remove results a finished recipe run did not reproduce; return how many of each.

    After a recipe run, ``evaluation.parquet`` and ``selections/`` describe that recipe
    only: training runs and selections of earlier recipes (other seeds, fractions,
    arms, parameters or models) are removed (selections stored by ``thresher select``
    are kept), and so are metric results measured on a
    selection that was removed or recomputed since. Metric results on the training
    set with other parameters stay beside the current ones.
    """
    import pandas as pd

    with rd.lock():
        arts = rd.artifacts()
        dropped_arts: list[str] = []
        n_eval = 0
        at = read_parquet(rd.evaluation_path)
        if at is not None:
            df = at.to_pandas()
            keep = df["key"].isin(evaluation_keys) if "key" in df.columns else pd.Series(False, index=df.index)
            n_eval = int((~keep).sum())
            if n_eval:
                write_parquet(rd.evaluation_path, pa.Table.from_pandas(df[keep].reset_index(drop=True), preserve_index=False))
                live = set(df.loc[keep, "key"].astype(str)) if "key" in df.columns else set()
                dropped_arts += [a for a, v in arts.items() if a.startswith("evaluation/") and v.get("key") not in live]
        # only selections an evaluation made; those of `thresher select` are the user's
        gone = [
            n for n in rd.selection_keys()
            if n not in selections and arts.get(f"selections/{n}", {}).get("origin") == "evaluate"
        ]
        for n in gone:
            rd.selection_path(n).unlink()
            dropped_arts.append(f"selections/{n}")
        metrics = rd.read_metrics()
        stale = []
        for slot in metrics:
            target = slot.split("/", 1)[1] if "/" in slot else ""
            if target in gone:
                stale.append(slot)
            elif rd.has_selection(target):
                recorded = arts.get(f"metrics/{slot}", {}).get("inputs", {}).get("target_key")
                if recorded is not None and recorded != rd.selection_result_key(target):
                    stale.append(slot)
        for slot in stale:
            metrics.pop(slot)
            dropped_arts.append(f"metrics/{slot}")
        if stale:
            write_json(rd.metrics_path, dict(sorted(metrics.items())))
        if dropped_arts:
            m = rd.read_manifest()
            for a in dropped_arts:
                m.get("artifacts", {}).pop(a, None)
            write_json(rd.manifest_path, m)
        counts = {"evaluation": n_eval, "selections": len(gone), "metrics": len(stale)}
        if any(counts.values()):
            log.info("removed results of earlier requests that this run does not reproduce: %s", counts)
        return counts


def dedupe_records(df: Any) -> Any:
    """Drop duplicated training-run records (same key, or same slot when there are no keys).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["a", "a"], "fraction": [0.5, 0.5], "seed": [0, 0], "accuracy": [0.8, 0.8]})
    >>> out = dedupe_records(df)
    >>> len(out), out.attrs["n_duplicates_dropped"]
    (1, 1)
    """
    n = len(df)
    before = int(df.attrs.get("n_duplicates_dropped", 0))
    if "key" in df.columns and df["key"].notna().all():
        out = df.drop_duplicates(subset=["key"], keep="first")
    else:
        cols = [c for c in EVAL_SLOT if c in df.columns]
        out = df.drop_duplicates(subset=cols, keep="first") if cols else df
    out = out.reset_index(drop=True)
    dropped = n - len(out)
    if dropped:
        log.warning("dropped %d duplicated evaluation record(s) (same key); each training run is counted once", dropped)
    out.attrs["n_duplicates_dropped"] = before + dropped
    return out
