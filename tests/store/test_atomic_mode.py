"""Atomic writes give files the mode a plain ``open()`` would: 0666 less the user's umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from thresher.store.atomic import write_bytes, write_json, write_text


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_text(tmp_path / "a.txt", "x")
        write_json(tmp_path / "b.json", {"a": 1})
        write_bytes(tmp_path / "c.bin", b"x")
        with open(tmp_path / "plain.txt", "w") as fh:  # what the user's tools would create
            fh.write("x")
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("a.txt", "b.json", "c.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
