"""Run directory: atomic writes, fingerprints, and resume after a crash."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data import from_numpy
from thresher.errors import RunDirError
from thresher.metrics.base import MetricResult
from thresher.select.base import Budget, Selection
from thresher.store import RunDir, atomic_path, selection_key


def test_atomic_write_keeps_old_file_when_writer_dies(tmp_path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]  # no temp file left behind


def test_scores_merge_by_row_id(tmp_path) -> None:
    rd = RunDir(tmp_path)
    rd.write_scores(np.array([3, 1, 2]), {"score.a": np.array([0.3, 0.1, 0.2])})
    rd.write_scores(np.array([1, 2, 3]), {"score.b": np.array([10.0, 20.0, 30.0])})
    df = rd.read_scores().set_index("row_id")
    assert df.loc[3, "score.a"] == 0.3 and df.loc[3, "score.b"] == 30.0
    assert rd.score_columns() == ["score.a", "score.b"]


def test_selection_and_metric_round_trip(tmp_path) -> None:
    rd = RunDir(tmp_path)
    sel = Selection(np.array([5, 2]), "topk", Budget(fraction=0.5), 3, gains=np.array([0.9, 0.1]), params={"by": "s"})
    key = selection_key("topk", sel.budget, 3)
    assert key == "topk__f=0.5__s=3"
    rd.write_selection(key, sel)
    back = rd.read_selection(key)
    assert back.row_ids.tolist() == [5, 2] and back.budget == Budget(fraction=0.5) and back.params == {"by": "s"}
    rd.write_metric("vendi/train", MetricResult("vendi", 3.5, {"q": 1}))
    assert rd.read_metrics()["vendi/train"]["value"] == 3.5


def test_refuses_other_input_unless_forced(tmp_path) -> None:
    a = from_numpy(np.zeros((3, 2)))
    b = from_numpy(np.ones((3, 2)))
    rd = RunDir(tmp_path)
    rd.open(a, {})
    rd.write_scores(a.row_id, {"score.x": np.zeros(3)})
    with pytest.raises(RunDirError, match="holds results for other input"):
        rd.open(b, {})
    rd.open(b, {}, force=True)
    assert rd.score_columns() == []
    m = rd.read_manifest()
    assert m["n_rows"] == 3 and "thresher_version" in m and len(m["input_fingerprint"]) == 64
