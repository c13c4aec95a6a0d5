"""Representativeness of a selection: components against their definitions, run-dir storage."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_fixture_table
from thresher.metrics.coverage import prdc
from thresher.metrics.vendi import vendi_score
from thresher.metrics.representativeness import (
    KEY_PREFIX,
    Representativeness,
    representativeness,
    store_representativeness,
)
from thresher.select.base import Budget, Selection


def _selection(ids: np.ndarray) -> Selection:
    return Selection(np.asarray(ids), "hand", Budget(n=len(ids)), 0)


def test_components_match_their_definitions() -> None:
    t = make_fixture_table(n=90, seed=1)
    ids = t.row_id[::3]
    r = representativeness(t, _selection(ids), k=4, n_permutations=49, seed=0)
    sub = t.subset(ids)
    p = prdc(t.embeddings, sub.embeddings, 4, probabilistic=False)
    assert r.value == p.coverage == r.details["coverage"]
    assert r.details["density"] == p.density
    assert r.details["vendi_ratio"] == pytest.approx(vendi_score(sub.embeddings) / vendi_score(t.embeddings), rel=1e-12)
    # every third row of labels 0,1,2,0,1,2... keeps only label 0; groups: rows 0 mod 4 are 'a'
    assert r.details["class_proportions_subset"] == {"0": 1.0}
    assert r.details["class_tv"] == pytest.approx(2 / 3)
    expected_a = np.mean(np.arange(0, 90, 3) % 4 == 0)
    assert r.details["group_proportions_subset"]["a"] == pytest.approx(expected_a)
    assert r.params["selector"] == "hand"


def test_drift_p_value_flags_a_biased_subset_and_not_a_random_one() -> None:
    rng = np.random.default_rng(2)
    t = make_fixture_table(n=300, seed=2)
    biased = t.row_id[t.labels == 0]  # one of three clusters
    random = rng.choice(t.row_id, size=100, replace=False)
    rb = representativeness(t, _selection(biased), n_permutations=99, seed=0)
    rr = representativeness(t, _selection(random), n_permutations=99, seed=0)
    assert rb.details["drift_p_value"] == 0.01 and rr.details["drift_p_value"] > 0.05
    assert rb.value < rr.value and rb.details["class_tv"] > rr.details["class_tv"]


def test_registered_metric_equals_function() -> None:
    t = make_fixture_table(n=60, seed=3)
    sub = t.take(np.arange(0, 60, 2))
    a = Representativeness(k=3, n_permutations=49).compute(sub, reference=t, seed=5)
    b = representativeness(t, _selection(sub.row_id), k=3, n_permutations=49, seed=5)
    assert a.value == b.value and a.details["drift_p_value"] == b.details["drift_p_value"]


def test_store_representativeness_writes_each_selection(tmp_path) -> None:
    from thresher.store.rundir import RunDir

    t = make_fixture_table(n=60, seed=4)
    run = RunDir(tmp_path / "run")
    run.open(t, {})
    run.write_table(t)
    run.write_selection("every2", _selection(t.row_id[::2]))
    run.write_selection("first20", _selection(t.row_id[:20]))
    out = store_representativeness(run, k=3, n_permutations=19)
    stored = run.read_metrics()
    assert set(out) == {"every2", "first20"}
    assert stored[KEY_PREFIX + "every2"]["value"] == out["every2"].value
    assert store_representativeness(run) == {}  # already there: nothing recomputed


def test_report_section_shows_stored_values_next_to_accuracy(tmp_path) -> None:
    from thresher.report.model import Figure, TableBlock
    from thresher.report.sections import representativeness as section
    from thresher.store.rundir import RunDir, selection_key

    t = make_fixture_table(n=60, seed=6)
    run = RunDir(tmp_path / "run")
    run.open(t, {})
    run.write_table(t)
    assert section.build(run) is None  # nothing stored yet
    key = selection_key("kcenter", Budget(fraction=0.5), 0)
    run.write_selection(key, Selection(t.row_id[::2], "kcenter", Budget(fraction=0.5), 0))
    run.append_evaluation([
        {"arm": "kcenter", "fraction": 0.5, "seed": s, "accuracy": a, "n_train": 30} for s, a in ((0, 0.8), (1, 0.9))
    ])
    res = store_representativeness(run, k=3, n_permutations=19)[key]
    sec = section.build(run)
    assert sec is not None
    tab = next(b for b in sec.blocks if isinstance(b, TableBlock))
    assert any(isinstance(b, Figure) and b.png[:4] == b"\x89PNG" for b in sec.blocks)
    row = tab.rows[0]
    assert row[:3] == ["kcenter", "0.5", "0.850"]
    assert row[3] == f"{res.details['coverage']:.3f}" and row[5] == f"{res.details['vendi_ratio']:.3f}"
