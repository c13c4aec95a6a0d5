"""The report's rough edges, on a hand-made run directory whose numbers are known."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from thresher.metrics.base import MetricResult
from thresher.report import core_sections
from thresher.report.html import build_report, render_html
from thresher.report.model import Figure, Report, Section
from thresher.report.palette import arm_palette, run_palette
from thresher.store.rundir import RunDir

# accuracy per (arm, fraction) for seeds 0, 1, 2: "up" is clearly above random at 0.5 only,
# "down" clearly below at 0.1 only, "same" overlaps random everywhere.
ACC = {
    ("random", 0.1): [0.80, 0.82, 0.84], ("random", 0.5): [0.88, 0.89, 0.90],
    ("up", 0.1): [0.78, 0.82, 0.86], ("up", 0.5): [0.950, 0.951, 0.952],
    ("down", 0.1): [0.600, 0.601, 0.602], ("down", 0.5): [0.86, 0.89, 0.92],
    ("same", 0.1): [0.80, 0.82, 0.84], ("same", 0.5): [0.87, 0.89, 0.91],
    ("full", 1.0): [0.97, 0.97, 0.97],
}  # fmt: skip


def _run(tmp_path: Path, groups: bool = False) -> RunDir:
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir(parents=True)
    rd.write_manifest({"params": {"dataset": "toy"}, "n_rows": 100, "steps": {
        "scores": {"finished": "2026-01-01T10:00:00", "seed": 0},
        "evaluate": {"finished": "2026-01-01T10:05:00", "seeds": [0, 1, 2]},
        "select/up": {"finished": "2026-01-01T10:01:00"}}})  # fmt: skip
    rd.append_evaluation([
        {"arm": a, "fraction": f, "seed": s, "accuracy": v, "n_train": 80 if a == "full" else int(80 * f), "model": "logreg"}
        for (a, f), vals in ACC.items() for s, v in enumerate(vals)
    ])  # fmt: skip
    for arm in ("up", "down", "same", "random"):
        for f in (0.1, 0.5):
            details = {"coverage": 0.5 + f / 2, "density": 1.0, "vendi_ratio": 0.9, "class_tv": 0.1,
                       "group_tv": 0.05 if groups else None, "drift_p_value": 0.5}  # fmt: skip
            rd.write_metric(f"representativeness/{arm}__f={f:g}__s=0", MetricResult("representativeness", 0.7, {"k": 5}, details))
            rd.write_metric(f"vendi/{arm}__f={f:g}__s=0", MetricResult("vendi", 3.0 + f, {"q": 1.0}))
    rd.write_metric("vendi/train", MetricResult("vendi", 4.0, {"q": 1.0}))
    return rd


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"src='data:[^']*'", "", page))


def test_no_empty_header_no_nan_and_a_plain_summary(tmp_path: Path) -> None:
    rd = _run(tmp_path)
    page = render_html(build_report(rd))
    run_table = page.split("<h2 id='s0'>Run</h2>", 1)[1].split("<h2", 1)[0]
    assert "<thead>" not in run_table and "<th></th>" not in page
    assert ">0, 1, 2<" in run_table and ">scores, select/up, evaluate<" in run_table  # in the order they were done
    assert not re.search(r"\bnan\b", _text(page), re.I)
    summary = core_sections.build_curves(rd).blocks[-1].text  # type: ignore[union-attr]
    assert "[" not in summary and "at no" not in summary
    # these records carry no per-test-row predictions: no paired verdict, and the report says so
    assert summary == "No per-test-row predictions are stored, so no paired verdict against random is given."
    table = core_sections.build_curves(rd).blocks[1]
    assert table.columns == ["arm", "0.1", "0.5"] and "full" not in [r[0] for r in table.rows]  # type: ignore[union-attr]
    assert "Full training data (80 rows): 0.9700" in table.caption  # type: ignore[union-attr]


def test_set_metrics_table_is_narrow_and_group_tv_only_with_groups(tmp_path: Path) -> None:
    from thresher.report.sections.representativeness import build

    rd = _run(tmp_path)
    m = core_sections.build_metrics(rd).blocks[0]  # type: ignore[union-attr]
    assert m.columns == ["selection", "fraction", "representativeness", "vendi"]
    assert m.rows[0] == ["all training rows", "1", "—", "4.0000"]
    assert ["up", "0.5", "0.7000", "3.5000"] in m.rows and not any("__" in str(c) for r in m.rows for c in r)
    head = build(rd).blocks[-1].columns  # type: ignore[union-attr]
    assert "group TV" not in head and "class TV" in head
    rd2 = _run(tmp_path / "g", groups=True)
    assert "group TV" in build(rd2).blocks[-1].columns  # type: ignore[union-attr]


def test_one_colour_per_arm_in_every_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.report.sections import representativeness

    rd = _run(tmp_path)
    figs: list[Any] = []
    real = Figure.from_matplotlib.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Figure, "from_matplotlib", classmethod(lambda cls, fig, caption="": figs.append(fig) or real(cls, fig, caption)))
    core_sections.build_curves(rd)
    representativeness.build(rd)
    palette = run_palette(rd)
    seen: dict[str, set[str]] = {}
    for fig in figs:
        for ax in fig.axes:
            for line in ax.get_lines():
                if not line.get_label().startswith("_") and line.get_label() != "full data":
                    seen.setdefault(line.get_label(), set()).add(str(line.get_color()).upper())
    assert set(seen) == {"up", "down", "same", "random"}
    for arm, colours in seen.items():
        assert colours == {palette[arm].upper()}, arm
    assert palette["random"] == "#000000" and len(set(palette.values())) == len(palette)


def test_palette_is_keyed_by_name() -> None:
    a = arm_palette(["b", "a", "random"])
    b = arm_palette(["random", "a", "b", "full"])
    assert a["a"] == b["a"] and a["b"] == b["b"] and a["a"] != a["b"]


def test_figures_are_sharp_and_sized_in_css_pixels() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    f = Figure.from_matplotlib(fig)
    w, h = f.size
    assert f.scale == 1.5 and w > 400  # 144 dpi: more than 4 in x 96 px
    page = render_html(Report("t", [Section("s", [f])]))
    assert f"width='{round(w / 1.5)}' height='{round(h / 1.5)}'" in page
    assert np.isclose(w / 1.5, 4 * 96, rtol=0.15)  # about the figure's size in inches at 96 CSS px per inch


def test_set_metrics_print_an_approximation_error_beside_the_value(tmp_path: Path) -> None:
    from thresher.metrics.base import MetricResult
    from thresher.store.rundir import RunDir

    rd = RunDir(tmp_path / "r")
    rd.path.mkdir()
    rd.write_metric("vendi/train", MetricResult("vendi", 33.6, {"q": 1.0}, {"approx_error": 0.48, "tolerance": 0.05}))
    rd.write_metric("vendi_exact/train", MetricResult("vendi_exact", 65.0, {"q": 1.0}, {}))
    rows = core_sections.build_metrics(rd).blocks[0].rows  # type: ignore[union-attr]
    assert rows[0][2:] == ["33.6000 (approx., error 48.0%; above tolerance)", "65.0000"]
