"""The command line: list, score/select/measure/evaluate/report on a run directory, errors."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from thresher.cli import app, parse_params
from thresher.store.rundir import RunDir

runner = CliRunner()


def test_list_shows_every_registry_entry() -> None:
    from thresher._registry import METRICS, SCORERS, SELECTORS

    out = runner.invoke(app, ["list"])
    assert out.exit_code == 0, out.output
    for reg in (SCORERS, SELECTORS, METRICS):
        for name in reg.names():
            assert name in out.output


def test_help_for_each_command() -> None:
    for cmd in ["score", "select", "measure", "evaluate", "report", "run", "demo", "list", "values", "issues"]:
        out = runner.invoke(app, [cmd, "--help"])
        assert out.exit_code == 0 and "Usage" in out.output


def test_score_select_measure_evaluate_report(tmp_path) -> None:
    run = str(tmp_path / "r")
    out = runner.invoke(app, ["score", "--data", "digits", "-s", "entropy", "-s", "knn_distance", "-p", "entropy.k=3", "--run", run])
    assert out.exit_code == 2 and "entropy.k" in out.output  # k is not a parameter of entropy: a clear error
    out = runner.invoke(app, ["score", "--data", "digits", "-s", "knn_distance", "-p", "knn_distance.k=3", "--run", run])
    assert out.exit_code == 0, out.output
    sel = ["select", "-S", "topk", "-p", "topk.by=score.knn_distance", "--fraction", "0.2", "--run", run]
    out = runner.invoke(app, [*sel, "--out", str(tmp_path / "ids.csv")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "ids.csv").read_text().startswith("row_id,rank")
    out = runner.invoke(app, ["measure", "-m", "vendi", "-p", "vendi.q=2", "--run", run, "--selection", "topk__f=0.2__s=0"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["params"]["q"] == 2
    ev = ["evaluate", "-S", "far=topk", "-p", "far.by=score.knn_distance", "--fraction", "0.3", "--seed", "0", "--run", run]
    out = runner.invoke(app, ev)
    assert out.exit_code == 0, out.output
    assert "far" in out.output and "random" in out.output
    out = runner.invoke(app, ["report", "--run", run])
    assert out.exit_code == 0 and (tmp_path / "r" / "report" / "index.html").exists()
    steps = RunDir(run).read_manifest()["steps"]
    assert {"scores", "select/topk", "metrics", "evaluate"} <= set(steps) and steps["evaluate"]["seeds"] == [0]


def test_score_values_match_the_api(tmp_path) -> None:
    from thresher.data.datasets import load_digits
    from thresher.scores.density import KNNDistance

    run = tmp_path / "r"
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "knn_distance", "-p", "knn_distance.k=3", "-r", str(run)])
    assert out.exit_code == 0, out.output
    train = load_digits()
    train = train.take(train.column("split") == "train")
    stored = RunDir(run).read_scores().set_index("row_id").loc[train.row_id, "score.knn_distance"].to_numpy()
    np.testing.assert_allclose(stored, KNNDistance(k=3).score(train), rtol=1e-12)


def test_parse_params() -> None:
    assert parse_params(["a=1", "b=[1, 2]", "c=hello"]) == {"a": 1, "b": [1, 2], "c": "hello"}
