"""Render a :class:`Report` to one self-contained HTML file (figures inlined as base64)."""

from __future__ import annotations

import base64
import html
import importlib
import logging
import os
import pkgutil
from pathlib import Path

from thresher.report.core_sections import CORE_BUILDERS
from thresher.report.model import Figure, Paragraph, Report, Section, TableBlock
from thresher.store.atomic import write_text
from thresher.store.rundir import RunDir

__all__ = ["build_report", "render_html", "write_report"]

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #4477aa;padding-bottom:.2em}h2{margin-top:1.8em;color:#335}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eef}figure{margin:1em 0}figcaption,.caption{color:#555;font-size:.85em}img{max-width:100%}
nav a{margin-right:1em}
"""


def _section_builders() -> list[tuple[int, object]]:
    """Core builders plus every ``thresher.report.sections.<module>.build`` (by ``ORDER``)."""
    builders: list[tuple[int, object]] = list(CORE_BUILDERS)
    pkg = importlib.import_module("thresher.report.sections")
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"thresher.report.sections.{info.name}")
        builders.append((int(getattr(mod, "ORDER", 100)), mod.build))
    builders.sort(key=lambda b: b[0])
    return builders


def build_report(run: RunDir) -> Report:
    """Build the report model from the run directory only (no recomputation)."""
    sections: list[Section] = []
    for _, builder in _section_builders():
        section = builder(run)  # type: ignore[operator]
        if section is not None:
            sections.append(section)
    name = run.read_manifest().get("params", {}).get("dataset", run.path.name)
    return Report(f"thresher report: {name}", sections)


def _block_html(block: object) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, TableBlock):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.columns)
        thead = f"<thead><tr>{head}</tr></thead>" if any(str(c) for c in block.columns) else ""
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in block.rows)
        cap = f"<div class='caption'>{html.escape(block.caption)}</div>" if block.caption else ""
        return f"<table>{thead}<tbody>{body}</tbody></table>{cap}"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f"<figure><img alt='{html.escape(block.caption)}' src='data:image/png;base64,{data}'/>"
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_html(report: Report) -> str:
    """Return the report as one HTML page."""
    anchors = [f"s{i}" for i in range(len(report.sections))]
    nav = "".join(f"<a href='#{a}'>{html.escape(s.title)}</a>" for a, s in zip(anchors, report.sections))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1><nav>{nav}</nav>",
    ]
    for a, s in zip(anchors, report.sections):
        parts.append(f"<h2 id='{a}'>{html.escape(s.title)}</h2>")
        parts.extend(_block_html(b) for b in s.blocks)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: RunDir | str | os.PathLike[str]) -> Path:
    """Build and write ``<run>/report/index.html`` atomically; return its path."""
    rd = run if isinstance(run, RunDir) else RunDir(run)
    out = rd.report_dir / "index.html"
    write_text(out, render_html(build_report(rd)))
    return out
