"""The choices section shows the OOF model choice and fusion weights stored in a run."""

from __future__ import annotations

from thresher.report.sections.choices import build
from thresher.store.rundir import RunDir


def test_none_without_choices(tmp_path) -> None:
    assert build(RunDir(tmp_path)) is None


def test_oof_choice_and_fusion_weights(tmp_path) -> None:
    rd = RunDir(tmp_path)
    rd.write_signal_meta({"classes": [0, 1], "oof_model": "knn", "oof_choice": {
        "name": "knn", "criterion": "log_loss", "log_loss": {"logreg": 0.7, "knn": 0.2},
        "brier": {"logreg": 0.5, "knn": 0.1}, "n_rows": 300, "n_splits": 3}})
    rd.write_manifest({"steps": {"score:score.fuse": {
        "method": "learned", "columns": ["score.margin", "score.knn_distance"], "weights": {"score.margin": 0.8, "score.knn_distance": -0.6},
        "higher_is_better": [True, False], "meta_rater": {"r2": 0.5, "losses": [0.1] * 30, "n_proxies": 30}}}})
    sec = build(rd)
    assert sec is not None
    oof, fuse = sec.blocks
    assert oof.rows == [["knn", "0.2000", "0.1000", "chosen"], ["logreg", "0.7000", "0.5000", ""]]
    assert "knn, chosen by cross-validated log_loss (3 folds on 300 rows)" in oof.caption
    assert fuse.rows == [["score.margin", "+0.8000", "higher"], ["score.knn_distance", "-0.6000", "lower"]]
    assert "30 proxies, R² 0.500" in fuse.caption
