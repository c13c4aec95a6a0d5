"""The harness keeps per-test-row predictions; paired comparisons read them back."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.datasets import load_digits, split_table
from thresher.evaluate.harness import SelectorArm, evaluate, make_arm, summarize
from thresher.evaluate.paired import compare
from thresher.evaluate.predictions import Predictions
from thresher.evaluate.stats import paired_difference
from thresher.select.kcenter import KCenterGreedy
from thresher.select.topk import TopK
from thresher.store.rundir import RunDir


@pytest.fixture(scope="module")
def digits():
    tr, te = split_table(load_digits().take(range(500)))
    return tr.with_column("score.x", tr.embeddings[:, 20] + 1e-3 * np.arange(tr.n_rows)), te


def test_predictions_are_stored_and_recompute_the_records(tmp_path, digits) -> None:
    tr, te = digits
    rd = RunDir(tmp_path / "run")
    rd.open(tr, {})
    arms = [SelectorArm("top", TopK(by="score.x"), rd)]
    df = evaluate(tr, te, arms, [0.4], seeds=[0, 1], model="logreg", run_dir=rd)
    p = Predictions.load(tmp_path / "run" / "predictions")
    assert p is not None and p.n_classes == 10 and len(p.y) == te.n_rows
    for arm, frac, seed, acc, f1 in zip(df["arm"], df["fraction"], df["seed"], df["accuracy"], df["macro_f1"]):
        c = p.correct(arm, frac, [seed], "logreg")
        assert c.mean() == pytest.approx(acc)
        assert 0 < f1 <= 1
    # log-loss is the mean of -log p(true)
    row = df[(df["arm"] == "full") & (df["seed"] == 0)].iloc[0]
    assert row["log_loss"] == pytest.approx(float(-np.log(np.clip(p.p_true("full", 1.0, [0], "logreg"), 1e-15, 1)).mean()))
    # the same seed gives the same model: a deterministic arm's runs agree row by row
    np.testing.assert_array_equal(p.predicted("top", 0.4, [0], "logreg"), p.predicted("top", 0.4, [1], "logreg"))


def test_compare_against_random_counts_test_variance_for_deterministic_arms(digits) -> None:
    tr, te = digits
    df = evaluate(tr, te, [SelectorArm("top", TopK(by="score.x"))], [0.3], seeds=[0, 1, 2, 3, 4], model="logreg")
    c = compare(df)
    row = c[c["arm"] == "top"].iloc[0]
    p = df.attrs["predictions"]
    D = p.correct("top", 0.3, range(5), "logreg").astype(float) - p.correct("random", 0.3, range(5), "logreg")
    r = paired_difference(D)
    assert row["mean_diff"] == pytest.approx(r.mean) and row["ci_low"] == pytest.approx(r.low)
    assert row["ci_high"] - row["ci_low"] > 0
    assert row["verdict"] in {"better", "worse", "no detectable difference"}
    # against the full data, paired by seed
    cf = compare(df, baseline="full")
    assert set(cf["arm"]) == {"top", "random"}
    assert (cf["mean_diff"] < 0).all()
    # accuracy intervals stay in [0, 1]
    s = summarize(df)
    assert ((s["ci_low"] >= 0) & (s["ci_high"] <= 1) & (s["ci_low"] <= s["mean"]) & (s["mean"] <= s["ci_high"])).all()
    for metric in ("log_loss", "macro_f1", "balanced_accuracy"):
        cm = compare(df, metric=metric)
        assert np.isfinite(cm["mean_diff"]).all() and (cm["ci_low"] <= cm["ci_high"]).all()


def test_compare_holm_adjusts_within_a_fraction(digits) -> None:
    tr, te = digits
    arms = [SelectorArm("top", TopK(by="score.x")), SelectorArm("kc", KCenterGreedy())]
    df = evaluate(tr, te, arms, [0.2], seeds=[0, 1, 2, 3, 4], model="knn", include_full=False)
    c = compare(df).set_index("arm")
    raw = c["p_value"].to_numpy()
    order = np.argsort(raw)
    assert c["p_holm"].to_numpy()[order[0]] == pytest.approx(min(1.0, 2 * raw[order[0]]))
    assert (c["p_holm"] >= c["p_value"]).all()


def test_make_arm_builds_rs2_and_selectors() -> None:
    from thresher.evaluate.rs2 import RS2Arm

    assert isinstance(make_arm("rs2"), RS2Arm)
    assert isinstance(make_arm("topk", {"by": "score.x"}, "t"), SelectorArm)
    from thresher.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="must match its signature"):
        make_arm("topk", {"bye": 1})
