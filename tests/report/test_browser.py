"""The demo report in a real browser (headless Chromium): no console errors, no broken images,
every section of the contents present, no ``nan`` text, nothing wider than a 1366-px laptop
screen or a 700-px window; a screenshot is left in the run directory.

Skipped when Chromium is not installed (``.ci/run`` installs Debian's ``chromium``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from thresher.report.browser import check_report, find_chromium, screenshot

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="needs Chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo recipe on digits with two seeds and two fractions: every core section, in seconds."""
    from thresher.pipeline import demo_recipe, run_recipe

    recipe = dataclasses.replace(demo_recipe(), seeds=[0, 1], fractions=[0.1, 0.5])
    run = Path(os.environ.get("THRESHER_BROWSER_RUN", tmp_path_factory.mktemp("demo")))
    return run_recipe(recipe, run).report_dir / "index.html"


def test_demo_report_renders_cleanly(demo_report: Path) -> None:
    wide = check_report(demo_report, width=1366)
    assert wide.ok, wide.problems
    assert wide.sections == wide.contents and len(wide.sections) >= 5
    assert {"Run", "Accuracy versus fraction kept", "Score distributions", "Set metrics"} <= set(wide.sections)
    assert wide.n_images >= 3 and wide.broken_images == 0 and wide.console == [] and wide.nan_count == 0
    assert wide.wide_tables == 0  # every table fits a laptop screen
    narrow = check_report(demo_report, width=700)
    assert narrow.ok, narrow.problems  # the page never overflows; a wide table would scroll in its own box
    shot = screenshot(demo_report, demo_report.parent / "screenshot.png", height=wide.height)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_check_catches_what_it_looks_for(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><body><nav><a href='#s0'>A</a><a href='#s9'>B</a></nav><h2 id='s0'>A</h2>"
        "<table><tr><td>nan</td></tr></table><img src='data:image/png;base64,AAAA'>"
        "<div style='width:2000px'>wide</div><script>console.error('boom')</script></body></html>"
    )
    c = check_report(page, width=800)
    assert c.broken_images == 1 and c.nan_count == 1 and c.dangling_links == ["B"]
    assert c.page_width > c.viewport and any("boom" in m for m in c.console) and not c.ok
