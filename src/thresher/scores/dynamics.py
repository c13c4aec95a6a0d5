"""Training-dynamics scores: EL2N, GraNd, forgetting, AUM, data maps, VoG, mean loss.

These scores summarise how a model learned each example. They read per-row matrices
attached to the table, so the scorer itself never trains anything:

* ``dyn.margin``, ``dyn.prob``, ``dyn.correct``, ``dyn.loss`` (n, n_epochs): one column
  per recorded epoch, from :class:`~thresher.signals.recorder.TrainingRecorder` via
  :func:`~thresher.signals.recorder.attach_dynamics` or the ``"dynamics"`` signal.
  Tables hold finite values only, so an optional ``dyn.seen`` matrix (1 = recorded,
  0 = the row was not trained on in that epoch, e.g. under RS2) masks epochs out.
* ``diet.el2n``, ``diet.grand`` (n, n_seeds): EL2N / GraNd of independent short runs
  at an early epoch, from :func:`~thresher.signals.gradients.data_diet_signals` (the
  ``"data_diet"`` signal).
* ``dyn.vog`` (n, 1): the raw variance of input gradients across checkpoints, from
  :func:`~thresher.signals.gradients.gradient_variance`.

"Higher is better" means "more worth keeping"; for scores of difficulty (EL2N, GraNd,
forgetting, VoG, loss) the hard examples are the ones worth keeping, as in the papers'
pruning experiments. AUM and data-map confidence are mislabel detectors: a low value
flags a likely label error, so higher is better there.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher._registry import register_scorer
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.scores.base import BaseScorer

__all__ = [
    "EL2N",
    "GraNd",
    "Forgetting",
    "AUM",
    "DataMapConfidence",
    "DataMapVariability",
    "DataMapCorrectness",
    "VoG",
    "MeanLoss",
    "forgetting_counts",
    "recorded",
    "synthetic_dynamics_table",
]


def recorded(table: Table, name: str) -> np.ndarray:
    """Return matrix ``name`` as float64 with NaN where ``dyn.seen`` (when present) is 0."""
    M = np.array(table.matrix(name), dtype=np.float64)
    if table.has("dyn.seen") and name.startswith("dyn."):
        seen = np.asarray(table.matrix("dyn.seen"))
        if seen.shape != M.shape:
            raise DataError(f"matrix 'dyn.seen' must have the shape of {name!r} {M.shape}; got {seen.shape}.")
        M[seen == 0] = np.nan
    return M


def _nanmean_rows(M: np.ndarray, owner: str, name: str) -> np.ndarray:
    seen = np.isfinite(M).any(axis=1)
    if not seen.all():
        raise DataError(f"matrix {name!r} of {owner} must have a value in some epoch for every row; "
                        f"got {int((~seen).sum())} rows never recorded.")
    return np.asarray(np.nanmean(M, axis=1), dtype=np.float64)


class _MatrixMeanScorer(BaseScorer):
    """Average one recorded matrix over its columns (epochs or seeds)."""

    matrix_name: ClassVar[str] = ""

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return _nanmean_rows(recorded(table, self.matrix_name), type(self).__name__, self.matrix_name)

    @classmethod
    def conformance_table(cls) -> Table:
        return _conformance_table()


@register_scorer("el2n")
class EL2N(_MatrixMeanScorer):
    """Error L2-norm ||softmax(f(x)) - onehot(y)||, averaged over seeds at an early epoch.

    Paul, Ganguli and Dziugaite, "Deep Learning on a Data Diet: Finding Important
    Examples Early in Training" (NeurIPS 2021). Reads ``diet.el2n`` (n, n_seeds). Hard
    examples score high and are the ones kept in the paper's pruning.

    Examples
    --------
    >>> t = Table(columns={"label": np.array([0, 1])}, matrices={"diet.el2n": np.array([[0.1, 0.3], [1.0, 1.2]])})
    >>> EL2N().score(t).tolist()
    [0.2, 1.1]
    """

    name = "el2n"
    higher_is_better = True
    requires = frozenset({"diet.el2n"})
    rowwise = True
    matrix_name = "diet.el2n"


@register_scorer("grand")
class GraNd(_MatrixMeanScorer):
    """Gradient norm ||grad_w loss(x, y)||, averaged over seeds at an early epoch (GraNd).

    Paul, Ganguli and Dziugaite, "Deep Learning on a Data Diet" (NeurIPS 2021). Reads
    ``diet.grand`` (n, n_seeds), computed with per-example gradients
    (:func:`~thresher.signals.gradients.per_example_grad_norms`).

    Examples
    --------
    >>> t = Table(columns={"label": np.array([0, 1])}, matrices={"diet.grand": np.array([[2.0, 4.0], [1.0, 1.0]])})
    >>> GraNd().score(t).tolist()
    [3.0, 1.0]
    """

    name = "grand"
    higher_is_better = True
    requires = frozenset({"diet.grand"})
    rowwise = True
    matrix_name = "diet.grand"


def forgetting_counts(correct: np.ndarray) -> np.ndarray:
    """Count forgetting events (correct at one recorded epoch, wrong at the next) per row.

    Epochs with NaN (row not trained on) are skipped: transitions are counted between
    consecutive *recorded* epochs. Rows never classified correctly are "never learned"
    and get ``n_epochs`` (more than any row can forget: at most n_epochs / 2), following
    Toneva et al., who treat them as forgotten infinitely often.

    Examples
    --------
    >>> forgetting_counts(np.array([[1, 0, 1, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=float)).tolist()
    [2.0, 0.0, 5.0]
    """
    C = np.asarray(correct, dtype=np.float64)
    n, E = C.shape
    counts = np.zeros(n)
    last = np.full(n, np.nan)
    ever = np.zeros(n, dtype=bool)
    for e in range(E):
        c = C[:, e]
        obs = np.isfinite(c)
        forgot = obs & (last == 1.0) & (c == 0.0)
        counts += forgot
        ever |= obs & (c == 1.0)
        last = np.where(obs, c, last)
    return np.where(ever, counts, float(E))


@register_scorer("forgetting")
class Forgetting(BaseScorer):
    """Number of forgetting events during training (never-learned rows count as the most).

    Toneva et al., "An Empirical Study of Example Forgetting during Deep Neural Network
    Learning" (ICLR 2019). Reads ``dyn.correct`` (n, n_epochs): whether the row was
    classified correctly when it was trained on in each epoch. Unforgettable rows (0)
    are the ones the paper prunes first.

    Examples
    --------
    >>> t = Table(matrices={"dyn.correct": np.array([[1.0, 0, 1, 0], [1, 1, 1, 1]])})
    >>> Forgetting().score(t).tolist()
    [2.0, 0.0]
    """

    name = "forgetting"
    higher_is_better = True
    requires = frozenset({"dyn.correct"})
    rowwise = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return forgetting_counts(recorded(table, "dyn.correct"))

    @classmethod
    def conformance_table(cls) -> Table:
        return _conformance_table()


@register_scorer("aum")
class AUM(_MatrixMeanScorer):
    """Area under the margin: mean over epochs of (assigned logit - largest other logit).

    Pleiss et al., "Identifying Mislabeled Data using the Area Under the Margin Ranking"
    (NeurIPS 2020). Reads ``dyn.margin`` (n, n_epochs). Mislabeled rows have negative
    AUM, so higher is better; for difficulty-based pruning keep the *lowest* values
    (``TopK(by="score.aum", largest=False)``).

    Examples
    --------
    >>> seen = np.array([[1, 1, 1], [1, 1, 0]])  # row 2 was not trained on in epoch 3
    >>> t = Table(matrices={"dyn.margin": np.array([[-1.0, 0.5, 2.0], [-2.0, -1.0, 0.0]]), "dyn.seen": seen})
    >>> AUM().score(t).tolist()
    [0.5, -1.5]
    """

    name = "aum"
    higher_is_better = True
    requires = frozenset({"dyn.margin"})
    rowwise = True
    matrix_name = "dyn.margin"


@register_scorer("datamap_confidence")
class DataMapConfidence(_MatrixMeanScorer):
    """Data-map confidence: mean probability of the assigned label across epochs.

    Swayamdipta et al., "Dataset Cartography: Mapping and Diagnosing Datasets with
    Training Dynamics" (EMNLP 2020). Reads ``dyn.prob``. Low confidence marks
    hard-to-learn rows, often mislabeled.

    Examples
    --------
    >>> t = Table(matrices={"dyn.prob": np.array([[0.2, 0.4], [0.9, 0.9]])})
    >>> DataMapConfidence().score(t).round(6).tolist()
    [0.3, 0.9]
    """

    name = "datamap_confidence"
    higher_is_better = True
    requires = frozenset({"dyn.prob"})
    rowwise = True
    matrix_name = "dyn.prob"


@register_scorer("datamap_variability")
class DataMapVariability(BaseScorer):
    """Data-map variability: standard deviation of the assigned-label probability across epochs.

    Swayamdipta et al., "Dataset Cartography" (EMNLP 2020): ambiguous (high-variability)
    rows help generalisation most. Population standard deviation over recorded epochs,
    as in the paper's code. Reads ``dyn.prob``.

    Examples
    --------
    >>> t = Table(matrices={"dyn.prob": np.array([[0.2, 0.4], [0.9, 0.9]])})
    >>> DataMapVariability().score(t).round(6).tolist()
    [0.1, 0.0]
    """

    name = "datamap_variability"
    higher_is_better = True
    requires = frozenset({"dyn.prob"})
    rowwise = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        P = recorded(table, "dyn.prob")
        _nanmean_rows(P, type(self).__name__, "dyn.prob")
        return np.asarray(np.nanstd(P, axis=1), dtype=np.float64)

    @classmethod
    def conformance_table(cls) -> Table:
        return _conformance_table()


@register_scorer("datamap_correctness")
class DataMapCorrectness(_MatrixMeanScorer):
    """Data-map correctness: fraction of epochs in which the row was classified correctly.

    Swayamdipta et al., "Dataset Cartography" (EMNLP 2020). Reads ``dyn.correct``.

    Examples
    --------
    >>> t = Table(matrices={"dyn.correct": np.array([[0.0, 1, 1, 1]])})
    >>> DataMapCorrectness().score(t).tolist()
    [0.75]
    """

    name = "datamap_correctness"
    higher_is_better = True
    requires = frozenset({"dyn.correct"})
    rowwise = True
    matrix_name = "dyn.correct"


@register_scorer("mean_loss")
class MeanLoss(_MatrixMeanScorer):
    """Mean training cross-entropy of the row across recorded epochs (a difficulty score).

    The loss-based difficulty used as a baseline throughout the pruning literature
    (e.g. Jiang et al., "Characterizing Structural Regularities of Labeled Data in
    Overparameterized Models", ICML 2021, use cumulative training loss as a proxy for
    consistency). Reads ``dyn.loss``.

    Examples
    --------
    >>> t = Table(matrices={"dyn.loss": np.array([[2.0, 1.0, 0.0]])})
    >>> MeanLoss().score(t).tolist()
    [1.0]
    """

    name = "mean_loss"
    higher_is_better = True
    requires = frozenset({"dyn.loss"})
    rowwise = True
    matrix_name = "dyn.loss"


@register_scorer("vog")
class VoG(BaseScorer):
    """Variance of gradients, normalised within each class (Agarwal et al.).

    Agarwal, D'souza and Hooker, "Estimating Example Difficulty Using Variance of
    Gradients" (CVPR 2022). ``dyn.vog`` (n, 1) holds the raw VoG: the mean over input
    features of the standard deviation, across checkpoints, of the gradient of the
    true-class logit w.r.t. the input
    (:func:`~thresher.signals.gradients.gradient_variance`). The score is
    ``(vog - mean_c) / std_c`` within the row's class ``c``, as in the paper.

    Examples
    --------
    >>> t = Table(columns={"label": np.array([0, 0, 1, 1])}, matrices={"dyn.vog": np.array([[1.0], [3.0], [5.0], [5.0]])})
    >>> VoG().score(t).tolist()
    [-1.0, 1.0, 0.0, 0.0]
    """

    name = "vog"
    higher_is_better = True
    requires = frozenset({"dyn.vog", "label"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        v = np.asarray(table.matrix("dyn.vog"), dtype=np.float64)[:, 0]
        y = table.labels
        out = np.zeros_like(v)
        for c in np.unique(y):
            m = y == c
            sd = v[m].std()
            out[m] = (v[m] - v[m].mean()) / sd if sd > 0 else 0.0
        return out

    @classmethod
    def conformance_table(cls) -> Table:
        return _conformance_table()


def _conformance_table(n: int = 60, n_epochs: int = 6, seed: int = 0) -> Table:
    """Return a table with consistent synthetic dynamics matrices (for conformance tests)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    Z = rng.normal(size=(n, n_epochs, 3)) + np.linspace(0, 3, n_epochs)[None, :, None] * np.eye(3)[y][:, None, :]
    zt = Z[np.arange(n), :, y]
    other = Z.copy()
    other[np.arange(n), :, y] = -np.inf
    lse = np.log(np.exp(Z).sum(axis=2))
    P = np.exp(Z - lse[..., None])
    onehot = np.eye(3)[y][:, None, :]
    mats = {
        "dyn.margin": zt - other.max(axis=2),
        "dyn.prob": np.exp(zt - lse),
        "dyn.correct": (Z.argmax(axis=2) == y[:, None]).astype(np.float64),
        "dyn.loss": lse - zt,
        "dyn.el2n": np.linalg.norm(P - onehot, axis=2),
        "diet.el2n": np.linalg.norm(P - onehot, axis=2)[:, :3],
        "diet.grand": rng.gamma(2.0, size=(n, 3)),
        "dyn.vog": rng.gamma(2.0, size=(n, 1)),
        "embeddings": rng.normal(size=(n, 5)),
    }
    return Table(np.arange(500, 500 + n, dtype=np.int64), columns={"label": y}, matrices=mats)


synthetic_dynamics_table = _conformance_table  # public name for tests and docs
