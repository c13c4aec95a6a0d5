"""An exclusive, re-entrant lock on a run directory (``fcntl.flock`` on ``<run>/.lock``).

Every read-modify-write of a shared artifact (``scores.parquet``, ``metrics.json``,
``evaluation.parquet``, ``manifest.json``) takes this lock for the few milliseconds it
needs, so concurrent writers in other processes never lose each other's work. A whole
run (``run_recipe``, the CLI's writing commands) also holds it from start to finish, so
a second run on the same directory waits (up to a timeout) or fails fast with an error
naming the process that holds it. The lock is re-entrant within one process: nested
acquisitions (a run that then writes a score) do not deadlock. ``flock`` locks are
released by the kernel when the holder dies, so a killed run never leaves a stale lock.

We use ``fcntl.flock`` directly rather than a library (``filelock``) because we need the
re-entrancy to be per process *and* to record who holds the lock for the error message;
both are a few lines over the system call.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from thresher.errors import RunDirError, RunDirLockedError

__all__ = ["run_lock", "LOCK_NAME", "DEFAULT_WAIT_S"]

LOCK_NAME = ".lock"
#: How long a short write waits for another process's lock before giving up.
DEFAULT_WAIT_S = 120.0

# Per-process state, rebuilt after a fork: lock path -> (thread lock, fd or None, depth).
_state: dict[str, list[object]] = {}
_state_pid = os.getpid()
_mutex = threading.Lock()


def _entry(key: str) -> list[object]:
    global _state, _state_pid
    with _mutex:
        if _state_pid != os.getpid():  # a forked child holds none of its parent's locks
            _state, _state_pid = {}, os.getpid()
        return _state.setdefault(key, [threading.RLock(), None, 0])


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    if not info:
        return "another process"
    return f"process {info.get('pid')} (`{info.get('command', '?')}`)"


@contextlib.contextmanager
def run_lock(run_path: str | os.PathLike[str], *, timeout: float | None = DEFAULT_WAIT_S) -> Iterator[None]:
    """Hold the exclusive lock of the run directory ``run_path`` inside the ``with`` block.

    ``timeout`` is how many seconds to wait for another process to release it (``0``:
    fail at once; ``None``: wait forever). Raises :class:`RunDirLockedError` naming the
    holder when the wait runs out. Re-entrant within one process.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with run_lock(d):
    ...     with run_lock(d, timeout=0):  # the same process may nest it
    ...         pass
    """
    root = Path(run_path)
    if root.exists() and not root.is_dir():
        raise RunDirError(f"`run_dir` must be a directory; got {str(root)!r}, which is a file.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"`run_dir` must be a directory thresher can create; got {str(root)!r}: {exc.strerror}.") from None
    lock_path = root / LOCK_NAME
    entry = _entry(str(lock_path.resolve()))
    tlock: threading.RLock = entry[0]  # type: ignore[assignment]
    if not tlock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
        raise RunDirLockedError(
            f"run directory {str(root)!r} must not be in use by another writer; another thread of this "
            "process holds it. Wait for it to finish or use another run directory."
        )
    try:
        if entry[2]:  # this thread already holds the file lock: nest
            entry[2] = int(entry[2]) + 1  # type: ignore[call-overload]
            try:
                yield
            finally:
                entry[2] = int(entry[2]) - 1  # type: ignore[call-overload]
            return
        fd = _acquire(root, lock_path, timeout)
        entry[1], entry[2] = fd, 1
        try:
            yield
        finally:
            entry[1], entry[2] = None, 0
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
    finally:
        tlock.release()


def _acquire(root: Path, lock_path: Path, timeout: float | None) -> int:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise RunDirError(
            f"`run_dir` must be writable; could not open {str(lock_path)!r}: {exc.strerror}."
        ) from None
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                raise RunDirLockedError(
                    f"run directory {str(root)!r} must not be in use by another writer; it is held by "
                    f"{_holder(lock_path)}. Wait for it to finish or use another run directory"
                    + (f" (waited {timeout:g} s)." if timeout else ".")
                ) from None
            time.sleep(delay)
            delay = min(0.02, delay * 2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv[:3])}).encode(), 0)
    return fd
