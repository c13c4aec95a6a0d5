"""Metrics from stored predictions agree with scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from thresher.evaluate.classification import (
    balanced_accuracy_batch,
    group_accuracy,
    macro_f1_batch,
    per_class_accuracy,
    run_metrics,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_metrics_match_sklearn_on_every_resample(seed: int) -> None:
    rng = np.random.default_rng(seed)
    C = 4
    y = rng.integers(0, C, size=120)
    pred = np.where(rng.random(120) < 0.6, y, rng.integers(0, C, size=120))
    idx = rng.integers(0, 120, size=(7, 120))
    f1 = macro_f1_batch(y, pred, idx, C)
    ba = balanced_accuracy_batch(y, pred, idx, C)
    for b in range(7):
        assert f1[b] == pytest.approx(skm.f1_score(y[idx[b]], pred[idx[b]], average="macro", zero_division=0))
        assert ba[b] == pytest.approx(skm.balanced_accuracy_score(y[idx[b]], pred[idx[b]]))


def test_run_metrics_match_sklearn_log_loss_and_group_accuracy() -> None:
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(3), size=50)
    y = rng.integers(0, 3, size=50)
    pred = P.argmax(1)
    group = np.where(np.arange(50) < 20, "a", "b")
    m = run_metrics(y, pred, P[np.arange(50), y], 3, group=group)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, P, labels=[0, 1, 2]))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    correct = pred == y
    assert m["worst_group_accuracy"] == pytest.approx(min(correct[:20].mean(), correct[20:].mean()))
    assert group_accuracy(correct, group)["a"] == pytest.approx(correct[:20].mean())
    pc = per_class_accuracy(y, pred, 4)
    np.testing.assert_allclose(pc[:3], skm.recall_score(y, pred, average=None, labels=[0, 1, 2]))
    assert np.isnan(pc[3])
