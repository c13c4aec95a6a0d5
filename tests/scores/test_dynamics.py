"""Dynamics scores against hand-computed values and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.scores.dynamics import (
    AUM,
    EL2N,
    DataMapConfidence,
    DataMapCorrectness,
    DataMapVariability,
    Forgetting,
    GraNd,
    MeanLoss,
    VoG,
    forgetting_counts,
)


def _softmax(Z):
    Z = Z - Z.max(axis=-1, keepdims=True)
    return np.exp(Z) / np.exp(Z).sum(axis=-1, keepdims=True)


def test_el2n_from_hand_logits_matches_closed_form(tmp_path) -> None:
    pytest.importorskip("torch")
    from thresher.signals.recorder import TrainingRecorder, dynamics_signals

    # two seeds' early-epoch logits for 2 rows with labels [1, 0]
    L = [np.array([[0.0, np.log(3.0)], [0.0, 0.0]]), np.array([[0.0, 0.0], [np.log(3.0), 0.0]])]
    y = np.array([1, 0])
    cols = []
    for s, z in enumerate(L):
        rec = TrainingRecorder(tmp_path, row_ids=[0, 1], n_classes=2, subdir=f"seed{s}")
        rec.log([0, 1], z, y)
        rec.checkpoint()
        cols.append(dynamics_signals(tmp_path, subdir=f"seed{s}")["dyn.el2n"][:, 0])
    # softmax([0, log 3]) = [1/4, 3/4]: error vector for label 1 is [1/4, -1/4] -> sqrt(2)/4
    # softmax([0, 0]) = [1/2, 1/2]: error sqrt(2)/2
    expected = np.array([(np.sqrt(2) / 4 + np.sqrt(2) / 2) / 2, (np.sqrt(2) / 2 + np.sqrt(2) / 4) / 2])
    t = Table(columns={"label": y}, matrices={"diet.el2n": np.column_stack(cols)})
    np.testing.assert_allclose(EL2N().score(t), expected, rtol=1e-6)


@pytest.mark.torch
def test_grand_signal_on_a_linear_model_matches_closed_form() -> None:
    torch = pytest.importorskip("torch")
    from thresher.signals.gradients import per_example_grad_norms

    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]))
        lin.bias.copy_(torch.tensor([0.0, 1.0]))
    X = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([0, 1])
    P = _softmax(X @ np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]).T + [0.0, 1.0])
    R = P - np.eye(2)[y]
    closed = np.linalg.norm(R, axis=1) * np.sqrt((X**2).sum(axis=1) + 1)
    norms = per_example_grad_norms(lin, X, y)
    np.testing.assert_allclose(norms, closed, rtol=1e-6)
    t = Table(matrices={"diet.grand": np.column_stack([norms, 3 * norms])})
    np.testing.assert_allclose(GraNd().score(t), 2 * closed, rtol=1e-6)


def test_forgetting_hand_counted() -> None:
    C = np.array(
        [
            [1, 0, 1, 0, 1, 0],  # 3 forgetting events
            [0, 0, 1, 1, 1, 1],  # learned once, never forgotten
            [0, 0, 0, 0, 0, 0],  # never learned -> n_epochs
            [1, 1, 1, 1, 1, 0],  # forgotten at the end
        ],
        dtype=float,
    )
    assert forgetting_counts(C).tolist() == [3.0, 0.0, 6.0, 1.0]
    # an unrecorded epoch (RS2) is skipped: 1, (gap), 1, 0 -> one event; 1, (gap), 0 -> one
    seen = np.ones_like(C)
    seen[0, 1] = 0  # row 0 becomes 1, -, 1, 0, 1, 0 -> 2 events
    seen[1, 2:4] = 0  # row 1 becomes 0, 0, -, -, 1, 1 -> 0
    t = Table(matrices={"dyn.correct": C, "dyn.seen": seen})
    assert Forgetting().score(t).tolist() == [2.0, 0.0, 6.0, 1.0]


def test_aum_from_hand_written_logit_sequences() -> None:
    # 3 classes, label 0; per epoch the margin is z_0 - max(z_1, z_2)
    Z = np.array([[[1.0, 2.0, 0.0], [2.0, 1.0, 1.5], [3.0, 0.0, 0.0]]])  # margins -1, 0.5, 3
    margins = Z[:, :, 0] - Z[:, :, 1:].max(axis=2)
    np.testing.assert_allclose(margins, [[-1.0, 0.5, 3.0]])
    t = Table(matrices={"dyn.margin": np.vstack([margins, [[-2.0, -2.0, -0.5]]])})
    np.testing.assert_allclose(AUM().score(t), [2.5 / 3, -1.5])


def test_data_maps_and_mean_loss() -> None:
    P = np.array([[0.1, 0.5, 0.9], [0.8, 0.8, 0.8]])
    C = np.array([[0, 1, 1], [1, 1, 1]], dtype=float)
    Lo = -np.log(P)
    t = Table(matrices={"dyn.prob": P, "dyn.correct": C, "dyn.loss": Lo})
    np.testing.assert_allclose(DataMapConfidence().score(t), [0.5, 0.8])
    np.testing.assert_allclose(DataMapVariability().score(t), [np.sqrt(((0.4**2) * 2) / 3), 0.0], atol=1e-12)
    np.testing.assert_allclose(DataMapCorrectness().score(t), [2 / 3, 1.0])
    np.testing.assert_allclose(MeanLoss().score(t), Lo.mean(axis=1))


def test_vog_class_normalisation() -> None:
    v = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 40.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    t = Table(columns={"label": y}, matrices={"dyn.vog": v[:, None]})
    s = VoG().score(t)
    sd0 = np.std([1.0, 2.0, 3.0])
    sd1 = np.std([10.0, 10.0, 40.0])
    np.testing.assert_allclose(s, [-1 / sd0, 0.0, 1 / sd0, -10 / sd1, -10 / sd1, 20 / sd1])


def test_row_never_recorded_is_an_error() -> None:
    from thresher.errors import DataError

    t = Table(matrices={"dyn.margin": np.ones((2, 2)), "dyn.seen": np.array([[1, 1], [0, 0]])})
    with pytest.raises(DataError, match="never recorded"):
        AUM().score(t)


@pytest.mark.torch
def test_data_diet_signal_shapes_and_ranges() -> None:
    pytest.importorskip("torch")
    from thresher.signals.data_diet import DataDiet

    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    t = Table(columns={"label": y}, matrices={"embeddings": rng.normal(size=(60, 4)) + 3 * np.eye(3, 4)[y]})
    res = DataDiet(n_seeds=2, epochs=1).compute(t, seed=0)
    el2n, grand = res.matrices["diet.el2n"], res.matrices["diet.grand"]
    assert el2n.shape == grand.shape == (60, 2)
    assert (el2n >= 0).all() and (el2n <= np.sqrt(2) + 1e-9).all() and (grand > 0).all()
    # different seeds give different runs
    assert not np.allclose(el2n[:, 0], el2n[:, 1])
