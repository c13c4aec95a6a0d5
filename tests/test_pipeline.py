"""End-to-end recipe runs: every artifact is written, and a crashed run resumes without redoing work."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.evaluate import models as models_mod
from thresher.pipeline import Recipe, demo_recipe, load_recipe, run_recipe
from thresher.errors import InvalidParameterError, UnknownNameError
from thresher.scores import uncertainty


def _small_recipe() -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"dataset": "digits"},
            "run": {"seeds": [0, 1], "fractions": [0.2, 0.5]},
            "signals": [{"name": "probs", "n_splits": 3}],
            "scorers": [{"name": "margin"}, {"name": "entropy"}],
            "selectors": [{"name": "topk", "label": "easy", "by": "score.margin"}, {"name": "kcenter"}],
            "metrics": [{"name": "vendi"}],
        }
    )


def test_recipe_writes_every_artifact(tmp_path) -> None:
    rd = run_recipe(_small_recipe(), tmp_path / "run")
    assert rd.score_columns() == ["score.margin", "score.entropy"]
    ev = rd.read_evaluation()
    # 3 arms (easy, kcenter, random) x 2 fractions x 2 seeds + full x 2 seeds
    assert len(ev) == 14 and set(ev["arm"]) == {"easy", "kcenter", "random", "full"}
    assert rd.has_selection("easy__f=0.2__s=0") and rd.has_selection("random__f=0.5__s=1")
    assert "vendi/train" in rd.read_metrics() and "vendi/kcenter__f=0.2__s=0" in rd.read_metrics()
    html = (rd.report_dir / "index.html").read_text()
    for title in ("Accuracy versus fraction kept", "Score distributions", "Lowest- and highest-scored examples", "Set metrics"):
        assert title in html
    assert html.count("data:image/png;base64") >= 3
    m = rd.read_manifest()
    assert {"scores", "evaluate", "metrics", "report"} <= set(m["steps"])
    assert m["params"]["run"]["seeds"] == [0, 1]
    sel = rd.read_selection("easy__f=0.2__s=0")
    table = rd.read_table(with_signals=True)
    assert np.all(table.subset(sel.row_ids).column("score.margin") >= np.nanquantile(table.column("score.margin"), 0.79))


def test_resume_after_crash_recomputes_nothing_stored(tmp_path, monkeypatch) -> None:
    calls = {"fit": 0, "score": 0}
    real_fit = models_mod.LogisticRegressionModel.fit_predict_proba
    real_score = uncertainty.Margin._score

    def counting_fit(self, *a, **k):
        calls["fit"] += 1
        if calls["fit"] == 6:
            raise KeyboardInterrupt("simulated kill")
        return real_fit(self, *a, **k)

    def counting_score(self, *a, **k):
        calls["score"] += 1
        return real_score(self, *a, **k)

    monkeypatch.setattr(models_mod.LogisticRegressionModel, "fit_predict_proba", counting_fit)
    monkeypatch.setattr(uncertainty.Margin, "_score", counting_score)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(_small_recipe(), tmp_path / "run")
    from thresher.store import RunDir

    stored = len(RunDir(tmp_path / "run").read_evaluation())
    assert stored == 5 and calls["score"] == 1
    probs_mtime = (tmp_path / "run" / "signals" / "probs.npy").stat().st_mtime_ns
    calls["fit"] = 100  # past the simulated kill
    rd = run_recipe(_small_recipe(), tmp_path / "run")
    assert calls["fit"] - 100 == 14 - 5  # only the missing training runs
    assert calls["score"] == 1  # margin was stored before the crash: not recomputed
    assert (tmp_path / "run" / "signals" / "probs.npy").stat().st_mtime_ns == probs_mtime
    assert len(rd.read_evaluation()) == 14


def test_recipe_errors(tmp_path) -> None:
    with pytest.raises(InvalidParameterError, match="unknown \\['selector'\\]"):
        Recipe.from_dict({"data": {"dataset": "digits"}, "selector": []})
    bad = _small_recipe().to_dict()
    bad["scorers"] = [{"name": "margn"}]
    with pytest.raises(UnknownNameError, match="margin"):
        run_recipe(Recipe.from_dict(bad), tmp_path / "r1")
    bad["scorers"] = [{"name": "knn_distance", "kk": 3}]
    with pytest.raises(InvalidParameterError, match="parameters of scorer 'knn_distance'"):
        run_recipe(Recipe.from_dict(bad), tmp_path / "r2")
    (tmp_path / "x.toml").write_text("[data\n")
    with pytest.raises(InvalidParameterError, match="not valid TOML"):
        load_recipe(tmp_path / "x.toml")


def test_demo_recipe_is_valid() -> None:
    r = demo_recipe()
    assert r.fractions == [0.1, 0.3, 0.5, 0.7] and len(r.seeds) >= 3


@pytest.mark.torch
def test_recipe_with_training_dynamics_records_in_the_run_and_reports_a_data_map(tmp_path) -> None:
    pytest.importorskip("torch")
    recipe = Recipe.from_dict(
        {
            "data": {"dataset": "digits"},
            "run": {"seeds": [0], "fractions": [0.5]},
            "signals": [{"name": "dynamics", "epochs": 3, "batch_size": 64, "lr": 0.01}],
            "scorers": [{"name": "forgetting"}, {"name": "aum"}],
            "selectors": [{"name": "ccs", "by": "score.aum", "hardest": "low"}],
            "metrics": [],
        }
    )
    rd = run_recipe(recipe, tmp_path / "run")
    assert (rd.path / "recordings" / "dynamics" / "dynamics" / "meta.json").exists()
    assert {"score.forgetting", "score.aum"} <= set(rd.score_columns())
    html = (rd.report_dir / "index.html").read_text()
    assert "Training dynamics" in html
    assert "<td>seeds</td><td>0</td>" in html
