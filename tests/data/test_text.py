"""Text tables: JSONL/Parquet/lines/folders, bad encodings and empty documents, troff stripping, Debian mixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data.text import DEBIAN_DOMAINS, load_debian_text_mixture, read_text, strip_troff, text_table
from thresher.errors import DataError, DatasetUnavailableError, EmptyTableError, MissingColumnError


def test_jsonl_roles_flags_and_bad_bytes(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(
        b'{"id": "x1", "text": "good text", "y": 1, "src": "web"}\n'
        b"\n"
        b'{"id": "x2", "text": "  ", "y": 0, "src": "web"}\n'
        b'{"id": "x3", "text": "caf\xe9 latin-1", "y": 1, "src": "books"}\n'
    )
    t = read_text(p, id_column="id", label_column="y", group_column="src")
    assert t.row_id.tolist() == ["x1", "x2", "x3"]
    assert t.labels.tolist() == [1, 0, 1] and t.groups.tolist() == ["web", "web", "books"]
    assert t.column("flag.empty_text").tolist() == [False, True, False]
    assert t.column("flag.bad_encoding").tolist() == [False, False, True]
    assert t.text[2] == "caf\ufffd latin-1"
    with pytest.raises(DataError, match=r"line 4 of .* is not valid utf-8: byte 25 \(b'\\xe9'\)"):
        read_text(p, on_bad_encoding="raise")
    with pytest.raises(DataError, match="row id 'x2' is empty"):
        read_text(p, id_column="id", on_empty="raise")
    dropped = read_text(p, id_column="id", on_empty="drop")
    assert dropped.row_id.tolist() == ["x1", "x3"] and "flag.empty_text" not in dropped.column_names


def test_jsonl_structural_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "ok"}\n{"text": broken}\n')
    with pytest.raises(DataError, match="line 2 of .* is not valid JSON"):
        read_text(p)
    p.write_text('{"body": "ok"}\n')
    with pytest.raises(MissingColumnError, match="`text_column` of read_text must name a field"):
        read_text(p)
    p.write_text("\n\n")
    with pytest.raises(EmptyTableError):
        read_text(p)


def test_parquet_with_nulls(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["one doc", None, "two"], "n": [1, 2, 3]}), p)
    t = read_text(p)
    assert t.text.tolist() == ["one doc", "", "two"]
    assert t.column("flag.empty_text").tolist() == [False, True, False]
    assert t.column("n").tolist() == [1, 2, 3]


def test_lines_and_folder(tmp_path: Path) -> None:
    p = tmp_path / "c.txt"
    p.write_bytes(b"first doc\r\n\nthird \xff doc\n")
    t = read_text(p)
    assert t.text.tolist() == ["first doc", "", "third \ufffd doc"]
    assert t.column("flag.bad_encoding").tolist() == [False, False, True]
    root = tmp_path / "corpus"
    (root / "news").mkdir(parents=True)
    (root / "blogs").mkdir()
    (root / "news" / "a.txt").write_text("news story")
    (root / "blogs" / "b.txt").write_text("")
    (root / "blogs" / "c.md").write_text("not matched")
    f = read_text(root)
    assert f.column("source").tolist() == ["blogs/b.txt", "news/a.txt"]
    assert f.groups.tolist() == ["blogs", "news"]
    assert f.column("flag.empty_text").tolist() == [True, False]
    with pytest.raises(EmptyTableError, match="no files matching"):
        read_text(root, pattern="*.pdf")


def test_text_table_rejects_non_strings_and_all_empty_drop() -> None:
    with pytest.raises(DataError, match="document 1 of text_table must be a string; got int"):
        text_table(["a", 3])
    with pytest.raises(EmptyTableError):
        text_table(["", " "], on_empty="drop")
    t = text_table([b"ok", b"\xff"])
    assert t.column("flag.bad_encoding").tolist() == [False, True]


def test_strip_troff() -> None:
    src = (
        '.\\" a comment\n.TH GREP 1\n.SH "NAME"\ngrep \\- print lines that match patterns\n'
        ".SH SYNOPSIS\n.B grep\n[\\fIOPTION\\fP...] \\fIPATTERNS\\fR [\\fIFILE\\fR...]\n.PP\n.br\n"
        "Use \\(lqquotes\\(rq and \\e backslash\\&.\n"
        "\\h'2m'--flag\\h'|4n'text\n"
    )
    assert strip_troff(src) == (
        "NAME\ngrep - print lines that match patterns\nSYNOPSIS\ngrep\n[OPTION...] PATTERNS [FILE...]\n"
        "Use quotes and \\ backslash.\n--flagtext"
    )


def test_missing_domain_names_the_apt_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match=r"apt-get install -y fortunes"):
        load_debian_text_mixture(5, domains=("fortune",), roots={"fortune": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailableError, match="found no documents.*base-files"):
        load_debian_text_mixture(5, domains=("license",), roots={"license": str(tmp_path / "empty")})


@pytest.mark.skipif(
    not all(Path(DEBIAN_DOMAINS[d][0]).is_dir() for d in DEBIAN_DOMAINS), reason="needs man pages, licenses, fortunes"
)
def test_debian_mixture_is_deterministic_and_labelled() -> None:
    a = load_debian_text_mixture(40, target="fortune", seed=3)
    b = load_debian_text_mixture(40, target="fortune", seed=3)
    assert a.text.tolist() == b.text.tolist()
    assert {g: int((a.groups == g).sum()) for g in ("man", "license", "fortune")} == {"man": 40, "license": 40, "fortune": 40}
    assert np.array_equal(a.column("is_target"), a.groups == "fortune")
    assert not a.column("flag.empty_text").any()
    assert not any("\\f" in t or t.startswith(".") for t in a.text[a.groups == "man"])
