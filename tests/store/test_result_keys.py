"""Result keys: changing anything that changes a result recomputes it; nothing else is recomputed.

Each case of the matrix runs a small recipe, changes one thing (a scorer, signal,
selector, model or metric parameter, the seed, a fraction, the input) and counts the
calls each component actually made on the re-run. The expected counts follow from what
each result reads (worked out by hand below), and every recomputed value is checked
against a direct computation with the new parameters, so a stale value cannot pass.
"""

from __future__ import annotations

import collections
import copy
from typing import Any

import numpy as np
import pytest

from thresher.errors import RunDirError
from thresher.evaluate import models as models_mod
from thresher.metrics.base import BaseMetric
from thresher.pipeline import Recipe, run_recipe
from thresher.scores.base import BaseScorer
from thresher.select.base import BaseSelector
from thresher.signals.oof import OutOfFoldProbs
from thresher.store import RunDir

BASE: dict[str, Any] = {
    "data": {"dataset": "digits"},
    "run": {"seeds": [0], "fractions": [0.5]},
    "signals": [{"name": "probs", "n_splits": 3}],
    "scorers": [{"name": "margin"}, {"name": "knn_distance", "k": 5}],
    "selectors": [
        {"name": "topk", "label": "easy", "by": "score.margin"},
        {"name": "ccs", "by": "score.margin", "hardest": "low", "beta": 0.1},
        {"name": "topk", "label": "far", "by": "score.knn_distance"},
    ],
    "metrics": [{"name": "vendi"}],
}


@pytest.fixture
def calls(monkeypatch) -> collections.Counter:
    counter: collections.Counter = collections.Counter()

    def wrap(cls: type, method: str, tag: Any) -> None:
        real = getattr(cls, method)

        def counting(self, *a, **k):
            counter[tag(self)] += 1
            return real(self, *a, **k)

        monkeypatch.setattr(cls, method, counting)

    wrap(BaseScorer, "score", lambda s: f"score:{type(s).__name__}")
    wrap(BaseSelector, "select", lambda s: "select")
    wrap(BaseMetric, "compute", lambda s: "metric")
    wrap(OutOfFoldProbs, "compute", lambda s: "signal")
    # the harness trains through fit_predict_proba (it keeps per-test-row predictions)
    wrap(models_mod.LogisticRegressionModel, "fit_predict_proba", lambda s: "fit:logreg")
    wrap(models_mod.KNNModel, "fit_predict_proba", lambda s: "fit:knn")
    return counter


def _with(change) -> Recipe:
    d = copy.deepcopy(BASE)
    change(d)
    return Recipe.from_dict(d)


def _set(path: list[Any], value: Any):
    def change(d: dict[str, Any]) -> None:
        node = d
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return change


# (change, expected calls on the re-run). Base run: 4 arms (easy, ccs, far, random) x 1
# fraction x 1 seed + full = 5 fits; vendi on train + the 4 selections = 5 metric calls.
MATRIX = [
    ("unchanged", lambda d: None, {}),
    # k is read by knn_distance only -> that column, the arm 'far' that reads it, its fit and its metric
    ("scorer param", _set(["scorers", 1, "k"], 7), {"score:KNNDistance": 1, "select": 1, "fit:logreg": 1, "metric": 1}),
    # n_splits changes probs -> margin (not knn_distance) -> easy and ccs (not far, random)
    ("signal param", _set(["signals", 0, "n_splits"], 4), {"signal": 1, "score:Margin": 1, "select": 2, "fit:logreg": 2, "metric": 2}),
    ("selector param", _set(["selectors", 1, "beta"], 0.5), {"select": 1, "fit:logreg": 1, "metric": 1}),
    ("model", _set(["run", "model"], "knn"), {"fit:knn": 5}),
    ("model param", _set(["run", "model_params"], {"C": 0.5}), {"fit:logreg": 5}),
    ("metric param", _set(["metrics", 0, "q"], 2.0), {"metric": 5}),
    # a new seed: new probs, both scores (knn_distance's key holds the seed), new selections
    ("seed", _set(["run", "seeds"], [1]), {"signal": 1, "score:Margin": 1, "score:KNNDistance": 1, "select": 4, "fit:logreg": 5, "metric": 5}),
    ("fraction added", _set(["run", "fractions"], [0.5, 0.3]), {"select": 4, "fit:logreg": 4, "metric": 4}),
]


@pytest.mark.slow
@pytest.mark.parametrize("case,change,expected", MATRIX, ids=[m[0] for m in MATRIX])
def test_parameter_change_matrix(tmp_path, calls, case, change, expected) -> None:
    run_recipe(Recipe.from_dict(BASE), tmp_path / "r")
    calls.clear()
    recipe = _with(change)
    rd = run_recipe(recipe, tmp_path / "r")
    assert dict(calls) == expected
    # what is stored is what the new recipe computes, and the manifest says so
    arts = rd.artifacts()
    scores = rd.read_scores().set_index("row_id")
    for comp in recipe.scorers:
        col = f"score.{comp.name}"
        assert arts[f"scores/{col}"]["key"] == rd.score_keys()[col]
        for k, v in comp.params.items():
            assert arts[f"scores/{col}"]["spec"]["params"][k] == v
    ev = rd.read_evaluation()
    # the run describes the new recipe only: no record of the old one is counted with it
    assert len(ev) == {"fraction added": 9}.get(case, 5)
    assert set(ev["key"]) <= {v["key"] for a, v in arts.items() if a.startswith("evaluation/")}
    assert ev.attrs["n_duplicates_dropped"] == 0
    if case == "scorer param":
        from thresher.scores.density import KNNDistance

        train = rd.read_table(with_signals=True)
        np.testing.assert_allclose(scores.loc[train.row_id, "score.knn_distance"], KNNDistance(k=7).score(train))
    if case == "metric param":
        m = rd.read_metrics()
        assert m["vendi/train"]["value"] != m["vendi[q=2]/train"]["value"]  # stored beside, not overwritten
        from thresher._registry import METRICS

        train = rd.read_table(with_signals=True)
        assert m["vendi[q=2]/train"]["value"] == pytest.approx(METRICS.get("vendi")(q=2.0).compute(train, seed=0).value)
    if case == "model":
        assert set(ev["model"]) == {"knn"}
    if case == "seed":
        assert set(ev["seed"]) == {1} and not any(n.endswith("__s=0") for n in rd.selection_keys())
    if case == "selector param":
        assert rd.read_selection("ccs__f=0.5__s=0").params["beta"] == 0.5


@pytest.mark.slow
def test_unchanged_rerun_recomputes_nothing_and_changed_input_is_refused(tmp_path, calls) -> None:
    from thresher.data.datasets import load_digits
    from thresher.data.io import write_table

    digits = load_digits()
    write_table(digits, tmp_path / "rows.parquet")
    small = copy.deepcopy(BASE)
    small["data"] = {"path": str(tmp_path / "rows.parquet")}
    small["selectors"] = small["selectors"][:1]
    small["scorers"] = small["scorers"][:1]
    run_recipe(Recipe.from_dict(small), tmp_path / "r")
    n_first = dict(calls)
    assert n_first == {"signal": 1, "score:Margin": 1, "select": 2, "fit:logreg": 3, "metric": 3}
    calls.clear()
    run_recipe(Recipe.from_dict(small), tmp_path / "r")
    assert dict(calls) == {}
    # one label changed: the stored results are refused (never mixed in) unless forced,
    # which recomputes everything
    labels = digits.labels.copy()
    labels[0] = (labels[0] + 1) % 10
    write_table(digits.with_column("label", labels), tmp_path / "rows.parquet")
    with pytest.raises(RunDirError, match="holds results for other input"):
        run_recipe(Recipe.from_dict(small), tmp_path / "r")
    assert dict(calls) == {}
    run_recipe(Recipe.from_dict(small), tmp_path / "r", force=True)
    assert dict(calls) == n_first


def test_cli_score_param_change_recomputes_and_metrics_are_stored_beside(tmp_path) -> None:
    from typer.testing import CliRunner

    from thresher.cli import app
    from thresher.data.datasets import load_digits
    from thresher.scores.density import KNNDistance

    runner = CliRunner()
    run = str(tmp_path / "r")
    for k in (5, 50):
        out = runner.invoke(app, ["score", "-d", "digits", "-s", "knn_distance", "-p", f"knn_distance.k={k}", "-r", run])
        assert out.exit_code == 0, out.output
    rd = RunDir(run)
    train = load_digits()
    train = train.take(train.column("split") == "train")
    stored = rd.read_scores().set_index("row_id").loc[train.row_id, "score.knn_distance"].to_numpy()
    np.testing.assert_allclose(stored, KNNDistance(k=50).score(train))  # not the k=5 values
    assert rd.artifacts()["scores/score.knn_distance"]["spec"]["params"]["k"] == 50
    for q in ("1.0", "2.0"):
        out = runner.invoke(app, ["measure", "-m", "vendi", "-p", f"vendi.q={q}", "-r", run])
        assert out.exit_code == 0, out.output
    m = rd.read_metrics()
    assert set(m) == {"vendi/train", "vendi[q=2]/train"} and m["vendi/train"]["value"] > m["vendi[q=2]/train"]["value"]


def test_second_evaluate_with_another_model_returns_that_models_results(tmp_path) -> None:
    from thresher.data.datasets import load_digits, split_table
    from thresher.evaluate.harness import SelectorArm, evaluate
    from thresher.select.topk import TopK

    tr, te = split_table(load_digits().take(range(400)))
    tr = tr.with_column("score.x", tr.embeddings[:, 20])
    rd = RunDir(tmp_path)
    rd.open(tr, {})
    arms = [SelectorArm("top", TopK(by="score.x"), rd)]
    a = evaluate(tr, te, arms, [0.5], seeds=[0], model="logreg", run_dir=rd)
    b = evaluate(tr, te, arms, [0.5], seeds=[0], model="knn", run_dir=rd)
    assert set(a["model"]) == {"logreg"} and set(b["model"]) == {"knn"} and len(b) == 3
    direct = evaluate(tr, te, [SelectorArm("top", TopK(by="score.x"))], [0.5], seeds=[0], model="knn")
    assert sorted(b["accuracy"]) == sorted(direct["accuracy"])
    assert len(rd.read_evaluation()) == 6  # both models' results, beside
