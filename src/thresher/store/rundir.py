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
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.table import ROW_ID, Table
from thresher.errors import RunDirError
from thresher.metrics.base import MetricResult
from thresher.select.base import Selection
from thresher.store.atomic import atomic_path, read_bytes, read_parquet, write_json, write_parquet
from thresher.store.keys import canonical, fingerprint, selection_key
from thresher.store.score_store import SCORE_KEYS, selection_from_arrow, selection_meta, selection_to_arrow
from thresher.store.lock import DEFAULT_WAIT_S, run_lock

__all__ = ["RunDir", "fingerprint", "selection_key"]

log = logging.getLogger(__name__)

_ARTIFACT_FILES = ("scores.parquet", "metrics.json", "evaluation.parquet")
_ARTIFACT_DIRS = ("selections", "signals", "report", "recordings")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


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
        data = read_bytes(self.manifest_path)
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

    def record_artifact(self, artifact: str, key: str | None, provenance: dict[str, Any] | None, **extra: Any) -> None:
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
        from thresher.store.session import open_run

        return open_run(self, table, params, force=force, pending=pending)

    def holds_other_input(self, table: Table) -> bool:
        """Return whether this directory holds results for input other than ``table``."""
        m = self.read_manifest()
        return bool(m) and self._has_artifacts() and m.get("input_fingerprint") != fingerprint(table)

    def finish(self, status: str = "finished") -> None:
        """Mark the request in progress ``status``; a finished request's params become ``params``."""
        from thresher.store.session import finish_request

        finish_request(self, status)

    def session(
        self, table: Table, params: dict[str, Any], *, force: bool = False, timeout: float | None = 0.0
    ) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Open the run and hold its lock for a ``with`` block; see :func:`~thresher.store.session.run_session`."""
        from thresher.store.session import run_session

        return run_session(self, table, params, force=force, timeout=timeout)

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
        write_parquet(self.path / "table.parquet", table.without(table.score_names()).to_arrow())

    def read_table(self, *, with_scores: bool = True, with_signals: bool = False) -> Table:
        """Return the stored input table, with stored score columns attached.

        With ``with_signals``, return only the rows the stored signals describe (the
        rows the run scored, e.g. the training split) with the signal matrices and their
        metadata attached.
        """
        p = self.path / "table.parquet"
        self.require_existing()
        at = read_parquet(p)
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
        from thresher.store.score_store import attach_scores

        return attach_scores(table, self.read_scores())

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
        data = read_bytes(self.path / "signals" / "meta.json")
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
        data = read_bytes(self.path / "signals" / "keys.json")
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
            data = read_bytes(self.path / "signals" / "keys.json")
            keys = dict(json.loads(data)) if data else {}
            if key is None:
                keys.pop(name, None)
            else:
                keys[name] = key
            write_json(self.path / "signals" / "keys.json", keys)
            self.record_artifact(f"signals/{name}", key, provenance)

    def read_signal(self, name: str, *, mmap: bool = False) -> np.ndarray:
        return np.load(self.path / "signals" / f"{name}.npy", mmap_mode="r" if mmap else None)

    # ------------------------------------------------------------------- scores
    @property
    def scores_path(self) -> Path:
        return self.path / "scores.parquet"

    def _scores_arrow(self) -> pa.Table | None:
        return read_parquet(self.scores_path)

    def read_scores(self) -> Any:
        """Return the score store as a pandas DataFrame with a ``row_id`` column."""
        import pandas as pd

        at = self._scores_arrow()
        return pd.DataFrame({ROW_ID: []}) if at is None else at.to_pandas()

    def score_keys(self) -> dict[str, str]:
        """Return the result key of each stored score column that has one."""
        at = self._scores_arrow()
        if at is None or not at.schema.metadata or SCORE_KEYS not in at.schema.metadata:
            return {}
        return dict(json.loads(at.schema.metadata[SCORE_KEYS]))

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
        from thresher.store.score_store import merge_scores

        merge_scores(self, row_ids, columns, keys=keys, provenance=provenance)

    # --------------------------------------------------------------- selections
    def selection_path(self, name: str) -> Path:
        return self.path / "selections" / f"{name}.parquet"

    def selection_result_key(self, name: str) -> str | None:
        """Return the result key the selection ``name`` was stored under (``None``: unknown)."""
        at = read_parquet(self.selection_path(name))
        return None if at is None else selection_meta(at).get("key")

    def selection_digest(self, name: str) -> str:
        """Return the result key of selection ``name``, or a digest of its file when it has none."""
        key = self.selection_result_key(name)
        if key is not None:
            return key
        data = read_bytes(self.selection_path(name))
        return "file:" + ("absent" if data is None else hashlib.sha256(data).hexdigest()[:20])

    def has_selection(self, name: str, key: str | None = None) -> bool:
        """Return whether selection ``name`` is stored (and, with ``key``, under that key)."""
        if not self.selection_path(name).exists():
            return False
        return key is None or self.selection_digest(name) == key

    def write_selection(
        self, name: str, sel: Selection, *, key: str | None = None, provenance: dict[str, Any] | None = None
    ) -> None:
        """Store selection ``name`` with its result key; ``provenance`` goes to the manifest."""
        with self.lock():
            write_parquet(self.selection_path(name), selection_to_arrow(sel, key))
            self.record_artifact(f"selections/{name}", key, provenance)

    def read_selection(self, name: str) -> Selection:
        at = read_parquet(self.selection_path(name))
        if at is None:
            known = ", ".join(self.selection_keys()) or "none"
            raise RunDirError(
                f"`selection` must name a stored selection of {str(self.path)!r}; got {name!r}. Stored: {known}."
            )
        return selection_from_arrow(at)

    def selection_keys(self) -> list[str]:
        d = self.path / "selections"
        return sorted(p.stem for p in d.glob("*.parquet")) if d.exists() else []

    # ------------------------------------------------------------------ metrics
    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    def read_metrics(self) -> dict[str, dict[str, Any]]:
        data = read_bytes(self.metrics_path)
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
            self.record_artifact(f"metrics/{slot}", key, provenance)

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

        at = read_parquet(self.evaluation_path)
        if at is None:
            df = pd.DataFrame(columns=["arm", "fraction", "seed", "accuracy", "n_train", "model", "key"])
            df.attrs["n_duplicates_dropped"] = 0
            return df
        from thresher.store.records import dedupe_records

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
        """Store training-run records by key; see :func:`~thresher.store.records.append_records`."""
        from thresher.store.records import append_records

        append_records(self, records, provenance=provenance)

    def prune(self, evaluation_keys: set[str], selections: set[str]) -> dict[str, int]:
        """Remove results a finished recipe did not reproduce; see :func:`~thresher.store.records.prune_run`."""
        from thresher.store.records import prune_run

        return prune_run(self, evaluation_keys, selections)

    # ------------------------------------------------------------------- report
    @property
    def report_dir(self) -> Path:
        return self.path / "report"

