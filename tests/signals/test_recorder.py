"""Training-run recorder: storage layout, derived signals, resume."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.data.table import Table  # noqa: E402
from thresher.errors import DataError, RunDirError  # noqa: E402
from thresher.signals.recorder import (  # noqa: E402
    TrainingDynamics,
    TrainingRecorder,
    attach_dynamics,
    dynamics_signals,
)

pytestmark = pytest.mark.torch


def test_signals_from_hand_written_logits(tmp_path) -> None:
    rec = TrainingRecorder(tmp_path, row_ids=np.array([7, 3]), n_classes=3)
    # epoch 0: row 7 (label 0) logits [2, 0, 1]; row 3 (label 2) logits [0, 1, 0]
    rec.log([3], np.array([[0.0, 1.0, 0.0]]), [2])
    rec.log([7], np.array([[2.0, 0.0, 1.0]]), [0])
    rec.checkpoint()
    # epoch 1: only row 7 is trained on
    rec.log([7], np.array([[0.0, 3.0, 0.0]]), [0])
    rec.checkpoint()
    s = dynamics_signals(tmp_path)
    e = np.exp
    np.testing.assert_allclose(s["dyn.margin"], [[2.0 - 1.0, 0.0 - 3.0], [0.0 - 1.0, 0.0]])
    p70 = e(2) / (e(2) + 1 + e(1))
    p31 = 1 / (2 + e(1))
    p71 = 1 / (2 + e(3))
    np.testing.assert_allclose(s["dyn.prob"], [[p70, p71], [p31, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(s["dyn.loss"], [[-np.log(p70), -np.log(p71)], [-np.log(p31), 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(s["dyn.correct"], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(s["dyn.seen"], [[1, 1], [1, 0]])
    el2n_7_0 = np.sqrt((p70 - 1) ** 2 + (1 / (e(2) + 1 + e(1))) ** 2 + (e(1) / (e(2) + 1 + e(1))) ** 2)
    assert s["dyn.el2n"][0, 0] == pytest.approx(el2n_7_0, rel=1e-6)
    assert sorted(p.name for p in (tmp_path / "dynamics" / "epochs").iterdir()) == ["logits_0000.npy", "logits_0001.npy"]
    t = attach_dynamics(Table([3, 7, 9], columns={"label": np.array([2, 0, 1])}), tmp_path)
    assert t.row_id.tolist() == [7, 3] and t.matrix("dyn.margin").shape == (2, 2)


def test_rejects_unknown_rows_and_other_row_sets(tmp_path) -> None:
    rec = TrainingRecorder(tmp_path, row_ids=[1, 2], n_classes=2)
    with pytest.raises(DataError, match="row id 5"):
        rec.log([5], np.zeros((1, 2)), [0])
    with pytest.raises(RunDirError, match="must match"):
        TrainingRecorder(tmp_path, row_ids=[1, 2, 3], n_classes=2)


def test_resume_gives_the_uninterrupted_run(tmp_path) -> None:
    from thresher.evaluate.torch_models import train_classifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    ids = np.arange(1000, 1120)
    full = TrainingRecorder(tmp_path / "a", row_ids=ids, n_classes=2)
    net_a = train_classifier(X, y, epochs=4, batch_size=16, seed=3, recorder=full, row_ids=ids)
    part = TrainingRecorder(tmp_path / "b", row_ids=ids, n_classes=2)
    train_classifier(X, y, epochs=2, batch_size=16, seed=3, recorder=part, row_ids=ids)
    resumed = TrainingRecorder(tmp_path / "b", row_ids=ids, n_classes=2)
    assert resumed.start_epoch == 2
    net_b = train_classifier(X, y, epochs=4, batch_size=16, seed=3, recorder=resumed, row_ids=ids)
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    for e in range(4):
        np.testing.assert_array_equal(full.logits(e), resumed.logits(e))
    assert len(resumed.checkpoint_paths()) == 4 and resumed.meta()["lrs"] == [1e-3] * 4


def test_training_dynamics_signal_on_separable_data() -> None:
    rng = np.random.default_rng(1)
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 4)) + 4 * np.eye(3, 4)[y]
    t = Table(columns={"label": y}, matrices={"embeddings": X})
    res = TrainingDynamics(epochs=3, batch_size=16, lr=1e-2).compute(t, seed=0)
    assert set(res.matrices) >= {"dyn.margin", "dyn.correct", "dyn.prob", "dyn.loss", "dyn.seen"}
    assert res.matrices["dyn.margin"].shape == (90, 3)
    # the recorded logits are the training-step logits: the last epoch is mostly correct
    assert res.matrices["dyn.correct"][:, -1].mean() > 0.9


def test_checkpoint_gradients_signal_feeds_tracin_and_mimic() -> None:
    from thresher.scores.mimic import Mimic
    from thresher.scores.tracin import TracIn
    from thresher.signals.recorder import CheckpointGradients

    rng = np.random.default_rng(2)
    y = np.arange(60) % 3
    X = rng.normal(size=(60, 4)) + 3 * np.eye(3, 4)[y]
    t = Table(columns={"label": y, "flag.target": np.arange(60) < 6}, matrices={"embeddings": X})
    res = CheckpointGradients(epochs=3, batch_size=16, dim=32).compute(t, seed=0)
    G, M = res.matrices["grad.ckpt"], res.matrices["grad.mimic"]
    assert G.shape == (60, 3 * 32) and M.shape == (60, 2) and np.abs(M).max() <= 1 + 1e-9
    assert res.meta["grad.n_checkpoints"] == 3 and res.meta["grad.lrs"] == [1e-3] * 3
    scored = t.with_matrix("grad.ckpt", G).with_matrix("grad.mimic", M)
    scored.meta.update(res.meta)
    tr = TracIn().score(scored)
    # target rows align with their own mean gradient: their TracIn self-scores are mostly positive
    assert (tr[:6] > 0).mean() >= 0.5
    assert Mimic().score(scored).shape == (60,)


def test_pipeline_computes_the_dynamics_signal_a_scorer_needs() -> None:
    from thresher.pipeline import ensure_signals
    from thresher.scores.dynamics import AUM, VoG

    rng = np.random.default_rng(3)
    y = np.arange(90) % 3
    t = Table(columns={"label": y}, matrices={"embeddings": rng.normal(size=(90, 4)) + 3 * np.eye(3, 4)[y]})
    out = ensure_signals(t, set(AUM.requires) | set(VoG.requires), None, seed=0)
    assert out.matrix("dyn.margin").shape == (90, 10) and out.matrix("dyn.vog").shape == (90, 1)
    aum = AUM().score(out)
    # separable blobs: most rows end up with a positive area under the margin
    assert (aum > 0).mean() > 0.6  # a chance-level model would give about 1/3
