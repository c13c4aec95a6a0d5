"""read_data / DataSpec: roles, features, splits made or found, test files, standardisation, recipes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thresher.data.scales import scale_spread, warn_if_unscaled
from thresher.data.source import DataSpec, read_data
from thresher.errors import InvalidParameterError


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "uid": [f"u{i}" for i in range(n)],
            "f0": rng.normal(size=n),
            "f1": rng.normal(size=n),
            "x": rng.normal(size=n),
            "kind": np.where(np.arange(n) % 4 == 0, "rare", "common"),
            "region": np.where(np.arange(n) % 2 == 0, "north", "south"),
        }
    )


def test_roles_and_default_features(tmp_path: Path) -> None:
    df = _frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    d = read_data(str(tmp_path / "d.csv"), label_column="kind", id_column="uid", group_column="region")
    t = d.table
    assert t.row_id.tolist() == df["uid"].tolist()
    assert t.labels.tolist() == df["kind"].tolist() and t.groups.tolist() == df["region"].tolist()
    np.testing.assert_array_equal(t.embeddings, df[["f0", "f1", "x"]].to_numpy())  # every numeric column, file order
    assert d.provenance["features"]["columns"] == ["f0", "f1", "x"]
    for spec, cols in (("f*", ["f0", "f1"]), ("x,f0", ["x", "f0"]), (["f1"], ["f1"])):
        t = read_data(str(tmp_path / "d.csv"), label_column="kind", embedding_columns=spec).table
        np.testing.assert_array_equal(t.embeddings, df[cols].to_numpy())


def test_split_is_made_stratified_and_seeded(tmp_path: Path) -> None:
    df = _frame(80)
    df.to_csv(tmp_path / "d.csv", index=False)
    a = read_data(str(tmp_path / "d.csv"), label_column="kind", id_column="uid")
    b = read_data(str(tmp_path / "d.csv"), label_column="kind", id_column="uid")
    c = read_data(str(tmp_path / "d.csv"), label_column="kind", id_column="uid", split_seed=1)
    s = a.table.column("split")
    np.testing.assert_array_equal(s, b.table.column("split"))
    assert not np.array_equal(s, c.table.column("split"))
    assert int(np.sum((s == "test") & (a.table.labels == "rare"))) == 5  # 25% of the 20 rare rows
    assert int(np.sum(s == "test")) == 20 and a.provenance["split"]["how"] == "made"
    assert a.train.n_rows == 60 and a.test.n_rows == 20


def test_split_column_and_test_file(tmp_path: Path) -> None:
    df = _frame()
    df["fold"] = np.where(np.arange(len(df)) < 30, "train", "test")
    df.to_csv(tmp_path / "d.csv", index=False)
    d = read_data(str(tmp_path / "d.csv"), label_column="kind", split_column="fold")
    assert d.provenance["split"] == {"how": "column", "n_train": 30, "n_test": 10}
    assert "fold" not in d.table.column_names and d.provenance["features"]["columns"] == ["f0", "f1", "x"]
    df.iloc[:30].drop(columns="fold").to_csv(tmp_path / "tr.csv", index=False)
    df.iloc[30:].drop(columns="fold").to_csv(tmp_path / "te.csv", index=False)
    d = read_data(str(tmp_path / "tr.csv"), label_column="kind", test_path=str(tmp_path / "te.csv"))
    assert d.table.row_id.tolist() == list(range(40))  # the test file's generated ids continue
    assert d.table.column("split").tolist() == ["train"] * 30 + ["test"] * 10
    np.testing.assert_array_equal(d.test.embeddings, df.iloc[30:][["f0", "f1", "x"]].to_numpy())


def test_standardize_uses_training_rows_only(tmp_path: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    df = _frame()
    df["x"] *= 1000.0
    df.to_csv(tmp_path / "d.csv", index=False)
    d = read_data(str(tmp_path / "d.csv"), label_column="kind", id_column="uid", standardize=True)
    raw = df.set_index("uid").loc[d.table.row_id, ["f0", "f1", "x"]].to_numpy()
    train = d.table.column("split") == "train"
    expected = StandardScaler().fit(raw[train]).transform(raw)
    np.testing.assert_allclose(d.table.embeddings, expected, atol=1e-12)


def test_recipe_paths_are_relative_to_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.pipeline import load_data, load_recipe

    (tmp_path / "project").mkdir()
    _frame().to_csv(tmp_path / "project" / "rows.csv", index=False)
    recipe = tmp_path / "project" / "recipe.toml"
    recipe.write_text('[data]\npath = "rows.csv"\nlabel_column = "kind"\n[[scorers]]\nname = "margin"\n')
    monkeypatch.chdir(tmp_path)  # somewhere else: the path still means the file next to the recipe
    r = load_recipe("project/recipe.toml")
    assert load_data(r.data, r.base_dir).table.n_rows == 40
    recipe.write_text('[data]\npath = "rows.csv"\nlabel = "kind"\n')
    with pytest.raises(InvalidParameterError, match=r"got unknown \['label'\]"):
        load_recipe(recipe)


def test_spec_checks() -> None:
    with pytest.raises(InvalidParameterError, match="exactly one of `dataset` and `path`"):
        DataSpec(path="a.csv", dataset="digits").check()
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        DataSpec(path="a.csv", test_fraction=1.5).check()


def test_scale_warning(caplog: pytest.LogCaptureFixture) -> None:
    from sklearn.datasets import load_wine

    X = load_wine().data
    s = X.std(0)
    assert scale_spread(X) == pytest.approx(s.max() / np.median(np.sort(s)[:-1]))
    with caplog.at_level(logging.WARNING, logger="thresher"):
        assert warn_if_unscaled(X, "test_scale_warning")
        assert warn_if_unscaled(X, "test_scale_warning")  # still true, but logged once
        assert not warn_if_unscaled((X - X.mean(0)) / s, "test_scale_warning")
    assert sum("scales differ wildly" in r.getMessage() for r in caplog.records) == 1
