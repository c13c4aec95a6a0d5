"""Every entry that takes an ``executor`` takes it by name too ("local"/"ray"), with equal results.

The object form is checked in ``test_registry.py``; a user (or a recipe, or the CLI)
passes the name, which once reached ``.map`` as a string in eight entries.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conformance.test_registry import _executor_entries, _table_for
from tests.conftest import make_fixture_table
from thresher._registry import METRICS, SCORERS, SELECTORS
from thresher.select.base import Budget


def _run(kind: str, name: str, executor: object) -> np.ndarray:
    reg = {"scorer": SCORERS, "selector": SELECTORS, "metric": METRICS}[kind]
    cls = reg.get(name)
    table = _table_for(cls)
    inst = cls.make_example()
    inst.executor = executor
    if kind == "scorer":
        return inst.score(table, seed=5)
    if kind == "selector":
        return inst.select(table, Budget(n=7), seed=5).row_ids
    ref = make_fixture_table(n=80, seed=5) if getattr(cls, "needs_reference", False) else None
    return np.array([inst.compute(table, reference=ref, seed=5).value])


@pytest.mark.parametrize(("kind", "name"), _executor_entries())
def test_executor_by_name_local(kind: str, name: str) -> None:
    from thresher.execute.base import LocalExecutor

    np.testing.assert_allclose(_run(kind, name, "local"), _run(kind, name, LocalExecutor()), rtol=0, atol=1e-12)


@pytest.mark.ray
@pytest.mark.slow  # the Ray object form runs in CI (test_registry.py); this one adds only the name
@pytest.mark.parametrize(("kind", "name"), _executor_entries())
def test_executor_by_name_ray(kind: str, name: str, ray_local) -> None:
    np.testing.assert_allclose(_run(kind, name, "ray"), _run(kind, name, "local"), rtol=0, atol=1e-12,
                               err_msg=f"{name}: 'ray' != 'local'")


def test_recipe_executor_reaches_components() -> None:
    from thresher.pipeline import on_executor
    from thresher.scores.knn_shapley import KNNShapley
    from thresher.scores.uncertainty import Margin
    from thresher.select.submodular import FacilityLocation

    assert on_executor(KNNShapley(), "ray").executor == "ray"
    assert on_executor(FacilityLocation(), "ray").executor == "ray"
    assert on_executor(KNNShapley(executor="local"), "local").executor == "local"
    own = object()
    assert on_executor(KNNShapley(executor=own), "ray").executor is own  # a component's own choice stands
    assert not hasattr(on_executor(Margin(), "ray"), "executor")
