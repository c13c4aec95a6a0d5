"""One ``threads`` setting for thresher's calls: BLAS/OpenMP pools and torch, limited inside, restored after.

Numerical libraries start as many threads as the machine has cores; on a busy machine, or
when work already runs in parallel (folds, shards, seeds), that oversubscribes the cores
and can make a five-fold logistic regression forty times slower. thresher therefore has
one setting, the number of threads its calls may use:

* :func:`set_threads` sets it for the rest of the process (``None``: back to the default);
* :func:`threads` is a context manager: ``with thresher.threads(2): ...`` limits the block
  to 2 threads and restores the previous limits on exit; thresher's long calls enter it
  themselves (with their ``threads=`` parameter where they take one), so the setting
  reaches every BLAS, OpenMP and torch thread pool they use;
* recipes take ``[run] threads = 2`` and the CLI ``--threads 2``.

The limits are applied with ``threadpoolctl.threadpool_limits`` (BLAS and OpenMP pools
loaded in the process) and ``torch.set_num_threads`` (when torch is imported), only for
the duration of a thresher call; ``os.environ`` is never written. The default is the
number of cores this process may run on, capped by ``OMP_NUM_THREADS`` when the
environment sets it (the user's own limit is respected, never raised).

Limits are process-wide state in BLAS and torch: two threads of one process that enter
:func:`threads` with different values at the same time see the later one's limit.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from thresher._validation import check_int

__all__ = ["threads", "thread_limit", "threads_active", "set_threads", "get_threads", "default_threads", "follows_threads"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

_setting: int | None = None  # set_threads(); None: default_threads()
_active: list[int] = []  # the limits of the threads() blocks now entered (innermost last)


def default_threads() -> int:
    """Return the default thread count: the cores this process may use, capped by ``OMP_NUM_THREADS``.

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return max(1, min(cores, int(env)))
    return max(1, cores)


def get_threads() -> int:
    """Return the thread count thresher's calls use now (innermost :func:`threads` block, else the setting).

    Examples
    --------
    >>> with threads(1):
    ...     get_threads()
    1
    """
    if _active:
        return _active[-1]
    return _setting if _setting is not None else default_threads()


def set_threads(n: int | None) -> None:
    """Set the number of threads thresher's calls may use from now on (``None``: the default).

    Examples
    --------
    >>> set_threads(1); get_threads()
    1
    >>> set_threads(None); get_threads() == default_threads()
    True
    """
    global _setting
    _setting = None if n is None else check_int(n, "threads", "set_threads", low=1)


@contextlib.contextmanager
def threads(n: int | None = None) -> Iterator[int]:
    """Limit BLAS/OpenMP pools and torch to ``n`` threads inside the block; restore them after.

    ``n=None`` applies the current setting (an enclosing block's limit, else
    :func:`set_threads`, else :func:`default_threads`); the block yields the limit used.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with threads(1) as n:
    ...     n, all(p["num_threads"] == 1 for p in threadpool_info())
    (1, True)
    """
    limit = get_threads() if n is None else check_int(n, "threads", "threads", low=1)
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # only a torch already imported is limited: never import it here
    torch_before = torch.get_num_threads() if torch is not None else None
    _active.append(limit)
    try:
        with threadpool_limits(limits=limit):
            if torch is not None and torch_before != limit:
                torch.set_num_threads(limit)
            yield limit
    finally:
        _active.pop()
        if torch is not None and torch_before is not None and torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)


# The name the CLI's ``threads_context`` looks for (cli/_common.py).
thread_limit = threads


def threads_active() -> bool:
    """Return whether a :func:`threads` block is entered now (its limit then wins over defaults).

    Examples
    --------
    >>> threads_active()
    False
    >>> with threads(1):
    ...     threads_active()
    True
    """
    return bool(_active)


def follows_threads(fn: F | None = None, *, torch: bool = False) -> Any:
    """Decorate a long call so it runs inside :func:`threads`: its ``threads`` argument, else the setting.

    A function with a ``threads`` parameter is limited to the value it is called with
    (``None``: the current setting). ``torch=True`` imports torch first, so a call that
    imports it lazily has its torch threads limited too.

    Examples
    --------
    >>> @follows_threads
    ... def work(*, threads=None):
    ...     return get_threads()
    >>> work(threads=1)
    1
    >>> with threads(1):
    ...     work()
    1
    """

    def decorate(f: F) -> F:
        takes_threads = "threads" in inspect.signature(f).parameters
        sig = inspect.signature(f)

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            n = sig.bind_partial(*args, **kwargs).arguments.get("threads") if takes_threads else None
            if torch:
                from thresher._torch import import_torch

                import_torch()
            with threads(n):
                return f(*args, **kwargs)

        wrapper.__thresher_follows_threads__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)
