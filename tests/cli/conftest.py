"""CLI tests read what the commands print; pin the consoles' width so the output does not
depend on the terminal the suite runs in (rich wraps at $COLUMNS, or 80 without a tty)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from thresher import cli

    for c in (cli.console, cli.err):
        monkeypatch.setattr(c, "_width", 200)
    yield
