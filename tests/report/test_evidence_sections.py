"""Paired-evidence, auto and learning-curve sections read a stored evaluation and agree with it."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.datasets import load_digits, split_table
from thresher.evaluate.auto import Auto
from thresher.evaluate.harness import SelectorArm, evaluate
from thresher.evaluate.paired import compare
from thresher.report.model import Figure, Paragraph, TableBlock
from thresher.report.sections import auto_choice, learning_curves, paired
from thresher.select.kcenter import KCenterGreedy
from thresher.store.rundir import RunDir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tr, te = split_table(load_digits().take(range(300)))
    tr = tr.with_column("score.x", tr.embeddings[:, 20] + 1e-3 * np.arange(tr.n_rows))
    rd = RunDir(tmp_path_factory.mktemp("ev") / "run")
    rd.open(tr, {})
    cands = [("random", "random", {}), ("top", "topk", {"by": "score.x"}), ("kc", "kcenter", {})]
    arms = [SelectorArm("kc", KCenterGreedy(), rd), SelectorArm("auto", Auto(candidates=cands, proxy="knn"), rd)]
    evaluate(tr, te, arms, [0.2, 0.5], seeds=[0, 1, 2, 3, 4], model="knn", run_dir=rd)
    return rd


def test_paired_section_matches_compare(run) -> None:
    sec = paired.build(run)
    assert sec is not None and any(isinstance(b, Figure) for b in sec.blocks)
    table = [b for b in sec.blocks if isinstance(b, TableBlock)][0]
    c = compare(run.read_evaluation(), run_dir=run).sort_values(["fraction", "arm"])
    assert [r[0] for r in table.rows] == c["arm"].tolist()
    assert [r[4] for r in table.rows] == c["verdict"].tolist()
    r0 = c.iloc[0]
    assert table.rows[0][3] == f"{100 * r0['mean_diff']:+.2f} [{100 * r0['ci_low']:+.2f}, {100 * r0['ci_high']:+.2f}]"


def test_summary_verdict_uses_the_paired_test(run) -> None:
    from thresher.report.core_sections import build_curves

    sec = build_curves(run)
    text = " ".join(b.text for b in sec.blocks if isinstance(b, Paragraph))
    assert "Paired verdicts" in text and "CI clear of random's mean" not in text
    c = compare(run.read_evaluation(), run_dir=run)
    for arm, g in c.groupby("arm"):
        better = [f"{f:g}" for f, v in zip(g["fraction"], g["verdict"]) if v == "better"]
        worse = [f"{f:g}" for f, v in zip(g["fraction"], g["verdict"]) if v == "worse"]
        if better:
            assert f"{arm}: better than random at {' and '.join(better) if len(better) < 3 else ''}" in text
        if not better and not worse:
            assert f"{arm}: no detectable difference from random at any fraction with a verdict" in text
    assert "at no" not in text


def test_auto_section_lists_choices_and_candidates(run) -> None:
    ev = auto_choice.collect(run)
    assert len(ev) == 10  # 2 fractions x 5 seeds
    sec = auto_choice.build(run)
    tables = [b for b in sec.blocks if isinstance(b, TableBlock)]
    assert [r[2] for r in tables[0].rows] == [5, 5]
    assert {r[0] for r in tables[1].rows} == {"random", "top", "kc"}
    assert sum(int(x.split("x")[-1]) for x in tables[0].rows[0][3].split(", ")) == 5


def test_learning_curve_section_one_panel_per_arm(run) -> None:
    sec = learning_curves.build(run)
    assert sec is not None
    table = [b for b in sec.blocks if isinstance(b, TableBlock)][0]
    assert [r[0] for r in table.rows] == ["auto", "kc", "random"]
