"""Text tables: documents from JSON Lines, Parquet, plain-text files or folders, and a Debian text mixture.

Every reader returns a :class:`~thresher.data.Table` with a ``text`` column. Problems
with single documents never stop a run half-way: a line that is not valid UTF-8 is
decoded with replacement characters and flagged (``flag.bad_encoding``), an empty or
whitespace-only document is flagged (``flag.empty_text``), unless the caller asks for
an error (``on_bad_encoding="raise"``, ``on_empty="raise"``) or for empty documents to be
dropped (``on_empty="drop"``; row ids keep their original positions). Structural
problems (a line that is not JSON, a missing text column) raise :class:`DataError`
naming the file and line before anything is computed.

:func:`load_debian_text_mixture` builds a real multi-domain corpus from text Debian
ships: manual pages (troff markup stripped), license texts and fortunes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_int, fail
from thresher.data.table import Table
from thresher.errors import DataError, DatasetUnavailableError, EmptyTableError, MissingColumnError

__all__ = ["read_text", "text_table", "strip_troff", "load_debian_text_mixture", "DEBIAN_DOMAINS"]

_FORMATS = ("jsonl", "parquet", "lines", "folder")


def _decode(raw: bytes, where: str, encoding: str, on_bad: str) -> tuple[str, bool]:
    try:
        return raw.decode(encoding), False
    except UnicodeDecodeError as exc:
        if on_bad == "raise":
            raise DataError(
                f"{where} is not valid {encoding}: byte {exc.start} ({raw[exc.start : exc.start + 1]!r}); "
                "pass on_bad_encoding='flag' to keep it with replacement characters."
            ) from None
        return raw.decode(encoding, errors="replace"), True


def text_table(
    texts: Sequence[Any],
    *,
    row_id: Any = None,
    columns: dict[str, Any] | None = None,
    bad_encoding: Any = None,
    on_empty: str = "flag",
    meta: dict[str, Any] | None = None,
) -> Table:
    """Build a text table from documents, flagging (or dropping, or refusing) empty ones.

    ``None`` documents count as empty; ``bytes`` are decoded as UTF-8 with replacement and
    flagged as bad encoding when they are not valid UTF-8.

    Examples
    --------
    >>> t = text_table(["hello world", "   ", None])
    >>> t.text.tolist(), t.column("flag.empty_text").tolist()
    (['hello world', '   ', ''], [False, True, True])
    """
    owner = "text_table"
    check_choice(on_empty, "on_empty", owner, ("flag", "raise", "drop"))
    n = len(texts)
    bad = np.zeros(n, dtype=bool) if bad_encoding is None else np.asarray(bad_encoding, dtype=bool).copy()
    out = np.empty(n, dtype=object)
    for i, t in enumerate(texts):
        if t is None or (isinstance(t, float) and np.isnan(t)):
            out[i] = ""
        elif isinstance(t, bytes):
            out[i], b = _decode(t, f"document {i}", "utf-8", "flag")
            bad[i] |= b
        elif isinstance(t, str):
            out[i] = t
        else:
            raise DataError(f"document {i} of {owner} must be a string; got {type(t).__name__}.")
    empty = np.array([not s.strip() for s in out], dtype=bool)
    ids = np.arange(n, dtype=np.int64) if row_id is None else np.asarray(row_id)
    if on_empty == "raise" and empty.any():
        first = ids[np.flatnonzero(empty)[0]]
        first = first.item() if isinstance(first, np.generic) else first
        raise DataError(f"document with row id {first!r} is empty ({int(empty.sum())} empty in all); "
                        "pass on_empty='flag' or 'drop' to keep going.")
    cols: dict[str, Any] = {"text": out}
    cols.update(columns or {})
    cols["flag.empty_text"] = empty
    cols["flag.bad_encoding"] = bad
    table = Table(ids, columns=cols, meta=meta)
    if on_empty == "drop":
        table = table.take(np.flatnonzero(~empty)).without(["flag.empty_text"])
        if table.n_rows == 0:
            raise EmptyTableError(f"every document given to {owner} is empty; nothing is left after on_empty='drop'.")
    return table


def _format_of(p: Path, fmt: str | None) -> str:
    if fmt is not None:
        return str(check_choice(fmt, "format", "read_text", _FORMATS))
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    mapping = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".txt": "lines"}
    if suffix not in mapping:
        raise fail("path", "read_text", "a folder, or a .jsonl, .parquet or .txt file (or pass `format`)", str(p))
    return mapping[suffix]


def read_text(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    encoding: str = "utf-8",
    on_bad_encoding: str = "flag",
    on_empty: str = "flag",
    pattern: str = "**/*.txt",
) -> Table:
    """Read documents into a text table from JSON Lines, Parquet, a text file (one per line) or a folder.

    Parameters
    ----------
    format
        ``"jsonl"``, ``"parquet"``, ``"lines"`` (one document per line of a text file) or
        ``"folder"`` (one document per file matching ``pattern``; ``source`` holds the
        relative path and ``group`` the first sub-folder when files sit in sub-folders).
        Inferred from the path when omitted.
    text_column, id_column, label_column, group_column
        Fields of JSONL/Parquet records that play these roles; other scalar fields are
        kept as plain columns.
    on_bad_encoding
        ``"flag"`` (replace undecodable bytes, set ``flag.bad_encoding``) or ``"raise"``.
    on_empty
        ``"flag"`` (set ``flag.empty_text``), ``"drop"`` or ``"raise"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.jsonl"
    >>> _ = p.write_bytes(b'{"text": "fine"}\\n{"text": ""}\\n{"text": "caf\\xe9"}\\n')
    >>> t = read_text(p)
    >>> t.column("flag.empty_text").tolist(), t.column("flag.bad_encoding").tolist()
    ([False, True, False], [False, False, True])
    """
    owner = "read_text"
    check_choice(on_bad_encoding, "on_bad_encoding", owner, ("flag", "raise"))
    check_choice(on_empty, "on_empty", owner, ("flag", "raise", "drop"))
    p = Path(path)
    if not p.exists():
        raise DataError(f"`path` of read_text must exist; got {str(p)!r}, which does not.")
    fmt = _format_of(p, format)
    meta = {"name": p.stem, "source": str(p)}
    if fmt == "folder":
        files = sorted(f for f in p.glob(pattern) if f.is_file())
        if not files:
            raise EmptyTableError(f"folder {str(p)!r} has no files matching {pattern!r}.")
        texts, bad, sources, groups = [], [], [], []
        for f in files:
            t, b = _decode(f.read_bytes(), f"file {str(f)!r}", encoding, on_bad_encoding)
            rel = f.relative_to(p)
            texts.append(t)
            bad.append(b)
            sources.append(str(rel))
            groups.append(rel.parts[0] if len(rel.parts) > 1 else "")
        cols: dict[str, Any] = {"source": np.array(sources, dtype=object)}
        if any(groups):
            cols["group"] = np.array(groups, dtype=object)
        return text_table(texts, columns=cols, bad_encoding=bad, on_empty=on_empty, meta=meta)
    if fmt == "lines":
        lines = p.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not lines:
            raise EmptyTableError(f"file {str(p)!r} holds no lines.")
        decoded = [_decode(raw.rstrip(b"\r"), f"line {i + 1} of {str(p)!r}", encoding, on_bad_encoding)
                   for i, raw in enumerate(lines)]
        return text_table([d[0] for d in decoded], bad_encoding=[d[1] for d in decoded], on_empty=on_empty, meta=meta)
    if fmt == "jsonl":
        records: list[dict[str, Any]] = []
        bad = []
        for i, raw in enumerate(p.read_bytes().split(b"\n")):
            if not raw.strip():
                continue
            line, b = _decode(raw, f"line {i + 1} of {str(p)!r}", encoding, on_bad_encoding)
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"line {i + 1} of {str(p)!r} is not valid JSON: {exc.msg} at column {exc.colno}.") from None
            if not isinstance(rec, dict):
                raise DataError(f"line {i + 1} of {str(p)!r} must be a JSON object; got {type(rec).__name__}.")
            records.append(rec)
            bad.append(b)
        if not records:
            raise EmptyTableError(f"file {str(p)!r} holds no records.")
        fields = list(dict.fromkeys(k for r in records for k in r))
        data = {k: [r.get(k) for r in records] for k in fields}
    else:
        import pyarrow.parquet as pq

        at = pq.read_table(p)
        data = {k: at.column(k).to_pylist() for k in at.column_names}
        fields = list(data)
        bad = [False] * at.num_rows
        if at.num_rows == 0:
            raise EmptyTableError(f"file {str(p)!r} holds no rows.")
    if text_column not in data:
        raise MissingColumnError(f"`text_column` of read_text must name a field of {str(p)!r}; got {text_column!r}; "
                                 f"fields are {fields}.")
    for param, col in (("id_column", id_column), ("label_column", label_column), ("group_column", group_column)):
        if col is not None and col not in data:
            raise MissingColumnError(f"`{param}` of read_text must name a field of {str(p)!r}; got {col!r}; "
                                     f"fields are {fields}.")
    roles = {label_column: "label", group_column: "group"}
    cols = {}
    for k, v in data.items():
        if k in (text_column, id_column) or any(isinstance(x, (list, dict)) for x in v):
            continue
        cols[roles.get(k, k)] = np.array(v, dtype=object) if any(isinstance(x, str) for x in v) else np.asarray(v)
    ids = None if id_column is None else np.asarray(data[id_column])
    return text_table(data[text_column], row_id=ids, columns=cols, bad_encoding=bad, on_empty=on_empty, meta=meta)


# --------------------------------------------------------------------------- Debian mixture
_TROFF_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes \fB \fI \fR \f(CW \f[B]
    (re.compile(r"\\s[+-]?\d+"), ""),  # size changes
    (re.compile(r"\\[hvwlLDNoXZbx]'[^']*'"), ""),  # motions and drawing: \h'2m', \w'text', \l'...'
    (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), ""),  # strings
    (re.compile(r"\\\((..)"), " "),  # special characters \(em ...
    (re.compile(r"\\\[[^\]]*\]"), " "),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[e]"), "\x00"),  # a literal backslash, restored after the generic rule
    (re.compile(r"\\[&|^%:c]"), ""),
    (re.compile(r"\\(.)"), r"\1"),
]
_MACRO_WITH_TEXT = re.compile(r"^[.'](SH|SS|B|I|BR|RB|IR|RI|BI|IB|SM|SB|TP|IP|Nm|Nd|Sh|Ss|Pp|It|Fl|Ar|Xr)\b\s*(.*)$")


def strip_troff(source: str) -> str:
    """Return the plain text of a troff/man page: comments and requests dropped, escapes removed.

    Examples
    --------
    >>> strip_troff('.\\\\" comment\\n.TH LS 1\\n.SH NAME\\nls \\\\- list \\\\fBdirectory\\\\fR contents\\n.PP\\n')
    'NAME\\nls - list directory contents'
    """
    out = []
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".", "'")):
            m = _MACRO_WITH_TEXT.match(line)
            if not m or not m.group(2):
                continue
            line = m.group(2).replace('"', "")
        for rx, rep in _TROFF_ESCAPES:
            line = rx.sub(rep, line)
        line = " ".join(line.replace("\x00", "\\").split())
        if line:
            out.append(line)
    return "\n".join(out)


DEBIAN_DOMAINS: dict[str, tuple[str, str]] = {
    "man": ("/usr/share/man", "man-db and manpages (apt-get install -y man-db manpages)"),
    "license": ("/usr/share/common-licenses", "base-files (apt-get install -y base-files)"),
    "fortune": ("/usr/share/games/fortunes", "fortunes (apt-get install -y fortunes)"),
}
"""Domain name -> (folder on a Debian machine, the apt package that installs it)."""


def _man_docs(root: Path, max_words: int, n: int, rng: np.random.Generator) -> list[str]:
    # parse pages in a random order until ``n`` are usable: there are thousands of pages
    files = sorted(root.glob("man[1-8]/*.gz"))
    docs: list[str] = []
    for i in rng.permutation(len(files)).tolist():
        if len(docs) >= n:
            break
        f = files[i]
        try:
            raw = gzip.decompress(f.read_bytes())
        except (OSError, EOFError):
            continue  # a corrupt archive is skipped, not fatal
        src = raw.decode("utf-8", errors="replace")
        if src.lstrip().startswith(".so "):
            continue  # a redirect to another page
        words = strip_troff(src).split()
        if len(words) >= 20:
            docs.append(" ".join(words[:max_words]))
    return docs


def _license_docs(root: Path, max_words: int, n: int, rng: np.random.Generator) -> list[str]:
    docs = []
    for f in sorted(p for p in root.iterdir() if p.is_file()):
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", f.read_text(encoding="utf-8", errors="replace"))]
        chunk: list[str] = []
        for para in paragraphs:
            if not para:
                continue
            chunk.extend(para.split())
            if len(chunk) >= 60:
                docs.append(" ".join(chunk[:max_words]))
                chunk = []
        if len(chunk) >= 20:
            docs.append(" ".join(chunk[:max_words]))
    return docs


def _fortune_docs(root: Path, max_words: int, n: int, rng: np.random.Generator) -> list[str]:
    docs = []
    for f in sorted(root.iterdir()):
        if not f.is_file() or f.suffix in (".dat", ".u8") or f.name.startswith("."):
            continue
        for item in f.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = " ".join(item.replace("\n%", "").split())
            if len(text.split()) >= 5:
                docs.append(" ".join(text.split()[:max_words]))
    return docs


_READERS = {"man": _man_docs, "license": _license_docs, "fortune": _fortune_docs}


def load_debian_text_mixture(
    n_per_domain: int = 300,
    *,
    domains: Sequence[str] = ("man", "license", "fortune"),
    target: str | None = None,
    max_words: int = 300,
    seed: Seed = 0,
    roots: dict[str, str] | None = None,
) -> Table:
    """Build a real multi-domain text table from manual pages, license texts and fortunes on this machine.

    Each domain contributes up to ``n_per_domain`` documents drawn at random (``seed``):
    manual pages with troff markup stripped, license texts cut into paragraphs of at
    least 60 words, and single fortunes. ``group`` holds the domain, ``label`` its index
    in ``domains``; with ``target`` set, ``is_target`` marks that domain's rows (the
    domain the user wants to select toward) and ``meta["target"]`` records it.

    Raises
    ------
    DatasetUnavailableError
        When a domain's folder is missing or empty; the message names the apt package.

    Examples
    --------
    >>> t = load_debian_text_mixture(5, domains=("license",), seed=0)  # needs /usr/share/common-licenses
    >>> t.n_rows, sorted(set(t.groups))
    (5, ['license'])
    """
    owner = "load_debian_text_mixture"
    check_int(n_per_domain, "n_per_domain", owner, low=1)
    check_int(max_words, "max_words", owner, low=5)
    domains = list(domains)
    for d in domains:
        check_choice(d, "domains", owner, tuple(DEBIAN_DOMAINS))
    if target is not None:
        check_choice(target, "target", owner, tuple(domains))
    rng = as_generator(seed)
    texts: list[str] = []
    groups: list[str] = []
    for d in domains:
        folder, package = DEBIAN_DOMAINS[d]
        root = Path((roots or {}).get(d, folder))
        if not root.is_dir():
            raise DatasetUnavailableError(
                f"domain {d!r} needs the folder {str(root)!r}, which does not exist; install the Debian package {package}."
            )
        docs = _READERS[d](root, max_words, n_per_domain, rng)
        if not docs:
            raise DatasetUnavailableError(
                f"domain {d!r} found no documents under {str(root)!r}; install the Debian package {package}."
            )
        take = rng.choice(len(docs), size=min(n_per_domain, len(docs)), replace=False) if d != "man" else np.arange(len(docs))
        texts.extend(docs[i] for i in sorted(take.tolist()))
        groups.extend([d] * len(take))
    g = np.array(groups, dtype=object)
    cols: dict[str, Any] = {"group": g, "label": np.array([domains.index(x) for x in groups], dtype=np.int64)}
    if target is not None:
        cols["is_target"] = g == target
    meta = {"name": "debian_text_mixture", "domains": domains, "target": target, "class_names": domains}
    return text_table(texts, columns=cols, meta=meta)
