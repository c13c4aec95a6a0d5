"""Every registry entry that takes an executor gives the same result on the thread pool as serially (and on Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conformance.test_registry import _executor_entries, _table_for
from thresher._registry import METRICS, SCORERS, SELECTORS
from tests.conftest import make_fixture_table
from thresher.execute import LocalExecutor, ThreadExecutor, get_executor
from thresher.select.base import Budget


def _run(kind: str, name: str, executor: object) -> np.ndarray:
    reg = {"scorer": SCORERS, "selector": SELECTORS, "metric": METRICS}[kind]
    cls = reg.get(name)
    table = _table_for(cls)
    inst = cls.make_example()
    inst.executor = executor
    if kind == "scorer":
        return np.asarray(inst.score(table, seed=5))
    if kind == "selector":
        return np.asarray(inst.select(table, Budget(n=7), seed=5).row_ids)
    ref = make_fixture_table(n=80, seed=5) if getattr(cls, "needs_reference", False) else None
    return np.array([inst.compute(table, reference=ref, seed=5).value])


@pytest.mark.parametrize(("kind", "name"), _executor_entries())
def test_threads_equal_serial(kind: str, name: str) -> None:
    serial = _run(kind, name, LocalExecutor())
    np.testing.assert_array_equal(_run(kind, name, ThreadExecutor(2)), serial, err_msg=f"{name}: threads != serial")


@pytest.mark.ray
@pytest.mark.parametrize(("kind", "name"), _executor_entries())
def test_threads_equal_ray(kind: str, name: str, ray_local) -> None:
    np.testing.assert_allclose(
        _run(kind, name, ThreadExecutor(2)), _run(kind, name, get_executor("ray")), rtol=0, atol=1e-12,
        err_msg=f"{name}: threads != ray",
    )
