"""The command line: list, score/select/measure/evaluate/report on a run directory, errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from thresher.cli import app, parse_params

runner = CliRunner()


def test_list_shows_every_registry_entry() -> None:
    from thresher._registry import METRICS, SCORERS, SELECTORS

    out = runner.invoke(app, ["list"], terminal_width=200)
    assert out.exit_code == 0, out.output
    for reg in (SCORERS, SELECTORS, METRICS):
        for name in reg.names():
            assert name in out.output


def test_help_for_each_command() -> None:
    for cmd in ["score", "select", "measure", "evaluate", "report", "run", "demo", "list"]:
        out = runner.invoke(app, [cmd, "--help"])
        assert out.exit_code == 0 and "Usage" in out.output


def test_score_select_measure_evaluate_report(tmp_path) -> None:
    run = str(tmp_path / "r")
    out = runner.invoke(app, ["score", "--data", "digits", "-s", "entropy", "-s", "knn_distance", "-p", "k=3", "--run", run])
    assert out.exit_code != 0  # k is not a parameter of entropy: a clear error, not a silent drop
    out = runner.invoke(app, ["score", "--data", "digits", "-s", "knn_distance", "-p", "k=3", "--run", run])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["select", "-s", "topk", "-p", "by=score.knn_distance", "--fraction", "0.2", "--run", run, "--out", str(tmp_path / "ids.csv")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "ids.csv").read_text().startswith("row_id,rank")
    out = runner.invoke(app, ["measure", "-m", "vendi", "-p", "q=2", "--run", run, "--selection", "topk__f=0.2__s=0"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["params"]["q"] == 2
    out = runner.invoke(app, ["evaluate", "-s", "far=topk", "-p", "far.by=score.knn_distance", "--fractions", "0.3", "--seeds", "0", "--run", run])
    assert out.exit_code == 0, out.output
    assert "far" in out.output and "random" in out.output
    out = runner.invoke(app, ["report", "--run", run])
    assert out.exit_code == 0 and (tmp_path / "r" / "report" / "index.html").exists()


def test_parse_params() -> None:
    assert parse_params(["a=1", "b=[1, 2]", "c=hello"]) == {"a": 1, "b": [1, 2], "c": "hello"}
