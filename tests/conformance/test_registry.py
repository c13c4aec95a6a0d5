"""Conformance tests run over every registered scorer, selector and metric.

Each entry is built with its ``make_example()`` classmethod and run on the table from
its ``conformance_table()`` classmethod when it has one (entries that need a special
signal, e.g. a training run), else on the shared fixture table. Checked: return type,
shape and dtype; determinism under a seed; row-order equivariance; budget respected.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_fixture_table
from thresher._registry import METRICS, SCORERS, SELECTORS
from thresher.metrics.base import MetricResult
from thresher.select.base import Budget, Selection


def _table_for(cls, seed: int = 0):
    hook = getattr(cls, "conformance_table", None)
    return hook() if hook is not None else make_fixture_table(seed=seed)


def _permuted(table, seed: int = 1):
    perm = np.random.default_rng(seed).permutation(table.n_rows)
    return table.take(perm), perm


@pytest.mark.parametrize("name", SCORERS.names())
def test_scorer_conformance(name: str) -> None:
    cls = SCORERS.get(name)
    scorer = cls.make_example()
    assert isinstance(scorer.higher_is_better, bool)
    assert scorer.column.startswith("score.")
    table = _table_for(cls)
    a = scorer.score(table, seed=7)
    assert a.dtype == np.float64 and a.shape == (table.n_rows,)
    b = cls.make_example().score(table, seed=7)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=f"{name} not deterministic under a seed")
    permuted, perm = _permuted(table)
    c = cls.make_example().score(permuted, seed=7)
    np.testing.assert_allclose(c, a[perm], rtol=1e-7, atol=1e-8, err_msg=f"{name} not row-order equivariant")


@pytest.mark.parametrize("name", SELECTORS.names())
@pytest.mark.parametrize("budget", [Budget(n=7), Budget(fraction=0.5)])
def test_selector_conformance(name: str, budget: Budget) -> None:
    cls = SELECTORS.get(name)
    table = _table_for(cls)
    sel = cls.make_example().select(table, budget, seed=3)
    assert isinstance(sel, Selection)
    k = budget.resolve(table.n_rows)
    assert len(sel) == k, f"{name} returned {len(sel)} rows for a budget of {k}"
    assert len(set(sel.row_ids.tolist())) == k
    assert set(sel.row_ids.tolist()) <= set(table.row_id.tolist())
    again = cls.make_example().select(table, budget, seed=3)
    np.testing.assert_array_equal(sel.row_ids, again.row_ids, err_msg=f"{name} not deterministic under a seed")
    permuted, _ = _permuted(table)
    other = cls.make_example().select(permuted, budget, seed=3)
    assert sorted(other.row_ids.tolist()) == sorted(sel.row_ids.tolist()), f"{name} depends on row order"


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_conformance(name: str) -> None:
    cls = METRICS.get(name)
    metric = cls.make_example()
    table = _table_for(cls)
    reference = make_fixture_table(n=80, seed=5) if getattr(cls, "needs_reference", False) else None
    r1 = metric.compute(table, reference=reference, seed=11)
    assert isinstance(r1, MetricResult)
    assert isinstance(r1.value, float)
    r2 = cls.make_example().compute(table, reference=reference, seed=11)
    assert r1.value == pytest.approx(r2.value, abs=1e-10), f"{name} not deterministic under a seed"
    permuted, _ = _permuted(table)
    r3 = cls.make_example().compute(permuted, reference=reference, seed=11)
    assert r3.value == pytest.approx(r1.value, rel=1e-6, abs=1e-8), f"{name} depends on row order"


def test_every_entry_has_a_description() -> None:
    for reg in (SCORERS, SELECTORS, METRICS):
        for entry in reg:
            assert entry.description, f"{reg.kind} {entry.name} has no docstring summary"


def _executor_entries() -> list[tuple[str, str]]:
    """(kind, name) of every entry whose example instance takes an ``executor``."""
    out = []
    for kind, reg in (("scorer", SCORERS), ("selector", SELECTORS), ("metric", METRICS)):
        for entry in reg:
            if hasattr(entry.cls.make_example(), "executor"):
                out.append((kind, entry.name))
    return out


@pytest.mark.ray
@pytest.mark.parametrize(("kind", "name"), _executor_entries())
def test_local_and_ray_executors_agree(kind: str, name: str, ray_local) -> None:
    from thresher.execute import LocalExecutor, get_executor

    reg = {"scorer": SCORERS, "selector": SELECTORS, "metric": METRICS}[kind]
    cls = reg.get(name)
    table = _table_for(cls)
    results = []
    for ex in (LocalExecutor(), get_executor("ray")):
        inst = cls.make_example()
        inst.executor = ex
        if kind == "scorer":
            results.append(inst.score(table, seed=5))
        elif kind == "selector":
            results.append(inst.select(table, Budget(n=7), seed=5).row_ids)
        else:
            ref = make_fixture_table(n=80, seed=5) if getattr(cls, "needs_reference", False) else None
            results.append(np.array([inst.compute(table, reference=ref, seed=5).value]))
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-12, err_msg=f"{name}: local != ray")
