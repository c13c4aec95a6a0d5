"""Conformance of registered evaluation arms (arms that are not subsets, e.g. RS2)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_fixture_table
from thresher._registry import ARMS


@pytest.mark.parametrize("name", ARMS.names())
def test_arm_conformance(name: str) -> None:
    pytest.importorskip("torch")
    from thresher.evaluate.torch_models import MLPModel

    entry = ARMS.get(name)
    assert (entry.__doc__ or "").strip(), f"arm {name} has no docstring summary"
    train, test = make_fixture_table(n=60, seed=0), make_fixture_table(n=30, seed=1)
    test = test.with_column("label", test.labels)
    model = MLPModel(epochs=2, lr=1e-2, n_classes=3, threads=1)
    train.meta["n_classes"] = test.meta["n_classes"] = 3
    a = entry.make_example().run(train, test, 0.5, 3, model)
    b = entry.make_example().run(train, test, 0.5, 3, model)
    assert a["proba"].shape == (30, 3) and a["n_train"] == 30
    np.testing.assert_allclose(a["proba"].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(a["proba"], b["proba"], err_msg=f"{name} not deterministic under a seed")
