"""Make every command plain and uniform: plain help metavars, one ``error:`` line for thresher errors."""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Any

import typer

from thresher.cli._common import err
from thresher.errors import ThresherError

__all__ = ["plain"]

_METAVARS = {bool: "", int: "N", float: "X", str: "TEXT", Path: "PATH"}


def plain(app_: typer.Typer) -> None:
    """Make every command of ``app_`` and its groups plain and uniform.

    Help shows a plain metavar instead of Python types (no ``<bool>``, ``<list[str]>``),
    and a :class:`ThresherError` becomes one ``error:`` line and exit status 2, the same
    under ``main()`` and under a test runner.
    """
    app_.rich_markup_mode = None
    for cmd in app_.registered_commands:
        cb = cmd.callback
        if cb is None or getattr(cb, "_thresher_plain", False):
            continue
        hints = typing.get_type_hints(cb)
        for p in inspect.signature(cb).parameters.values():
            info = p.default
            if isinstance(info, typer.models.ArgumentInfo) and info.metavar is None:
                info.metavar = p.name.upper()
            elif isinstance(info, typer.models.OptionInfo) and info.metavar is None:
                ann = hints.get(p.name, str)
                kinds = typing.get_args(ann) or (ann,)
                base = next((t for t in _METAVARS if t in kinds), str)
                if typing.get_origin(ann) is list:
                    base = next((t for t in _METAVARS if t in typing.get_args(ann)), str)
                info.metavar = _METAVARS[base]
        cmd.callback = _friendly(cb)
    for group in app_.registered_groups:
        if group.typer_instance is not None:
            plain(group.typer_instance)


def _friendly(cb: Any) -> Any:
    @functools.wraps(cb)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return cb(*args, **kwargs)
        except ThresherError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    wrapper._thresher_plain = True  # type: ignore[attr-defined]
    return wrapper


def _no_argument_type(self: Any, ctx: Any) -> None:
    return None


# typer prints a Python type after every positional argument ("RECIPE <path>") and offers no
# per-argument switch; thresher's help says what an argument is in words instead.
typer.core.TyperArgument.display_type_rich = _no_argument_type  # type: ignore[method-assign,assignment]
