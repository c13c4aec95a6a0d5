"""A run request from start to end: open (or take over) the directory, hold its lock, finish or undo.

:func:`run_session` is what a whole run (a recipe, a CLI command) wraps itself in: the
directory's lock is held throughout, the manifest records the request as running and,
at the end, as finished (its parameters then become the run's ``params``) or failed. A
request that fails before storing any result leaves the directory exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from thresher.data.table import Table
from thresher.errors import RunDirError
from thresher.store.atomic import atomic_path, read_bytes, write_json
from thresher.store.keys import canonical, fingerprint
from thresher.store.lock import LOCK_NAME

if TYPE_CHECKING:
    from thresher.store.rundir import RunDir

__all__ = ["open_run", "finish_request", "run_session"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def open_run(rd: RunDir, table: Table, params: dict[str, Any], *, force: bool = False, pending: bool = False) -> dict[str, Any]:
    """Start or resume a run of ``rd`` on ``table`` (see :meth:`RunDir.open`); return the manifest."""
    from thresher._version import __version__

    if rd.path.exists() and not rd.path.is_dir():
        raise RunDirError(f"`run_dir` must be a directory; got {str(rd.path)!r}, which is a file.")
    with rd.lock():
        fp = fingerprint(table)
        manifest = rd.read_manifest() if not force else {}
        stub = bool(manifest) and not rd._has_artifacts()
        if manifest and not stub and manifest.get("input_fingerprint") != fp:
            raise RunDirError(
                f"run directory {str(rd.path)!r} holds results for other input "
                f"(fingerprint {str(manifest.get('input_fingerprint'))[:12]}..., this input {fp[:12]}...); "
                "use another directory or force=True (--force) to start over."
            )
        if force or stub:
            rd.clear()
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
        write_json(rd.manifest_path, manifest)
        if not (rd.path / "table.parquet").exists():
            rd.write_table(table)
    return manifest


def finish_request(rd: RunDir, status: str = "finished") -> None:
    """Mark the request in progress ``status``; a finished request's params become the manifest's ``params``."""
    with rd.lock():
        m = rd.read_manifest()
        req = m.get("request")
        if not req:
            return
        req["status"] = status
        req["ended"] = _now()
        if status == "finished":
            m["params"] = req.get("params", {})
        write_json(rd.manifest_path, m)


@contextlib.contextmanager
def run_session(
    rd: RunDir, table: Table, params: dict[str, Any], *, force: bool = False, timeout: float | None = 0.0
) -> Iterator[dict[str, Any]]:
    """Open the run, hold its lock for the whole block, and clean up after a failure.

    A second writer on the same directory waits up to ``timeout`` seconds (``0``:
    fails at once) with :class:`~thresher.errors.RunDirLockedError`. If the block
    raises before storing any result, the directory is left as it was before (a
    directory this call created is removed again); otherwise what was stored stays,
    so the run can resume, and the request is marked failed.
    """
    existed = rd.path.exists()
    if existed and not rd.path.is_dir():
        raise RunDirError(f"`run_dir` must be a directory; got {str(rd.path)!r}, which is a file.")
    had_lock = (rd.path / LOCK_NAME).exists()
    with rd.lock(timeout=timeout):
        before = set(os.listdir(rd.path)) - ({LOCK_NAME} if not had_lock else set()) if existed else set()
        old_manifest = read_bytes(rd.manifest_path)
        rd._session_writes = 0
        try:
            manifest = rd.open(table, params, force=force, pending=True)
            yield manifest
        except BaseException as exc:
            if rd._session_writes == 0 and not force:
                _restore(rd, existed, before, old_manifest)
            else:
                rd.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        rd.finish()

def _restore(rd: RunDir, existed: bool, before: set[str], old_manifest: bytes | None) -> None:
    import shutil

    for name in sorted(set(os.listdir(rd.path)) - before - {LOCK_NAME}):
        p = rd.path / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if old_manifest is not None:
        with atomic_path(rd.manifest_path) as tmp:
            tmp.write_bytes(old_manifest)
    if LOCK_NAME not in before:
        (rd.path / LOCK_NAME).unlink(missing_ok=True)
    if not existed:
        with contextlib.suppress(OSError):
            rd.path.rmdir()
