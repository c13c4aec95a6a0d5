"""The run directory: everything one run produced, on disk, resumable.

Layout::

    <run>/manifest.json        thresher version, parameters, seeds, input fingerprint, steps done
    <run>/table.parquet        the input table (rows, labels, matrices) the run scored
    <run>/signals/<name>.npy   per-row matrices computed by the run (e.g. out-of-fold probs)
    <run>/scores.parquet       one column per scorer, keyed by row_id
    <run>/selections/<key>.parquet   one file per (selector, budget, seed)
    <run>/metrics.json         set metrics by key
    <run>/evaluation.parquet   one row per (arm, fraction, seed) training run
    <run>/report/index.html    the report

Every file is written atomically; each step checks what is already stored and skips it
unless forced, so a run killed mid-way resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.data.table import ROW_ID, Table
from thresher.errors import RunDirError
from thresher.metrics.base import MetricResult
from thresher.select.base import Budget, Selection
from thresher.store.atomic import atomic_path, write_json

__all__ = ["RunDir", "fingerprint", "selection_key"]

_KEY_RE = re.compile(r"[^A-Za-z0-9_.=-]+")


def fingerprint(table: Table) -> str:
    """Return a SHA-256 of the table's ids, columns and matrices (its identity as input)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(table.row_id.astype(str) if table.row_id.dtype == object else table.row_id).tobytes())
    for name in sorted(table.column_names):
        if name.startswith(("score.", "flag.")):
            continue
        v = table.column(name)
        h.update(name.encode())
        h.update(v.astype(str).tobytes() if v.dtype == object else np.ascontiguousarray(v).tobytes())
    for name in sorted(table.matrix_names):
        h.update(name.encode())
        h.update(np.ascontiguousarray(table.matrix(name)).tobytes())
    return h.hexdigest()


def selection_key(selector: str, budget: Budget, seed: int | None) -> str:
    """Return the file-safe key of one selection, e.g. ``topk-el2n__f=0.3__s=0``."""
    b = f"f={budget.fraction:g}" if budget.fraction is not None else f"n={budget.n}"
    if budget.cost:
        b += f"__cost={budget.cost}"
    s = "" if seed is None else f"__s={seed}"
    return _KEY_RE.sub("-", f"{selector}__{b}{s}")


class RunDir:
    """Read and write the artifacts of one run (see the module docstring for the layout).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from thresher.data import from_numpy
    >>> rd = RunDir(tempfile.mkdtemp())
    >>> rd.write_scores(np.array([0, 1]), {"score.x": np.array([0.5, 0.1])})
    >>> rd.has_score("score.x"), rd.read_scores()["score.x"].tolist()
    (True, [0.5, 0.1])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # ---------------------------------------------------------------- manifest
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.manifest_path, manifest)

    def open(self, table: Table, params: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        """Start or resume a run on ``table``; refuse a directory made from other input.

        Returns the manifest. With ``force``, stored artifacts are discarded first.
        """
        from thresher._version import __version__

        fp = fingerprint(table)
        manifest = self.read_manifest()
        if manifest and not force and manifest.get("input_fingerprint") != fp:
            raise RunDirError(
                f"run directory {str(self.path)!r} holds results for other input "
                f"(fingerprint {str(manifest.get('input_fingerprint'))[:12]}..., this input {fp[:12]}...); "
                "use another directory or force=True (--force) to start over."
            )
        if force and self.path.exists():
            self.clear()
            manifest = {}
        self.path.mkdir(parents=True, exist_ok=True)
        manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        manifest.setdefault("steps", {})
        manifest.update(
            {"thresher_version": __version__, "input_fingerprint": fp, "params": params, "n_rows": table.n_rows}
        )
        self.write_manifest(manifest)
        if not (self.path / "table.parquet").exists():
            self.write_table(table)
        return manifest

    def clear(self) -> None:
        """Remove every artifact this module knows about (used by ``force``)."""
        import shutil

        for name in ("scores.parquet", "metrics.json", "evaluation.parquet", "table.parquet", "manifest.json"):
            p = self.path / name
            if p.exists():
                p.unlink()
        for sub in ("selections", "signals", "report"):
            if (self.path / sub).exists():
                shutil.rmtree(self.path / sub)

    def mark_step(self, step: str, info: dict[str, Any] | None = None) -> None:
        m = self.read_manifest()
        m.setdefault("steps", {})[step] = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **(info or {})}
        self.write_manifest(m)

    # -------------------------------------------------------------------- table
    def write_table(self, table: Table) -> None:
        with atomic_path(self.path / "table.parquet") as tmp:
            pq.write_table(table.without(table.score_names()).to_arrow(), tmp)

    def read_table(self, *, with_scores: bool = True, with_signals: bool = False) -> Table:
        """Return the stored input table, with stored score columns attached.

        With ``with_signals``, return only the rows the stored signals describe (the
        rows the run scored, e.g. the training split) with the signal matrices and their
        metadata attached.
        """
        p = self.path / "table.parquet"
        if not p.exists():
            raise RunDirError(f"run directory {str(self.path)!r} has no table.parquet; run a step first.")
        table = Table.from_arrow(pq.read_table(p))
        if with_signals:
            sig_ids = self.signal_row_ids()
            if sig_ids is not None:
                table = table.subset(sig_ids)
            for name in self.signal_names():
                table = table.with_matrix(name, self.read_signal(name))
            table.meta.update(self.read_signal_meta())
        return self.attach_scores(table) if with_scores else table

    def attach_scores(self, table: Table) -> Table:
        """Return ``table`` with every stored score column (NaN for rows without a value)."""
        if not self.scores_path.exists():
            return table
        scores = self.read_scores()
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

    # ------------------------------------------------------------------ signals
    def signal_row_ids(self) -> np.ndarray | None:
        p = self.path / "signals" / "row_id.npy"
        return np.load(p, allow_pickle=True) if p.exists() else None

    def write_signal_rows(self, row_ids: np.ndarray) -> None:
        """Record which rows (in order) the stored signals describe."""
        with atomic_path(self.path / "signals" / "row_id.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(row_ids), allow_pickle=bool(np.asarray(row_ids).dtype == object))

    def read_signal_meta(self) -> dict[str, Any]:
        p = self.path / "signals" / "meta.json"
        return dict(json.loads(p.read_text(encoding="utf-8"))) if p.exists() else {}

    def write_signal_meta(self, meta: dict[str, Any]) -> None:
        merged = self.read_signal_meta()
        merged.update(meta)
        write_json(self.path / "signals" / "meta.json", merged)

    def signal_names(self) -> list[str]:
        d = self.path / "signals"
        return sorted(p.stem for p in d.glob("*.npy") if p.stem != "row_id") if d.exists() else []

    def has_signal(self, name: str) -> bool:
        return (self.path / "signals" / f"{name}.npy").exists()

    def write_signal(self, name: str, values: np.ndarray) -> None:
        with atomic_path(self.path / "signals" / f"{name}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, values)

    def read_signal(self, name: str, *, mmap: bool = False) -> np.ndarray:
        return np.load(self.path / "signals" / f"{name}.npy", mmap_mode="r" if mmap else None)

    # ------------------------------------------------------------------- scores
    @property
    def scores_path(self) -> Path:
        return self.path / "scores.parquet"

    def read_scores(self) -> Any:
        """Return the score store as a pandas DataFrame with a ``row_id`` column."""
        import pandas as pd

        if not self.scores_path.exists():
            return pd.DataFrame({ROW_ID: []})
        return pq.read_table(self.scores_path).to_pandas()

    def score_columns(self) -> list[str]:
        if not self.scores_path.exists():
            return []
        return [c for c in pq.read_schema(self.scores_path).names if c != ROW_ID]

    def has_score(self, column: str) -> bool:
        return column in self.score_columns()

    def write_scores(self, row_ids: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Add or replace score columns (aligned with ``row_ids``) in ``scores.parquet``."""
        df = self.read_scores()
        ids = np.asarray(row_ids)
        if len(df) == 0:
            import pandas as pd

            df = pd.DataFrame({ROW_ID: ids})
        existing = df[ROW_ID].to_numpy()
        if len(existing) != len(ids) or not np.array_equal(existing, ids):
            index = {k: i for i, k in enumerate(existing.tolist())}
            missing = [r for r in ids.tolist() if r not in index]
            if missing:
                import pandas as pd

                df = pd.concat([df, pd.DataFrame({ROW_ID: missing})], ignore_index=True)
                index = {k: i for i, k in enumerate(df[ROW_ID].tolist())}
            pos = np.array([index[r] for r in ids.tolist()], dtype=np.int64)
        else:
            pos = np.arange(len(ids))
        for name, values in columns.items():
            full = df[name].to_numpy(dtype=np.float64).copy() if name in df.columns else np.full(len(df), np.nan)
            full[pos] = np.asarray(values, dtype=np.float64)
            df[name] = full
        with atomic_path(self.scores_path) as tmp:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)

    # --------------------------------------------------------------- selections
    def selection_path(self, key: str) -> Path:
        return self.path / "selections" / f"{key}.parquet"

    def has_selection(self, key: str) -> bool:
        return self.selection_path(key).exists()

    def write_selection(self, key: str, sel: Selection) -> None:
        at = pa.Table.from_pandas(sel.to_pandas(), preserve_index=False)
        meta = {
            "selector": sel.selector,
            "budget": sel.budget.to_dict(),
            "seed": sel.seed,
            "params": sel.params,
        }
        at = at.replace_schema_metadata({b"thresher.selection": json.dumps(meta, default=str).encode()})
        with atomic_path(self.selection_path(key)) as tmp:
            pq.write_table(at, tmp)

    def read_selection(self, key: str) -> Selection:
        at = pq.read_table(self.selection_path(key))
        meta = json.loads(at.schema.metadata[b"thresher.selection"])
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

    def selection_keys(self) -> list[str]:
        d = self.path / "selections"
        return sorted(p.stem for p in d.glob("*.parquet")) if d.exists() else []

    # ------------------------------------------------------------------ metrics
    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    def read_metrics(self) -> dict[str, dict[str, Any]]:
        if not self.metrics_path.exists():
            return {}
        return dict(json.loads(self.metrics_path.read_text(encoding="utf-8")))

    def has_metric(self, key: str) -> bool:
        return key in self.read_metrics()

    def write_metric(self, key: str, result: MetricResult) -> None:
        metrics = self.read_metrics()
        metrics[key] = result.to_dict()
        write_json(self.metrics_path, metrics)

    # --------------------------------------------------------------- evaluation
    @property
    def evaluation_path(self) -> Path:
        return self.path / "evaluation.parquet"

    def read_evaluation(self) -> Any:
        import pandas as pd

        if not self.evaluation_path.exists():
            return pd.DataFrame(columns=["arm", "fraction", "seed", "accuracy", "n_train"])
        return pq.read_table(self.evaluation_path).to_pandas()

    def evaluation_done(self) -> set[tuple[str, float, int]]:
        df = self.read_evaluation()
        return {(str(a), round(float(f), 6), int(s)) for a, f, s in zip(df["arm"], df["fraction"], df["seed"])}

    def append_evaluation(self, records: list[dict[str, Any]]) -> None:
        """Append training-run records (each: arm, fraction, seed, accuracy, ...) atomically."""
        import pandas as pd

        df = self.read_evaluation()
        new = pd.DataFrame(records)
        df = new if len(df) == 0 else pd.concat([df, new], ignore_index=True)
        with atomic_path(self.evaluation_path) as tmp:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)

    # ------------------------------------------------------------------- report
    @property
    def report_dir(self) -> Path:
        return self.path / "report"
