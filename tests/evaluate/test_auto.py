"""``auto``: nested (never sees test rows), reduces to a single candidate, finds a planted signal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from thresher.data.datasets import load_digits, split_table
from thresher.data.table import Table
from thresher.evaluate.auto import Auto, inner_split
from thresher.evaluate.harness import SelectorArm, evaluate
from thresher.select.base import Budget
from thresher.select.ccs import CCS
from thresher.select.kcenter import KCenterGreedy
from thresher.select.random import RandomSelector
from thresher.store.rundir import RunDir

CANDS = [
    ("random", "random", {}),
    ("top-x", "topk", {"by": "score.x"}),
    ("bottom-x", "topk", {"by": "score.x", "largest": False}),
    ("ccs", "ccs", {"by": "score.x", "beta": 0.1}),
]


@pytest.fixture(scope="module")
def digits():
    tr, te = split_table(load_digits().take(range(600)))
    rng = np.random.default_rng(0)
    return tr.with_column("score.x", tr.embeddings[:, 20] + rng.random(tr.n_rows)), te


def test_inner_split_is_stratified_and_disjoint() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    pool, val = inner_split(y, 0.2, np.random.default_rng(1))
    assert len(np.intersect1d(pool, val)) == 0 and len(pool) + len(val) == 100
    assert np.bincount(y[val]).tolist() == [10, 6, 4]


@pytest.mark.parametrize(("cand", "ref"), [(("kc", "kcenter", {}), KCenterGreedy()), (("r", "random", {}), RandomSelector()),
                                           (("c", "ccs", {"by": "score.x", "beta": 0.2}), CCS(by="score.x", beta=0.2))])
def test_one_candidate_equals_that_candidate(digits, cand, ref) -> None:
    tr, _ = digits
    got = Auto(candidates=[cand]).select(tr, Budget(fraction=0.25), seed=4)
    want = ref.select(tr, Budget(fraction=0.25), seed=4)
    np.testing.assert_array_equal(got.row_ids, want.row_ids)


def test_choice_does_not_change_when_test_labels_are_poisoned(tmp_path, digits) -> None:
    tr, te = digits
    poisoned = te.with_column("label", np.random.default_rng(9).permutation(te.labels))
    chosen = []
    for name, test in (("clean", te), ("poisoned", poisoned)):
        rd = RunDir(tmp_path / name)
        rd.open(tr, {})
        arm = SelectorArm("auto", Auto(candidates=CANDS), rd)
        df = evaluate(tr, test, [arm], [0.3], seeds=[0, 1], model="logreg", run_dir=rd, include_random=False, include_full=False)
        ev = [json.loads(p.read_text()) for p in sorted((tmp_path / name / "auto").glob("*.json"))]
        assert len(ev) == 2
        sels = [rd.read_selection(f"auto__f=0.3__s={s}").row_ids for s in (0, 1)]
        chosen.append(([e["chosen"] for e in ev], [[c["results"] for c in e["candidates"]] for e in ev], sels, df))
    assert chosen[0][0] == chosen[1][0]
    assert _same_results(chosen[0][1], chosen[1][1])  # every inner-validation number, not only the choice
    for a, b in zip(chosen[0][2], chosen[1][2]):
        np.testing.assert_array_equal(a, b)
    # the outer test accuracy does change: the poison reached the evaluation, not the choice
    assert chosen[0][3]["accuracy"].mean() > chosen[1][3]["accuracy"].mean() + 0.3


def _same_results(a, b) -> bool:
    strip = lambda ev: [[[{k: v for k, v in r.items() if k != "seconds"} for r in res] for res in e] for e in ev]  # noqa: E731
    return strip(a) == strip(b)


def test_auto_finds_a_planted_noise_score_and_keeps_its_evidence() -> None:
    # 30% of labels flipped; score.noise is high exactly on the flipped rows
    rng = np.random.default_rng(2)
    n = 900
    y = rng.integers(0, 3, size=n)
    X = np.eye(3)[y] * 3 + rng.normal(size=(n, 3))
    flipped = rng.random(n) < 0.3
    y_obs = np.where(flipped, (y + 1) % 3, y)
    t = Table(columns={"label": y_obs, "score.noise": flipped + 0.01 * rng.random(n)}, matrices={"embeddings": X})
    cands = [("random", "random", {}), ("keep-noisy", "topk", {"by": "score.noise"}),
             ("drop-noisy", "topk", {"by": "score.noise", "largest": False})]
    # 1-NN is as sensitive to label noise as a proxy can be
    auto = Auto(candidates=cands, proxy="knn", proxy_params={"k": 1})
    sel = auto.select(t, Budget(fraction=0.4), seed=0)
    assert auto.evidence_["chosen"] == "drop-noisy"
    assert flipped[t.positions(sel.row_ids)].mean() < 0.05
    accs = {c["label"]: c["results"][-1]["val_accuracy"] for c in auto.evidence_["candidates"]}
    assert accs["drop-noisy"] > accs["random"] > accs["keep-noisy"]
    assert auto.evidence_["n_val"] == pytest.approx(0.2 * n, abs=3)
    # one proxy fit per candidate on k_pool rows, against one fit on all n rows
    assert auto.evidence_["proxy_cost_vs_full_run"] == pytest.approx(3 * auto.evidence_["k_pool"] / n, rel=1e-9)


def test_successive_halving_with_a_torch_proxy(digits) -> None:
    pytest.importorskip("torch")
    from thresher.evaluate.torch_models import MLPModel

    tr, _ = digits
    cands = CANDS + [("kc", "kcenter", {}), ("fl", "facility_location", {}), ("cb", "cluster_balanced", {})]
    auto = Auto(candidates=cands, proxy=MLPModel(epochs=9, lr=3e-3, threads=1), eta=3, n_rungs=3)
    auto.select(tr, Budget(fraction=0.3), seed=0)
    ev = auto.evidence_
    per_rung = [sum(1 for c in ev["candidates"] if len(c["results"]) > r) for r in range(3)]
    # 7 candidates -> ceil(7/3)=3 (+random if it lost) -> ceil(3/3)=1 (+random)
    assert per_rung[0] == 7 and per_rung[1] in (3, 4) and per_rung[2] in (1, 2)
    assert [r["epochs"] for c in ev["candidates"] for r in c["results"] if c["label"] == "random"] == [1, 3, 9]
    last = {c["label"]: c["results"][-1]["val_accuracy"] for c in ev["candidates"] if len(c["results"]) == 3}
    assert ev["chosen"] == max(last, key=lambda k: (last[k], k == "random"))


def test_every_default_candidate_runs_on_a_scored_table(digits) -> None:
    from thresher.evaluate.candidates import default_candidates

    tr, _ = digits
    rng = np.random.default_rng(3)
    t = tr.with_column("score.y", rng.random(tr.n_rows))
    cands = default_candidates(t)
    names = {c.name for c in cands}
    assert {"random", "topk", "ccs", "d2", "facility_location", "kcenter", "cluster_balanced"} <= names
    auto = Auto(proxy="knn")
    sel = auto.select(t, Budget(fraction=0.2), seed=0)
    errors = {c["label"]: c["error"] for c in auto.evidence_["candidates"] if c["error"]}
    assert errors == {}
    assert len(auto.evidence_["candidates"]) == len(cands) and len(sel) == round(0.2 * t.n_rows)
