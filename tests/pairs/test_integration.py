"""Pair and candidate tables through the existing selectors, quotas, metrics, pipeline, CLI and report."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.metrics.vendi import Vendi
from thresher.scores.pairs import LikelihoodMargin, example_pair_table
from thresher.select.base import Budget
from thresher.select.candidates import BestOfMajority, example_candidate_table
from thresher.select.quota import Quota
from thresher.select.topk import TopK


def test_existing_selectors_quotas_and_metrics_work_on_pair_and_candidate_tables() -> None:
    t = example_pair_table(30)
    t = t.with_column("score.likelihood_margin", LikelihoodMargin().score(t))
    top = TopK(by="score.likelihood_margin").select(t, Budget(n=5))
    m = t.column("score.likelihood_margin")
    assert set(top.row_ids.tolist()) == set(t.row_id[np.argsort(-m)[:5]].tolist())
    q = Quota(base="topk", base_params={"by": "score.likelihood_margin"}, by="group", minimum={"x": 6})
    sel = q.select(t, Budget(n=8))
    assert np.sum(t.column("group")[t.positions(sel.row_ids)] == "x") >= 6
    c = example_candidate_table()
    picked = BestOfMajority(by="reward.rm").select(c, Budget(n=8))
    full = Vendi().compute(c).value
    sub = Vendi().compute(c.subset(picked.row_ids)).value
    assert 1.0 <= sub <= 8.0 and 1.0 <= full <= c.n_rows
    assert Table.from_arrow(c.to_arrow()).column("answer").tolist() == c.column("answer").tolist()


def _write_pairs(path: Path, n: int = 12) -> Path:
    from tests.pairs.conftest import corpus

    docs = corpus(3 * n, seed=5)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        r = rng.normal(size=3)
        row = {"prompt": docs[3 * i], "chosen": " " + docs[3 * i + 1], "rejected": " " + docs[3 * i + 2]}
        row.update({f"rm{k + 1}_chosen": float(r[k]) for k in range(3)})
        row.update({f"rm{k + 1}_rejected": 0.0 for k in range(3)})
        rows.append(row)
    rows[3]["rejected"] = rows[3]["chosen"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.torch
@pytest.mark.slow  # the whole flow with the HTML report: about 20 s on the shared 2 cores
def test_recipe_runs_end_to_end_resumes_and_reports(tiny_gpt2: Path, tiny_gpt2_ref: Path, tmp_path: Path) -> None:
    from thresher.posttrain import run_post_training
    from thresher.report.sections import pairs as section

    recipe = tomllib.loads(resources.files("thresher.recipes").joinpath("pairs.toml").read_text(encoding="utf-8"))
    recipe["data"]["path"] = str(_write_pairs(tmp_path / "pairs.jsonl"))
    recipe["signals"][0]["model"] = str(tiny_gpt2)
    recipe["signals"][1]["model"] = str(tiny_gpt2_ref)
    rd = run_post_training(recipe, tmp_path / "run")
    scores = rd.read_scores()
    for c in ("score.ches", "score.dpo_margin", "score.preference_strength", "flag.likely_flipped"):
        assert c in scores.columns
    t = rd.read_table()
    strength = t.column("score.preference_strength")
    np.testing.assert_array_equal(t.column("flag.likely_flipped") == 1.0, strength < 0)
    low = rd.read_selection("low-ches__f=0.9__s=0")
    ches = t.column("score.ches")
    dropped = sorted(set(t.row_id.tolist()) - set(low.row_ids.tolist()))
    assert dropped == sorted(t.row_id[np.argsort(-ches, kind="stable")[:1]].tolist())
    shards = sorted((rd.path / "recordings").rglob("shard-*.npz"))
    assert len(shards) == 2
    before = [p.stat().st_mtime_ns for p in shards]
    (rd.path / "scores.parquet").unlink()  # lose every score: the engine's shards are reused, not recomputed
    run_post_training(recipe, tmp_path / "run")
    assert [p.stat().st_mtime_ns for p in sorted((rd.path / "recordings").rglob("shard-*.npz"))] == before
    np.testing.assert_allclose(rd.read_scores()["score.ches"], scores["score.ches"])
    sec = section.build(rd)
    assert sec is not None and sec.title == "Preference pairs"
    html = (rd.report_dir / "index.html").read_text(encoding="utf-8")
    assert "Most displacing pairs" in html and "Most likely flipped pairs" in html and "low-ches" in html


@pytest.mark.torch
def test_cli_read_score_select(tiny_gpt2: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from thresher.cli import app
    from thresher.store.rundir import RunDir

    runner = CliRunner()
    data = _write_pairs(tmp_path / "p.jsonl")
    run = tmp_path / "r"
    res = runner.invoke(app, ["pairs", "read", str(data), "--run", str(run), "--reward", "rm1=rm1_chosen,rm1_rejected",
                              "--reward", "rm2=rm2_chosen,rm2_rejected"])
    assert res.exit_code == 0, res.output
    assert "identical_pair 1" in res.output
    res = runner.invoke(app, ["pairs", "score", "-s", "likelihood_margin", "-s", "preference_strength", "-s",
                              "ranking_accuracy", "--model", str(tiny_gpt2), "--run", str(run)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["pairs", "select", "-S", "bottomk", "-p", "bottomk.by=score.likelihood_margin",
                              "--n", "3", "--run", str(run)])
    assert res.exit_code == 0, res.output
    rd = RunDir(run)
    t = rd.read_table()
    sel = rd.read_selection("bottomk__n=3__s=0")
    m = t.column("score.likelihood_margin")
    assert set(sel.row_ids.tolist()) == set(t.row_id[np.argsort(m)[:3]].tolist())
    assert "flag.likely_flipped" in rd.read_scores().columns


def test_cli_candidates_per_prompt_selection(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from thresher.cli import app
    from thresher.store.rundir import RunDir

    c = example_candidate_table(n_prompts=4, n=5)
    rows = [{"prompt": p, "response": r, "answer": a, "ok": bool(k), "rm": float(s)} for p, r, a, k, s in
            zip(c.column("prompt"), c.column("response"), c.column("answer"), c.column("correct"), c.column("reward.rm"))]
    data = tmp_path / "c.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    run = tmp_path / "r"
    runner = CliRunner()
    res = runner.invoke(app, ["pairs", "read", str(data), "--kind", "candidates", "--answer-column", "answer",
                              "--correct-column", "ok", "--reward", "rm=rm", "--run", str(run)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["pairs", "score", "-s", "group_variance", "--run", str(run)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["pairs", "select", "-S", "best_of_majority", "-p", "best_of_majority.by=reward.rm",
                              "-p", "best_of_majority.alpha=0.3", "--per-prompt", "2", "--run", str(run)])
    assert res.exit_code == 0, res.output
    rd = RunDir(run)
    sel = rd.read_selection("best_of_majority__n=8__s=0")
    want = BestOfMajority(by="reward.rm", alpha=0.3).select(c.with_columns({}), Budget(n=8)).row_ids - 700
    assert sel.row_ids.tolist() == want.tolist()
    assert "flag.homogeneous_group" in rd.read_scores().columns
    res = runner.invoke(app, ["pairs", "select", "-S", "bottomk", "--run", str(run), "--n", "2", "--fraction", "0.5"])
    assert res.exit_code != 0
