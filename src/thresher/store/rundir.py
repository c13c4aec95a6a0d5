"""The run directory: everything one run produced, on disk, resumable, safe to share.

Layout::

    <run>/manifest.json        thresher version, input fingerprint, what produced each artifact
    <run>/table.parquet        the input table (rows, labels, matrices) the run scored
    <run>/signals/<name>.npy   per-row matrices computed by the run (e.g. out-of-fold probs)
    <run>/scores.parquet       one column per scorer, keyed by row_id (result keys in the schema)
    <run>/selections/<name>.parquet  one file per (arm, budget, seed)
    <run>/metrics.json         set metrics by slot (``vendi/train``, ``vendi[q=2]/train``)
    <run>/evaluation.parquet   one row per (arm, fraction, seed, model) training run
    <run>/report/index.html    the report
    <run>/.lock                the writers' lock (see :mod:`thresher.store.lock`)

Every file is written atomically, and every read-modify-write holds the run lock, so
concurrent writers lose nothing. Each stored result carries its *result key* (see
:mod:`thresher.store.keys`); a step reuses a stored result only when the key matches what
is asked for now, and otherwise recomputes it. The manifest's ``artifacts`` section
records, for each stored artifact, the key and what produced it (component, parameters,
seed, inputs); data files hold no timestamps, so the same run is byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
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
from thresher.store.keys import canonical, fingerprint, selection_key
from thresher.store.lock import DEFAULT_WAIT_S, LOCK_NAME, run_lock

__all__ = ["RunDir", "fingerprint", "selection_key"]

log = logging.getLogger(__name__)

_SCORE_KEYS = b"thresher.score_keys"
_SELECTION_META = b"thresher.selection"
_EVAL_SLOT = ("arm", "fraction", "seed", "model")
_ARTIFACT_FILES = ("scores.parquet", "metrics.json", "evaluation.parquet")
_ARTIFACT_DIRS = ("selections", "signals", "report", "recordings")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _read_bytes(path: Path) -> bytes | None:
    """Read a whole file through one descriptor (so a concurrent rename cannot tear it)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _read_parquet(path: Path) -> pa.Table | None:
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise RunDirError(
            f"{str(path)!r} must be a readable Parquet file; it is corrupt ({exc}). "
            "Delete it, or re-run with --force to start over."
        ) from None


def _write_parquet(path: Path, at: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(at, tmp)


class RunDir:
    """Read and write the artifacts of one run (see the module docstring for the layout).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> rd = RunDir(tempfile.mkdtemp())
    >>> rd.write_scores(np.array([0, 1]), {"score.x": np.array([0.5, 0.1])}, keys={"score.x": "k1"})
    >>> rd.has_score("score.x", "k1"), rd.has_score("score.x", "k2"), rd.read_scores()["score.x"].tolist()
    (True, False, [0.5, 0.1])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._session_writes = 0

    # -------------------------------------------------------------------- lock
    def lock(self, timeout: float | None = DEFAULT_WAIT_S) -> contextlib.AbstractContextManager[None]:
        """Return a context manager holding this directory's exclusive writers' lock."""
        return run_lock(self.path, timeout=timeout)

    def require_existing(self, param: str = "run_dir") -> None:
        """Raise :class:`RunDirError` unless this is an existing run directory (one with a manifest)."""
        p = str(self.path)
        if not self.path.exists():
            raise RunDirError(f"`{param}` must be an existing run directory; got {p!r}, which does not exist.")
        if not self.path.is_dir():
            raise RunDirError(f"`{param}` must be an existing run directory; got {p!r}, which is a file.")
        if not self.manifest_path.exists():
            raise RunDirError(
                f"`{param}` must be an existing run directory (one holding manifest.json); got {p!r}, which has none. "
                "Run `thresher run`, `thresher demo` or `thresher score` into it first."
            )
        self.read_manifest()  # a corrupt manifest raises here, naming the file

    # ---------------------------------------------------------------- manifest
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        data = _read_bytes(self.manifest_path)
        if data is None:
            return {}
        try:
            m = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(
                f"{str(self.manifest_path)!r} must be valid JSON; it is corrupt ({exc}). "
                "Re-run with --force to start over, or use another run directory."
            ) from None
        if not isinstance(m, dict):
            raise RunDirError(f"{str(self.manifest_path)!r} must hold a JSON object; got {type(m).__name__}.")
        return m

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        with self.lock():
            write_json(self.manifest_path, manifest)

    def _record(self, artifact: str, key: str | None, provenance: dict[str, Any] | None, **extra: Any) -> None:
        """Record in the manifest what produced ``artifact`` (call with the lock held)."""
        m = self.read_manifest()
        arts = m.setdefault("artifacts", {})
        arts[artifact] = {"key": key, **canonical(provenance or {}), **extra, "written": _now()}
        write_json(self.manifest_path, m)
        self._session_writes += 1

    def artifacts(self) -> dict[str, dict[str, Any]]:
        """Return the manifest's record of every stored artifact (key, producer, time)."""
        return dict(self.read_manifest().get("artifacts", {}))

    def _has_artifacts(self) -> bool:
        return any((self.path / f).exists() for f in _ARTIFACT_FILES) or any(
            (self.path / d).exists() and any((self.path / d).iterdir()) for d in _ARTIFACT_DIRS
        )

    def open(
        self, table: Table, params: dict[str, Any], *, force: bool = False, pending: bool = False
    ) -> dict[str, Any]:
        """Start or resume a run on ``table``; refuse a directory made from other input.

        Returns the manifest. With ``force``, stored artifacts are discarded first. A
        directory holding a manifest but no artifact (left by a run that failed at once)
        is taken over. ``params`` are recorded as the manifest's ``request``; with
        ``pending`` they become its ``params`` only when :meth:`finish` marks the request
        finished (so the manifest never claims parameters of work that did not run).
        """
        from thresher._version import __version__

        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"`run_dir` must be a directory; got {str(self.path)!r}, which is a file.")
        with self.lock():
            fp = fingerprint(table)
            manifest = self.read_manifest() if not force else {}
            stub = bool(manifest) and not self._has_artifacts()
            if manifest and not stub and manifest.get("input_fingerprint") != fp:
                raise RunDirError(
                    f"run directory {str(self.path)!r} holds results for other input "
                    f"(fingerprint {str(manifest.get('input_fingerprint'))[:12]}..., this input {fp[:12]}...); "
                    "use another directory or force=True (--force) to start over."
                )
            if force or stub:
                self.clear()
                manifest = {}
            manifest.setdefault("created", _now())
            manifest.setdefault("steps", {})
            manifest.setdefault("artifacts", {})
            manifest.update(
                {
                    "thresher_version": __version__,
                    "input_fingerprint": fp,
                    "n_rows": table.n_rows,
                    "request": {"params": canonical(params), "status": "running", "started": _now()},
                }
            )
            if not pending:
                manifest["params"] = canonical(params)
                manifest["request"]["status"] = "opened"
            write_json(self.manifest_path, manifest)
            if not (self.path / "table.parquet").exists():
                self.write_table(table)
        return manifest

    def holds_other_input(self, table: Table) -> bool:
        """Return whether this directory holds results for input other than ``table``."""
        m = self.read_manifest()
        return bool(m) and self._has_artifacts() and m.get("input_fingerprint") != fingerprint(table)

    def finish(self, status: str = "finished") -> None:
        """Mark the request in progress as ``status``; a finished request's params become ``params``."""
        with self.lock():
            m = self.read_manifest()
            req = m.get("request")
            if not req:
                return
            req["status"] = status
            req["ended"] = _now()
            if status == "finished":
                m["params"] = req.get("params", {})
            write_json(self.manifest_path, m)

    @contextlib.contextmanager
    def session(
        self, table: Table, params: dict[str, Any], *, force: bool = False, timeout: float | None = 0.0
    ) -> Iterator[dict[str, Any]]:
        """Open the run, hold its lock for the whole block, and clean up after a failure.

        A second writer on the same directory waits up to ``timeout`` seconds (``0``:
        fails at once) with :class:`~thresher.errors.RunDirLockedError`. If the block
        raises before storing any result, the directory is left as it was before (a
        directory this call created is removed again); otherwise what was stored stays,
        so the run can resume, and the request is marked failed.
        """
        existed = self.path.exists()
        if existed and not self.path.is_dir():
            raise RunDirError(f"`run_dir` must be a directory; got {str(self.path)!r}, which is a file.")
        had_lock = (self.path / LOCK_NAME).exists()
        with self.lock(timeout=timeout):
            before = set(os.listdir(self.path)) - ({LOCK_NAME} if not had_lock else set()) if existed else set()
            old_manifest = _read_bytes(self.manifest_path)
            self._session_writes = 0
            try:
                manifest = self.open(table, params, force=force, pending=True)
                yield manifest
            except BaseException as exc:
                if self._session_writes == 0 and not force:
                    self._restore(existed, before, old_manifest)
                else:
                    self.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
                raise
            self.finish()

    def _restore(self, existed: bool, before: set[str], old_manifest: bytes | None) -> None:
        import shutil

        for name in sorted(set(os.listdir(self.path)) - before - {LOCK_NAME}):
            p = self.path / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        if old_manifest is not None:
            with atomic_path(self.manifest_path) as tmp:
                tmp.write_bytes(old_manifest)
        if LOCK_NAME not in before:
            (self.path / LOCK_NAME).unlink(missing_ok=True)
        if not existed:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def clear(self) -> None:
        """Remove every artifact this module knows about (used by ``force``)."""
        import shutil

        with self.lock():
            for name in (*_ARTIFACT_FILES, "table.parquet", "manifest.json"):
                (self.path / name).unlink(missing_ok=True)
            for sub in _ARTIFACT_DIRS:
                if (self.path / sub).exists():
                    shutil.rmtree(self.path / sub)

    def mark_step(self, step: str, info: dict[str, Any] | None = None) -> None:
        with self.lock():
            m = self.read_manifest()
            m.setdefault("steps", {})[step] = {"finished": _now(), **canonical(info or {})}
            write_json(self.manifest_path, m)

    # -------------------------------------------------------------------- table
    def write_table(self, table: Table) -> None:
        _write_parquet(self.path / "table.parquet", table.without(table.score_names()).to_arrow())

    def read_table(self, *, with_scores: bool = True, with_signals: bool = False) -> Table:
        """Return the stored input table, with stored score columns attached.

        With ``with_signals``, return only the rows the stored signals describe (the
        rows the run scored, e.g. the training split) with the signal matrices and their
        metadata attached.
        """
        p = self.path / "table.parquet"
        self.require_existing()
        at = _read_parquet(p)
        if at is None:
            raise RunDirError(f"run directory {str(self.path)!r} has no table.parquet; run a step first.")
        table = Table.from_arrow(at)
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
        scores = self.read_scores()
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

    # ------------------------------------------------------------------ signals
    def signal_row_ids(self) -> np.ndarray | None:
        p = self.path / "signals" / "row_id.npy"
        return np.load(p, allow_pickle=True) if p.exists() else None

    def write_signal_rows(self, row_ids: np.ndarray) -> None:
        """Record which rows (in order) the stored signals describe."""
        arr = np.asarray(row_ids)
        with atomic_path(self.path / "signals" / "row_id.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=bool(arr.dtype == object))

    def read_signal_meta(self) -> dict[str, Any]:
        data = _read_bytes(self.path / "signals" / "meta.json")
        return dict(json.loads(data)) if data else {}

    def write_signal_meta(self, meta: dict[str, Any]) -> None:
        with self.lock():
            merged = self.read_signal_meta()
            merged.update(meta)
            write_json(self.path / "signals" / "meta.json", merged)

    def signal_names(self) -> list[str]:
        d = self.path / "signals"
        return sorted(p.stem for p in d.glob("*.npy") if p.stem != "row_id") if d.exists() else []

    def signal_key(self, name: str) -> str | None:
        """Return the result key ``name`` was stored under (``None``: unknown or absent)."""
        data = _read_bytes(self.path / "signals" / "keys.json")
        return dict(json.loads(data)).get(name) if data else None

    def has_signal(self, name: str, key: str | None = None) -> bool:
        """Return whether signal ``name`` is stored (and, with ``key``, stored under that key)."""
        if not (self.path / "signals" / f"{name}.npy").exists():
            return False
        return key is None or self.signal_key(name) == key

    def write_signal(
        self, name: str, values: np.ndarray, *, key: str | None = None, provenance: dict[str, Any] | None = None
    ) -> None:
        """Store signal ``name``; ``key``/``provenance`` record what produced it."""
        with self.lock():
            with atomic_path(self.path / "signals" / f"{name}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, values)
            data = _read_bytes(self.path / "signals" / "keys.json")
            keys = dict(json.loads(data)) if data else {}
            if key is None:
                keys.pop(name, None)
            else:
                keys[name] = key
            write_json(self.path / "signals" / "keys.json", keys)
            self._record(f"signals/{name}", key, provenance)

    def read_signal(self, name: str, *, mmap: bool = False) -> np.ndarray:
        return np.load(self.path / "signals" / f"{name}.npy", mmap_mode="r" if mmap else None)

    # ------------------------------------------------------------------- scores
    @property
    def scores_path(self) -> Path:
        return self.path / "scores.parquet"

    def _scores_arrow(self) -> pa.Table | None:
        return _read_parquet(self.scores_path)

    def read_scores(self) -> Any:
        """Return the score store as a pandas DataFrame with a ``row_id`` column."""
        import pandas as pd

        at = self._scores_arrow()
        return pd.DataFrame({ROW_ID: []}) if at is None else at.to_pandas()

    def score_keys(self) -> dict[str, str]:
        """Return the result key of each stored score column that has one."""
        at = self._scores_arrow()
        if at is None or not at.schema.metadata or _SCORE_KEYS not in at.schema.metadata:
            return {}
        return dict(json.loads(at.schema.metadata[_SCORE_KEYS]))

    def score_columns(self) -> list[str]:
        at = self._scores_arrow()
        return [] if at is None else [c for c in at.column_names if c != ROW_ID]

    def has_score(self, column: str, key: str | None = None) -> bool:
        """Return whether ``column`` is stored (and, with ``key``, stored under that key)."""
        if key is not None:
            return self.score_keys().get(column) == key
        return column in self.score_columns()

    def write_scores(
        self,
        row_ids: np.ndarray,
        columns: dict[str, np.ndarray],
        *,
        keys: dict[str, str] | None = None,
        provenance: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Add or replace score columns (aligned with ``row_ids``) in ``scores.parquet``.

        A column written with a key it was not stored under before is replaced whole
        (rows not in ``row_ids`` become NaN), so no value of an older computation survives;
        without a key, values of rows not in ``row_ids`` are kept.
        """
        import pandas as pd

        keys = dict(keys or {})
        with self.lock():
            at = self._scores_arrow()
            stored_keys = self.score_keys() if at is not None else {}
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
            meta[_SCORE_KEYS] = json.dumps(dict(sorted(stored_keys.items()))).encode()
            _write_parquet(self.scores_path, out.replace_schema_metadata(meta))
            for name in columns:
                self._record(f"scores/{name}", keys.get(name), (provenance or {}).get(name))

    # --------------------------------------------------------------- selections
    def selection_path(self, name: str) -> Path:
        return self.path / "selections" / f"{name}.parquet"

    def selection_result_key(self, name: str) -> str | None:
        """Return the result key the selection ``name`` was stored under (``None``: unknown)."""
        at = _read_parquet(self.selection_path(name))
        if at is None or not at.schema.metadata or _SELECTION_META not in at.schema.metadata:
            return None
        return json.loads(at.schema.metadata[_SELECTION_META]).get("key")

    def selection_digest(self, name: str) -> str:
        """Return the result key of selection ``name``, or a digest of its file when it has none."""
        key = self.selection_result_key(name)
        if key is not None:
            return key
        data = _read_bytes(self.selection_path(name))
        return "file:" + ("absent" if data is None else hashlib.sha256(data).hexdigest()[:20])

    def has_selection(self, name: str, key: str | None = None) -> bool:
        """Return whether selection ``name`` is stored (and, with ``key``, under that key)."""
        if not self.selection_path(name).exists():
            return False
        return key is None or self.selection_digest(name) == key

    def write_selection(
        self, name: str, sel: Selection, *, key: str | None = None, provenance: dict[str, Any] | None = None
    ) -> None:
        at = pa.Table.from_pandas(sel.to_pandas(), preserve_index=False)
        meta = {"selector": sel.selector, "budget": sel.budget.to_dict(), "seed": sel.seed, "params": canonical(sel.params)}
        if key is not None:
            meta["key"] = key
        at = at.replace_schema_metadata({_SELECTION_META: json.dumps(meta, sort_keys=True, default=str).encode()})
        with self.lock():
            _write_parquet(self.selection_path(name), at)
            self._record(f"selections/{name}", key, provenance)

    def read_selection(self, name: str) -> Selection:
        at = _read_parquet(self.selection_path(name))
        if at is None:
            known = ", ".join(self.selection_keys()) or "none"
            raise RunDirError(
                f"`selection` must name a stored selection of {str(self.path)!r}; got {name!r}. Stored: {known}."
            )
        meta = json.loads(at.schema.metadata[_SELECTION_META])
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
        data = _read_bytes(self.metrics_path)
        if data is None:
            return {}
        try:
            return dict(json.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{str(self.metrics_path)!r} must be valid JSON; it is corrupt ({exc}).") from None

    def has_metric(self, slot: str, key: str | None = None) -> bool:
        """Return whether a result is stored at ``slot`` (and, with ``key``, under that key)."""
        entry = self.read_metrics().get(slot)
        return entry is not None and (key is None or entry.get("key") == key)

    def write_metric(
        self, slot: str, result: MetricResult, *, key: str | None = None, provenance: dict[str, Any] | None = None
    ) -> None:
        with self.lock():
            metrics = self.read_metrics()
            metrics[slot] = {**canonical(result.to_dict()), "key": key}
            write_json(self.metrics_path, dict(sorted(metrics.items())))
            self._record(f"metrics/{slot}", key, provenance)

    # --------------------------------------------------------------- evaluation
    @property
    def evaluation_path(self) -> Path:
        return self.path / "evaluation.parquet"

    def read_evaluation(self) -> Any:
        """Return the training-run records, one per key (duplicates dropped, with a warning).

        ``df.attrs["n_duplicates_dropped"]`` says how many duplicated records were dropped
        (files written before result keys existed, or by concurrent writers, can hold some).
        """
        import pandas as pd

        at = _read_parquet(self.evaluation_path)
        if at is None:
            df = pd.DataFrame(columns=["arm", "fraction", "seed", "accuracy", "n_train", "model", "key"])
            df.attrs["n_duplicates_dropped"] = 0
            return df
        return dedupe_records(at.to_pandas())

    def evaluation_keys(self) -> set[str]:
        """Return the result keys of the stored training runs."""
        df = self.read_evaluation()
        return set() if "key" not in df.columns else {str(k) for k in df["key"] if isinstance(k, str)}

    def evaluation_done(self) -> set[tuple[str, float, int]]:
        """Return the (arm, fraction, seed) of the stored training runs (whatever their key)."""
        df = self.read_evaluation()
        return {(str(a), round(float(f), 6), int(s)) for a, f, s in zip(df["arm"], df["fraction"], df["seed"])}

    def append_evaluation(self, records: list[dict[str, Any]], *, provenance: dict[str, Any] | None = None) -> None:
        """Store training-run records (each: arm, fraction, seed, model, accuracy, key, ...).

        A record whose key is already stored is not stored twice; a stored record in the
        same slot (arm, fraction, seed, model) with another key is stale and is replaced.
        Timings (``seconds``) go to the manifest, not the data file.
        """
        import pandas as pd

        recs = [dict(r) for r in records]
        timings = [r.pop("seconds", None) for r in recs]
        with self.lock():
            at = _read_parquet(self.evaluation_path)
            df = None if at is None else at.to_pandas()
            new = pd.DataFrame(recs)
            if df is not None and len(df):
                if "key" in new.columns and "key" in df.columns:
                    known = set(df["key"].dropna().astype(str))
                    keep_new = ~new["key"].astype(str).isin(known)
                    new = new[keep_new]
                    timings = [t for t, k in zip(timings, keep_new.tolist()) if k]
                slot_cols = [c for c in _EVAL_SLOT if c in df.columns and c in new.columns]
                if slot_cols and len(new):
                    new_slots = set(map(tuple, new[slot_cols].astype(str).to_numpy().tolist()))
                    stale = [tuple(r) in new_slots for r in df[slot_cols].astype(str).to_numpy().tolist()]
                    df = df[~np.asarray(stale, dtype=bool)]
                df = pd.concat([df, new], ignore_index=True) if len(new) else df
            else:
                df = new
            sort_cols = [c for c in _EVAL_SLOT if c in df.columns]
            df = df.sort_values(sort_cols, kind="stable").reset_index(drop=True) if sort_cols else df
            _write_parquet(self.evaluation_path, pa.Table.from_pandas(df, preserve_index=False))
            for rec, secs in zip(new.to_dict("records"), timings):
                slot = "__".join(f"{c}={rec.get(c)}" for c in _EVAL_SLOT)
                self._record(f"evaluation/{slot}", rec.get("key"), provenance, seconds=secs)

    # -------------------------------------------------------------------- prune
    def prune(self, evaluation_keys: set[str], selections: set[str]) -> dict[str, int]:
        """Remove results a finished recipe run did not reproduce; return how many of each.

        After a recipe run, ``evaluation.parquet`` and ``selections/`` describe that recipe
        only: training runs and selections of earlier recipes (other seeds, fractions,
        arms, parameters or models) are removed (selections stored by ``thresher select``
        are kept), and so are metric results measured on a
        selection that was removed or recomputed since. Metric results on the training
        set with other parameters stay beside the current ones.
        """
        import pandas as pd

        with self.lock():
            arts = self.artifacts()
            dropped_arts: list[str] = []
            n_eval = 0
            at = _read_parquet(self.evaluation_path)
            if at is not None:
                df = at.to_pandas()
                keep = df["key"].isin(evaluation_keys) if "key" in df.columns else pd.Series(False, index=df.index)
                n_eval = int((~keep).sum())
                if n_eval:
                    _write_parquet(self.evaluation_path, pa.Table.from_pandas(df[keep].reset_index(drop=True), preserve_index=False))
                    live = set(df.loc[keep, "key"].astype(str)) if "key" in df.columns else set()
                    dropped_arts += [a for a, v in arts.items() if a.startswith("evaluation/") and v.get("key") not in live]
            # only selections an evaluation made; those of `thresher select` are the user's
            gone = [
                n for n in self.selection_keys()
                if n not in selections and arts.get(f"selections/{n}", {}).get("origin") == "evaluate"
            ]
            for n in gone:
                self.selection_path(n).unlink()
                dropped_arts.append(f"selections/{n}")
            metrics = self.read_metrics()
            stale = []
            for slot in metrics:
                target = slot.split("/", 1)[1] if "/" in slot else ""
                if target in gone:
                    stale.append(slot)
                elif self.has_selection(target):
                    recorded = arts.get(f"metrics/{slot}", {}).get("inputs", {}).get("target_key")
                    if recorded is not None and recorded != self.selection_result_key(target):
                        stale.append(slot)
            for slot in stale:
                metrics.pop(slot)
                dropped_arts.append(f"metrics/{slot}")
            if stale:
                write_json(self.metrics_path, dict(sorted(metrics.items())))
            if dropped_arts:
                m = self.read_manifest()
                for a in dropped_arts:
                    m.get("artifacts", {}).pop(a, None)
                write_json(self.manifest_path, m)
            counts = {"evaluation": n_eval, "selections": len(gone), "metrics": len(stale)}
            if any(counts.values()):
                log.info("removed results of earlier requests that this run does not reproduce: %s", counts)
            return counts

    # ------------------------------------------------------------------- report
    @property
    def report_dir(self) -> Path:
        return self.path / "report"


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
        cols = [c for c in _EVAL_SLOT if c in df.columns]
        out = df.drop_duplicates(subset=cols, keep="first") if cols else df
    out = out.reset_index(drop=True)
    dropped = n - len(out)
    if dropped:
        log.warning("dropped %d duplicated evaluation record(s) (same key); each training run is counted once", dropped)
    out.attrs["n_duplicates_dropped"] = before + dropped
    return out
