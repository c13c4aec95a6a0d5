"""Bring-your-own-data: the three commands of docs/data.md, run as written, on the example CSV."""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.store.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _three_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "data.md").read_text()
    block = re.search(r"## From a CSV to a report in three commands.*?```bash\n(.*?)```", text, re.S).group(1)
    lines = [shlex.split(line) for line in block.strip().splitlines()]
    assert len(lines) == 3 and all(line[0] == "thresher" for line in lines)
    return [line[1:] for line in lines]


def test_csv_to_report_in_three_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs" / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "examples" / "wine.csv", tmp_path / "docs" / "examples" / "wine.csv")
    monkeypatch.chdir(tmp_path)
    for args in _three_commands():
        out = runner.invoke(app, args)
        assert out.exit_code == 0, (args, out.output)
    rd = RunDir(tmp_path / "runs" / "wine")
    assert (rd.report_dir / "index.html").exists()
    csv = pd.read_csv(tmp_path / "docs" / "examples" / "wine.csv")
    manifest = rd.read_manifest()
    split = manifest["data"]["split"]
    assert split["how"] == "made" and split["method"] == "stratified by label"
    assert split["n_train"] + split["n_test"] == len(csv) == 178
    assert manifest["data"]["features"]["columns"] == [c for c in csv.columns if c not in ("wine_id", "cultivar")]
    table = rd.read_table(with_scores=False)
    assert sorted(table.row_id.tolist()) == sorted(csv["wine_id"])
    is_test = table.column("split") == "test"
    for c in np.unique(table.labels):  # stratified: each class's test share within one row of 25%
        n_c = int(np.sum(table.labels == c))
        assert abs(int(np.sum(is_test & (table.labels == c))) - 0.25 * n_c) <= 1
    X = csv.set_index("wine_id").loc[table.row_id].drop(columns="cultivar").to_numpy()
    train = ~is_test
    z = (X - X[train].mean(0)) / X[train].std(0)  # standardised with training statistics only
    np.testing.assert_allclose(table.embeddings, z, atol=1e-12)
    ev = rd.read_evaluation()
    assert set(ev["arm"]) == {"easy", "kcenter", "random", "full"} and set(ev["seed"]) == {0, 1, 2}
    html = (rd.report_dir / "index.html").read_text()
    assert "thresher report: wine" in html and ">0, 1, 2<" in html


def test_unscaled_features_warn_and_standardized_do_not(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wine = str(ROOT / "docs" / "examples" / "wine.csv")
    base = ["score", "-d", wine, "--label-column", "cultivar", "--id-column", "wine_id", "-s", "knn_distance"]
    with caplog.at_level(logging.WARNING, logger="thresher"):
        assert runner.invoke(app, [*base, "-r", str(tmp_path / "raw")]).exit_code == 0
    assert any("scales differ wildly" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="thresher"):
        assert runner.invoke(app, [*base, "--standardize", "-r", str(tmp_path / "z")]).exit_code == 0
    assert not any("scales differ" in r.getMessage() for r in caplog.records)
    manifest = json.loads((tmp_path / "z" / "manifest.json").read_text())
    assert manifest["data"]["standardize"]["fit_on"] == "train rows"


def test_embedding_columns_take_a_list_or_a_prefix(tmp_path: Path) -> None:
    wine = str(ROOT / "docs" / "examples" / "wine.csv")
    csv = pd.read_csv(wine)
    for spec, cols in (("alcohol,hue,proline", ["alcohol", "hue", "proline"]), ("a*", ["alcohol", "ash", "alcalinity_of_ash"])):
        run = tmp_path / spec.replace(",", "_").replace("*", "star")
        out = runner.invoke(app, ["score", "-d", wine, "--label-column", "cultivar", "--id-column", "wine_id",
                                  "--embedding-columns", spec, "-s", "knn_distance", "-r", str(run)])  # fmt: skip
        assert out.exit_code == 0, out.output
        table = RunDir(run).read_table(with_scores=False)
        np.testing.assert_array_equal(table.embeddings, csv.set_index("wine_id").loc[table.row_id, cols].to_numpy())
