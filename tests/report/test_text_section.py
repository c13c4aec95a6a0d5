"""The text report section reads the demo's summary and the text score columns."""

from __future__ import annotations

import numpy as np

from thresher.report.sections.text import build
from thresher.store.atomic import write_json
from thresher.store.rundir import RunDir


def test_none_without_text_results(tmp_path) -> None:
    assert build(RunDir(tmp_path)) is None


def test_summary_and_scores(tmp_path) -> None:
    rd = RunDir(tmp_path)
    write_json(tmp_path / "text" / "summary.json", {
        "target": "fortune", "n_pool": 9, "n_target_sample": 3, "pool_target_share": 1 / 3,
        "n_near_duplicates": 1, "quality_fail_rate": {"word_count": 0.5, "lorem_ipsum": 0.0},
        "selections": {"dsir-resample": {"n": 3, "target_share": 1.0}, "random": {"n": 3, "target_share": 1 / 3}},
    })
    rd.write_scores(np.arange(4), {"score.dsir": np.array([-np.inf, 1.0, 2.0, 3.0])})
    sec = build(rd)
    assert sec is not None and sec.title == "Text data"
    tables = [b for b in sec.blocks if hasattr(b, "rows")]
    assert tables[0].rows == [["dsir-resample", 3, "1.000"], ["random", 3, "0.333"]]
    assert tables[1].rows == [["word_count", "0.500"]]  # rules nobody fails are left out
    assert tables[2].rows == [["score.dsir", 3, "1", "1.5", "2", "2.5", "3"]]
