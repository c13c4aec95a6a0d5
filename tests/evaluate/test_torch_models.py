"""PyTorch reference models, the trainer, and the RS2 arm."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.data.table import Table  # noqa: E402
from thresher.evaluate.harness import evaluate  # noqa: E402
from thresher.evaluate.models import get_model  # noqa: E402
from thresher.evaluate.rs2 import RS2Arm, rs2_schedule  # noqa: E402
from thresher.evaluate.torch_models import MLPModel, build_model, predict_logits, train_classifier  # noqa: E402
from thresher.errors import InvalidParameterError  # noqa: E402

pytestmark = pytest.mark.torch


def _blobs(n: int = 150, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return (rng.normal(size=(n, 16)) + 3 * np.eye(3, 16)[y]).astype(np.float32), y


def test_model_sizes_and_shapes() -> None:
    mlp = build_model("mlp", 784, 10)
    assert sum(p.numel() for p in mlp.parameters()) == 784 * 128 + 128 + 128 * 10 + 10
    cnn = build_model("cnn", 784, 10)
    assert cnn(torch.zeros(5, 784)).shape == (5, 10)
    assert build_model("cnn", 16, 3)(torch.zeros(2, 16)).shape == (2, 3)
    with pytest.raises(InvalidParameterError, match="image_shape"):
        build_model("cnn", 15, 3)


def test_training_is_deterministic_under_a_seed_and_learns() -> None:
    X, y = _blobs()
    a = train_classifier(X, y, epochs=3, batch_size=16, lr=1e-2, seed=4)
    b = train_classifier(X, y, epochs=3, batch_size=16, lr=1e-2, seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert (predict_logits(a, X).argmax(1) == y).mean() > 0.95


def test_zero_weight_rows_do_not_influence_training() -> None:
    X, y = _blobs()
    w = (np.arange(len(y)) % 2).astype(float)
    scrambled = y.copy()
    scrambled[w == 0] = (y[w == 0] + 1) % 3  # labels of zero-weight rows must not matter
    a = train_classifier(X, y, epochs=2, batch_size=16, seed=1, sample_weight=w)
    b = train_classifier(X, scrambled, epochs=2, batch_size=16, seed=1, sample_weight=w)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_epoch_indices_train_only_on_the_scheduled_rows() -> None:
    X, y = _blobs()
    sched = [np.arange(0, 60), np.arange(60, 120)]
    a = train_classifier(X, y, epochs=2, batch_size=16, seed=2, epoch_indices=sched)
    # rows outside the schedule can carry any label without changing the result
    y2 = y.copy()
    y2[120:] = (y2[120:] + 1) % 3
    b = train_classifier(X, y2, epochs=2, batch_size=16, seed=2, epoch_indices=sched)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_registered_reference_models() -> None:
    X, y = _blobs()
    m = get_model("mlp", epochs=3, lr=1e-2)
    assert isinstance(m, MLPModel)
    assert m.fit_score(X[:100], y[:100], X[100:], y[100:], seed=0) > 0.9
    assert get_model("cnn", epochs=1).fit_score(X[:100], y[:100], X[100:], y[100:], seed=0) > 0.3


def test_rs2_schedule_without_replacement_covers_every_row_once_per_cycle() -> None:
    sched = rs2_schedule(10, 0.3, 7, seed=1)
    assert all(len(e) == 3 and len(np.unique(e)) == 3 for e in sched)
    assert len(np.unique(np.concatenate(sched[:3]))) == 9  # disjoint until exhausted
    # epoch 4 takes the one unused row plus two from a new permutation
    first_cycle = set(np.concatenate(sched[:3]).tolist())
    assert len(set(sched[3].tolist()) - first_cycle) == 1
    indep = rs2_schedule(10, 0.3, 5, seed=1, replace=True)
    assert all(len(np.unique(e)) == 3 for e in indep)


def test_rs2_arm_in_the_harness() -> None:
    X, y = _blobs(120)
    Xt, yt = _blobs(60, seed=1)
    tr = Table(columns={"label": y}, matrices={"embeddings": X})
    te = Table(columns={"label": yt}, matrices={"embeddings": Xt})
    df = evaluate(tr, te, [RS2Arm()], [0.5], seeds=[0], model=MLPModel(epochs=3, lr=1e-2), include_full=False)
    rec = df[df["arm"] == "rs2"].iloc[0]
    assert rec["n_train"] == 60 and rec["accuracy"] > 0.8
    with pytest.raises(InvalidParameterError, match="PyTorch reference model"):
        RS2Arm().run(tr, te, 0.5, 0, get_model("logreg"))
