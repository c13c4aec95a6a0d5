"""One CLI grammar: short flags, ``--param NAME.KEY=VALUE``, budgets, seeds, run directory, resume, help."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from thresher.cli import app
from thresher.store.rundir import RunDir

runner = CliRunner()


def _commands(cmd: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = [(prefix, cmd)]
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            out += _commands(sub, f"{prefix} {name}".strip())
    return out


def _all() -> list[tuple[str, Any]]:
    return [(n, c) for n, c in _commands(typer.main.get_command(app)) if n]


def test_each_short_flag_means_one_noun_everywhere() -> None:
    meaning: dict[str, set[str]] = {}
    for _, cmd in _all():
        for p in cmd.params:
            if p.param_type_name == "option" and not p.hidden:
                longs = [o for o in p.opts if o.startswith("--")]
                for short in (o for o in p.opts if not o.startswith("--")):
                    meaning.setdefault(short, set()).update(longs)
    clashes = {s: m for s, m in meaning.items() if len(m) != 1}
    assert not clashes, clashes
    assert meaning["-s"] == {"--scorer"} and meaning["-S"] == {"--selector"} and meaning["-m"] == {"--metric"}


def test_budget_seed_and_param_spellings_are_the_same_everywhere() -> None:
    for name, cmd in _all():
        for p in cmd.params:
            if not p.param_type_name == "option" or p.hidden:
                continue
            assert not {"--fractions", "--seeds", "--method", "--label"} & set(p.opts), (name, p.opts)
            if "--param" in p.opts:
                assert p.metavar == "NAME.KEY=VALUE", name


def test_help_is_plain() -> None:
    for name, _ in _all():
        out = runner.invoke(app, [*name.split(), "--help"])
        assert out.exit_code == 0, (name, out.output)
        assert not re.search(r"<(bool|str|int|float|path|list)", out.output), (name, out.output)


def test_version() -> None:
    from thresher import __version__

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.stdout.strip() == f"thresher {__version__}"


def test_unknown_param_keys_and_names_are_rejected(tmp_path: Path) -> None:
    run = str(tmp_path / "r")
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-p", "margin.bogus=1", "-r", run])
    assert out.exit_code == 2 and "margin.bogus" in out.output and "parameters are" in out.output
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-p", "knn.k=1", "-r", run])
    assert out.exit_code == 2 and "'knn'" in out.output
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-p", "bogus=1", "-r", run])
    assert out.exit_code == 2 and "bogus" in out.output
    assert not (tmp_path / "r").exists()  # rejected before any data is read or stored


def test_old_spellings_still_work_with_a_deprecation_warning(tmp_path: Path) -> None:
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    for run in (old, new):
        assert runner.invoke(app, ["score", "-d", "digits", "-s", "knn_distance", "-r", run]).exit_code == 0
    with pytest.warns(FutureWarning, match="deprecated"):
        out = runner.invoke(app, ["select", "-s", "topk", "-p", "by=score.knn_distance", "--label", "far",
                                  "--fraction", "0.2", "-r", old])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "deprecated" in out.stderr and "`-S`/`--selector`" in out.stderr
    out = runner.invoke(app, ["select", "-S", "topk", "-p", "topk.by=score.knn_distance", "--name", "far",
                              "--fraction", "0.2", "-r", new])  # fmt: skip
    assert out.exit_code == 0 and "deprecated" not in out.stderr
    a, b = RunDir(old).read_selection("far__f=0.2__s=0"), RunDir(new).read_selection("far__f=0.2__s=0")
    np.testing.assert_array_equal(a.row_ids, b.row_ids)
    with pytest.warns(FutureWarning):
        out = runner.invoke(app, ["evaluate", "-s", "far=topk", "-p", "far.by=score.knn_distance", "--fractions", "0.3",
                                  "--seeds", "0,1", "-r", old])  # fmt: skip
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["evaluate", "-S", "far=topk", "-p", "far.by=score.knn_distance", "--fraction", "0.3",
                              "--seed", "0", "--seed", "1", "-r", new])  # fmt: skip
    assert out.exit_code == 0, out.output
    cols = ["arm", "fraction", "seed", "accuracy"]
    ea = RunDir(old).read_evaluation()[cols].sort_values(cols).reset_index(drop=True)
    eb = RunDir(new).read_evaluation()[cols].sort_values(cols).reset_index(drop=True)
    assert len(ea) == 3 * 2 and ea.equals(eb)  # far, random at 0.3 and full, for seeds 0 and 1


def test_select_takes_several_budgets_and_seeds(tmp_path: Path) -> None:
    from thresher.select.base import Budget
    from thresher.select.random import RandomSelector

    run = str(tmp_path / "r")
    assert runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-r", run]).exit_code == 0
    out = runner.invoke(app, ["select", "-S", "random", "--fraction", "0.1,0.2", "--n", "50", "--seed", "0", "--seed", "3",
                              "-r", run])  # fmt: skip
    assert out.exit_code == 0, out.output
    rd = RunDir(run)
    train = rd.read_table(with_scores=False)
    train = train.take(train.column("split") == "train")
    for b, key in ((Budget(fraction=0.1), "f=0.1"), (Budget(fraction=0.2), "f=0.2"), (Budget(n=50), "n=50")):
        for s in (0, 3):
            expected = RandomSelector().select(train, b, seed=s).row_ids
            np.testing.assert_array_equal(rd.read_selection(f"random__{key}__s={s}").row_ids, expected)
    out = runner.invoke(app, ["select", "-S", "random", "--fraction", "0.1,0.2", "--seed", "0", "-r", run])
    assert "resuming: 2 of 2 selections already stored" in out.stdout


def test_evaluate_uses_selections_stored_with_select(tmp_path: Path) -> None:
    from thresher.evaluate.models import get_model

    run = str(tmp_path / "r")
    assert runner.invoke(app, ["score", "-d", "digits", "-s", "knn_distance", "-r", run]).exit_code == 0
    out = runner.invoke(app, ["select", "-S", "topk", "-p", "topk.by=score.knn_distance", "--name", "far",
                              "--fraction", "0.3", "--seed", "0,1", "-r", run])  # fmt: skip
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["evaluate", "-r", run])  # every stored selection, at its stored budgets and seeds
    assert out.exit_code == 0, out.output
    rd = RunDir(run)
    ev = rd.read_evaluation()
    far = ev[ev["arm"] == "far"].sort_values("seed")
    assert far["seed"].tolist() == [0, 1] and set(far["fraction"]) == {0.3}
    table = rd.read_table(with_scores=False)
    split = table.column("split")
    train, test = table.take(split == "train"), table.take(split == "test")
    pos = train.positions(rd.read_selection("far__f=0.3__s=1").row_ids)
    acc = get_model("logreg").fit_score(train.embeddings[pos], train.labels[pos], test.embeddings, test.labels, seed=1)
    assert float(far["accuracy"].iloc[1]) == pytest.approx(acc, abs=1e-12)
    out = runner.invoke(app, ["evaluate", "--selection", "far", "--fraction", "0.5", "-r", run])
    assert out.exit_code == 2 and "thresher select" in out.output  # not stored at 0.5: says how to store it
    out = runner.invoke(app, ["evaluate", "--selection", "far", "-r", run])
    assert "resuming: 6 of 6 training runs already stored" in out.stdout  # far, random and full, 2 seeds each
    out = runner.invoke(app, ["evaluate", "--selection", "far", "-r", run, "--force"])
    assert out.exit_code == 0 and "resuming" not in out.stdout
    assert len(RunDir(run).read_evaluation()) == len(ev)


def test_default_run_directory_is_the_same_for_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["score", "-d", "digits", "-s", "margin"]).exit_code == 0
    assert runner.invoke(app, ["select", "-S", "topk", "-p", "topk.by=score.margin", "--fraction", "0.5"]).exit_code == 0
    out = runner.invoke(app, ["measure", "-m", "vendi", "--selection", "topk"])
    assert out.exit_code == 0, out.output
    rd = RunDir(tmp_path / "runs" / "default")
    assert rd.has_score("score.margin") and rd.has_selection("topk__f=0.5__s=0") and rd.has_metric("vendi/topk__f=0.5__s=0")
    out = runner.invoke(app, ["score", "-s", "margin"])  # no --data: the run's stored rows
    assert out.exit_code == 0 and "resuming: 1 of 1 scores already stored in runs/default" in out.stdout
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["default"]


def test_threads_limit_blas_inside_the_command_only(tmp_path: Path) -> None:
    from threadpoolctl import threadpool_info

    from thresher.cli._common import threads_context

    before = [p["num_threads"] for p in threadpool_info()]
    with threads_context(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert [p["num_threads"] for p in threadpool_info()] == before
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "--threads", "0", "-r", str(tmp_path / "r")])
    assert out.exit_code == 2 and "--threads" in out.output and not (tmp_path / "r").exists()


def test_data_lines_are_not_wrapped_at_narrow_terminals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    run = tmp_path / ("a-long-run-directory-name-" * 3)
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-r", str(run)])
    assert out.exit_code == 0, out.output
    assert f"scores stored in {run / 'scores.parquet'}: score.margin" in out.stdout.splitlines()
