"""``thresher values`` / ``thresher issues`` on a small data file, and the report section they feed."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from thresher.cli import app
from thresher.data.io import write_table
from thresher.data.table import Table
from thresher.scores.knn_shapley import knn_shapley
from thresher.store.rundir import RunDir

runner = CliRunner()


def _data(tmp_path):
    rng = np.random.default_rng(0)
    n = 150
    y = np.arange(n) % 3
    X = rng.normal(scale=4.0, size=(3, 4))[y] + rng.normal(size=(n, 4))
    X[1] = X[0]  # a planted duplicate pair (rows 0 and 1, both train)
    split = np.where(np.arange(n) % 5 == 0, "test", "train").astype(object)
    split[:2] = "train"
    t = Table(columns={"label": y, "split": split}, matrices={"embeddings": X})
    path = tmp_path / "d.parquet"
    write_table(t, path)
    return t, str(path)


def test_values_and_issues_write_scores_flags_and_report(tmp_path) -> None:
    t, path = _data(tmp_path)
    run = str(tmp_path / "run")
    out = runner.invoke(app, ["values", "--data", path, "--run", run, "-s", "knn_shapley", "-p", "knn_shapley.k=3"])
    assert out.exit_code == 0, out.output
    rd = RunDir(run)
    scores = rd.read_scores().set_index("row_id")
    train = np.asarray(t.column("split")) == "train"
    expected = knn_shapley(t.embeddings[train], t.labels[train], t.embeddings[~train], t.labels[~train], k=3)
    np.testing.assert_allclose(scores.loc[t.row_id[train], "score.knn_shapley"].to_numpy(), expected, atol=1e-15)
    out = runner.invoke(app, ["values", "--run", run, "-s", "banzhaf", "-p", "banzhaf.estimator='knn'",
                              "-p", "banzhaf.max_updates=64"])
    assert out.exit_code == 0, out.output
    scores = rd.read_scores().set_index("row_id")
    se = scores.loc[t.row_id[train], "stderr.banzhaf"].to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se >= 0)  # 0 where every sampled subset scores the same
    out = runner.invoke(app, ["issues", "--run", run, "--threshold", "1e-9"])
    assert out.exit_code == 0, out.output
    scores = rd.read_scores().set_index("row_id")
    assert {"flag.label_issue", "flag.near_duplicate", "flag.outlier", "score.label_quality"} <= set(scores.columns)
    dup = scores["flag.near_duplicate"].dropna()
    assert dup[dup == 1.0].index.tolist() == [0, 1]
    from thresher.report.sections.valuation import build

    section = build(rd)
    assert section is not None
    captions = " ".join(getattr(b, "caption", "") for b in section.blocks)
    assert "score.knn_shapley" in captions and "noise matrix" in captions and "Near-duplicate clusters" in captions


def test_values_rejects_unknown_method(tmp_path) -> None:
    _, path = _data(tmp_path)
    out = runner.invoke(app, ["values", "--data", path, "--run", str(tmp_path / "r"), "-s", "nope"])
    assert out.exit_code == 2 and "'nope'" in out.output


def test_values_old_method_flag_still_works(tmp_path) -> None:
    import pytest

    t, path = _data(tmp_path)
    with pytest.warns(FutureWarning, match="--method"):
        out = runner.invoke(app, ["values", "--data", path, "--run", str(tmp_path / "r"), "-m", "knn_shapley", "-p", "k=3"])
    assert out.exit_code == 0, out.output
    out2 = runner.invoke(app, ["values", "--data", path, "--run", str(tmp_path / "r2"), "-s", "knn_shapley",
                               "-p", "knn_shapley.k=3"])  # fmt: skip
    assert out2.exit_code == 0, out2.output
    a = RunDir(tmp_path / "r").read_scores()["score.knn_shapley"].to_numpy()
    b = RunDir(tmp_path / "r2").read_scores()["score.knn_shapley"].to_numpy()
    np.testing.assert_array_equal(a, b)
