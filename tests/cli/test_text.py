"""``thresher text``: read, score, dedup and the Debian demo through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.store.rundir import RunDir

runner = CliRunner()


def test_read_score_dedup(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i}", "text": t} for i, t in enumerate(
        ["the cat sat on the mat today", "stocks fell sharply on monday", "", "the cat sat on the mat today"])]
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "target.txt"
    target.write_text("the cat purrs\na cat sat on a rug\n")
    run = tmp_path / "run"
    out = runner.invoke(app, ["text", "read", str(docs), "-r", str(run), "--id-column", "id"])
    assert out.exit_code == 0, out.output
    assert "4 documents" in out.output and "1 empty" in out.output
    out = runner.invoke(app, ["text", "score", "-r", str(run), "-s", "dsir", "-s", "perplexity",
                              "-p", f'dsir.target="{target}"', "-p", f'perplexity.reference="{target}"',
                              "-p", "perplexity.order=2"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["text", "dedup", "-r", str(run)])
    assert out.exit_code == 0, out.output
    assert "1 of 4 documents are near-duplicates" in out.output
    scores = RunDir(run).read_scores().set_index("row_id")
    assert np.isneginf(scores.loc["d2", "score.dsir"])  # the empty document gets zero weight
    assert scores.loc["d0", "score.perplexity"] < scores.loc["d1", "score.perplexity"]
    assert scores["score.text_near_duplicates"].tolist() == [2.0, 1.0, 1.0, 2.0]
    out = runner.invoke(app, ["text", "score", "-r", str(run), "-s", "dsir", "-p", "dsir.bogus=1"])
    assert out.exit_code == 2 and "dsir.bogus" in out.output
    out = runner.invoke(app, ["text", "score", "-r", str(run), "-s", "dsir", "-p", f'dsir.target="{target}"'])
    assert "resuming: 1 of 1 score.dsir columns already stored" in out.output


@pytest.mark.skipif(not Path("/usr/share/games/fortunes").is_dir(), reason="needs the fortunes package")
def test_demo_from_recipe(tmp_path: Path) -> None:
    recipe = Path(__file__).parents[2] / "recipes" / "text_mixture.toml"
    run = tmp_path / "demo"
    out = runner.invoke(app, ["text", "demo", "--recipe", str(recipe), "--n-per-domain", "40", "-r", str(run)],
                        terminal_width=200)
    assert out.exit_code == 0, out.output
    summary = json.loads((run / "text" / "summary.json").read_text())
    assert summary["n_pool"] == 120 and summary["target"] == "fortune"
    sel = summary["selections"]
    assert sel["dsir-resample"]["target_share"] > 0.8 > sel["random"]["target_share"]
    assert len(RunDir(run).selection_keys()) == 4
