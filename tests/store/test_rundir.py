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


def _digits_recipe(**scorer):
    from thresher.pipeline import Recipe

    return Recipe.from_dict(
        {
            "data": {"dataset": "digits"},
            "run": {"seeds": [0], "fractions": [0.5]},
            "scorers": [{"name": "knn_distance", **scorer}],
            "selectors": [{"name": "topk", "by": "score.knn_distance"}],
            "metrics": [],
        }
    )


def test_a_run_whose_first_step_fails_leaves_the_directory_as_it_was(tmp_path) -> None:
    from thresher.errors import InvalidParameterError
    from thresher.pipeline import run_recipe

    # k=0 is rejected by the scorer itself, in the first step (after the run was opened)
    with pytest.raises(InvalidParameterError, match="`k` of KNNDistance"):
        run_recipe(_digits_recipe(k=0), tmp_path / "new")
    assert not (tmp_path / "new").exists()  # nothing left that would block a retry
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("the user's")
    with pytest.raises(InvalidParameterError):
        run_recipe(_digits_recipe(k=0), keep)
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]
    rd = run_recipe(_digits_recipe(k=3), keep)  # the retry runs
    assert rd.read_manifest()["request"]["status"] == "finished" and rd.read_manifest()["params"]["scorers"][0]["k"] == 3
    before = rd.manifest_path.read_bytes()
    with pytest.raises(InvalidParameterError):
        run_recipe(_digits_recipe(k=0), keep)
    assert rd.manifest_path.read_bytes() == before  # the manifest claims nothing about the failed request


def test_cli_force_discards_results_of_other_input(tmp_path) -> None:
    from typer.testing import CliRunner

    from thresher.cli import app
    from thresher.data.datasets import load_digits
    from thresher.data.io import write_table

    runner = CliRunner()
    run = str(tmp_path / "r")
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "knn_distance", "-r", run])
    assert out.exit_code == 0, out.output
    write_table(load_digits().take(range(300)), tmp_path / "other.parquet")
    args = ["score", "-d", str(tmp_path / "other.parquet"), "-s", "knn_distance", "-r", run]
    out = runner.invoke(app, args)
    assert out.exit_code == 2 and "holds results for other input" in out.output and "--force" in out.output
    out = runner.invoke(app, [*args, "--force"])
    assert out.exit_code == 0, out.output
    assert RunDir(run).read_manifest()["n_rows"] == 300
