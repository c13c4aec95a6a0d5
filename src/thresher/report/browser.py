"""Open a report in a real browser (headless Chromium) and check what a reader would see.

:func:`check_report` loads a copy of the page with a small probe script appended, lets
Chromium lay it out at a given window width, and reads back: console messages (from
Chromium's log; the report itself has no scripts, so any message is a fault), images that
failed to decode, the contents links and the sections they point to, cells or text reading
``nan``, and whether the page or any table is wider than the window. :func:`screenshot`
writes a full-page PNG. Both only run ``chromium`` as a subprocess; nothing is installed
or downloaded (Debian: ``apt-get install chromium``).

Run ``python -m thresher.report.browser RUN_DIR`` to check a run's report and write
``RUN_DIR/report/screenshot.png``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from thresher.errors import MissingDependencyError

__all__ = ["BrowserCheck", "find_chromium", "check_report", "screenshot"]

_PROBE_ID = "thresher-browser-probe"
_PROBE = """<script>window.addEventListener('load', () => {
  const text = document.body.innerText;
  const wraps = [...document.querySelectorAll('.table-wrap')];
  const links = [...document.querySelectorAll('nav a')];
  const r = {
    sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
    contents: links.map(a => a.textContent),
    dangling: links.filter(a => !document.getElementById(a.getAttribute('href').slice(1))).map(a => a.textContent),
    images: document.images.length,
    broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length,
    nan: (text.match(/\\bnan\\b/gi) || []).length,
    page_width: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    height: document.documentElement.scrollHeight,
    wide_tables: wraps.filter(w => w.scrollWidth > w.clientWidth + 1).length,
  };
  const pre = document.createElement('pre');
  pre.id = '%s';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});</script>""" % _PROBE_ID


@dataclass(frozen=True)
class BrowserCheck:
    """What Chromium saw of a report at one window width."""

    width: int
    console: list[str]
    sections: list[str]
    contents: list[str]
    dangling_links: list[str]
    n_images: int
    broken_images: int
    nan_count: int
    page_width: int
    viewport: int
    height: int
    wide_tables: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (see :attr:`problems`)."""
        return not self.problems


def find_chromium() -> str | None:
    """Return the Chromium executable (``$THRESHER_CHROMIUM``, ``chromium``, ``chromium-browser``), or None."""
    for name in (os.environ.get("THRESHER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


def _chromium(args: list[str], chromium: str | None, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = chromium or find_chromium()
    if exe is None:
        raise MissingDependencyError("checking a report in a browser needs Chromium; install it with `apt-get install chromium`.")
    with tempfile.TemporaryDirectory(prefix="thresher-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def check_report(
    path: str | os.PathLike[str], *, width: int = 1366, height: int = 900, chromium: str | None = None, timeout: float = 120
) -> BrowserCheck:
    """Load the report at ``path`` in headless Chromium at ``width`` x ``height`` and check it."""
    page = Path(path)
    with tempfile.TemporaryDirectory(prefix="thresher-report-check-") as tmp:
        probe = Path(tmp) / page.name
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        out = _chromium(
            [f"--window-size={width},{height}", "--enable-logging=stderr", "--v=0", "--dump-dom", probe.as_uri()],
            chromium,
            timeout,
        )
    m = re.search(rf'<pre id="{_PROBE_ID}">(.*?)</pre>', out.stdout, re.S)
    if m is None:
        raise RuntimeError(f"Chromium did not render {str(page)!r} (exit {out.returncode}): {out.stderr[-2000:]}")
    r = json.loads(html.unescape(m.group(1)))
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    check = BrowserCheck(
        width=width, console=console, sections=r["sections"], contents=r["contents"], dangling_links=r["dangling"],
        n_images=r["images"], broken_images=r["broken"], nan_count=r["nan"], page_width=r["page_width"],
        viewport=r["viewport"], height=r["height"], wide_tables=r["wide_tables"],
    )  # fmt: skip
    problems = [f"console: {c}" for c in console]
    if check.broken_images:
        problems.append(f"{check.broken_images} of {check.n_images} images did not load")
    if check.dangling_links or check.contents != check.sections:
        problems.append(f"contents {check.contents} do not match sections {check.sections}")
    if check.nan_count:
        problems.append(f"the text 'nan' appears {check.nan_count} times")
    if check.page_width > check.viewport:
        problems.append(f"the page is {check.page_width} px wide in a {check.viewport} px window")
    return BrowserCheck(**{**check.__dict__, "problems": problems})


def screenshot(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, width: int = 1366, height: int | None = None,
    chromium: str | None = None, timeout: float = 120,
) -> Path:  # fmt: skip
    """Write a PNG of the report at ``path`` (the whole page unless ``height`` is given) to ``out``."""
    if height is None:
        height = min(check_report(path, width=width, chromium=chromium, timeout=timeout).height, 16000)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    res = _chromium([f"--window-size={width},{height}", f"--screenshot={target.resolve()}", Path(path).resolve().as_uri()],
                    chromium, timeout)  # fmt: skip
    if not target.exists():
        raise RuntimeError(f"Chromium wrote no screenshot of {str(path)!r} (exit {res.returncode}): {res.stderr[-2000:]}")
    return target


def _main(argv: list[str]) -> int:
    """``python -m thresher.report.browser RUN_DIR``: check the report at 1366 and 700 px; write a screenshot."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m thresher.report.browser RUN_DIR\n")
        return 2
    page = Path(argv[0]) / "report" / "index.html"
    bad = 0
    for width in (1366, 700):
        c = check_report(page, width=width)
        sys.stdout.write(f"{width} px: {len(c.sections)} sections, {c.n_images} images, {c.wide_tables} scrolling tables; "
                         f"{'ok' if c.ok else '; '.join(c.problems)}\n")  # fmt: skip
        bad += not c.ok
    sys.stdout.write(f"screenshot: {screenshot(page, page.parent / 'screenshot.png')}\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
