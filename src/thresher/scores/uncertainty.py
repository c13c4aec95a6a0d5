"""Uncertainty scores from out-of-fold predicted probabilities.

All three read the ``probs`` matrix (see :func:`thresher.signals.out_of_fold_probs`);
self-confidence and margin also read the labels. They are the label-quality scores of
confident learning (Northcutt et al., "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021) and the classic uncertainty-sampling scores (Settles 2009).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher.data.table import Table
from thresher.scores.base import BaseScorer
from thresher.signals.oof import label_codes

__all__ = ["SelfConfidence", "Margin", "Entropy"]


@register_scorer("self_confidence")
class SelfConfidence(BaseScorer):
    """Score each row by the predicted probability of its given label (label quality).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 1])}, matrices={"probs": np.array([[0.9, 0.1], [0.8, 0.2]])})
    >>> SelfConfidence().score(t).tolist()
    [0.9, 0.2]
    """

    name = "self_confidence"
    higher_is_better = True
    requires = frozenset({"label", "probs"})
    rowwise = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        P = table.probs
        codes, _ = label_codes(table, type(self).__name__)
        return P[np.arange(len(codes)), codes]


@register_scorer("margin")
class Margin(BaseScorer):
    """Score each row by the normalized margin: p(given label) minus the largest other probability.

    Ranges over [-1, 1]; negative means the model prefers another class (a likely label issue).

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.array([0, 1])}, matrices={"probs": np.array([[0.7, 0.3], [0.6, 0.4]])})
    >>> np.round(Margin().score(t), 6).tolist()
    [0.4, -0.2]
    """

    name = "margin"
    higher_is_better = True
    requires = frozenset({"label", "probs"})
    rowwise = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        P = table.probs
        codes, _ = label_codes(table, type(self).__name__)
        rows = np.arange(len(codes))
        given = P[rows, codes]
        others = P.copy()
        others[rows, codes] = -np.inf
        return given - others.max(axis=1)


@register_scorer("entropy")
class Entropy(BaseScorer):
    """Score each row by the Shannon entropy (nats) of its predicted class distribution.

    High entropy means the model is unsure; labels are not used.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(matrices={"probs": np.array([[0.5, 0.5], [1.0, 0.0]])})
    >>> np.round(Entropy().score(t), 6).tolist()
    [0.693147, 0.0]
    """

    name = "entropy"
    higher_is_better = True
    requires = frozenset({"probs"})
    rowwise = True

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        P = table.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(P > 0, P * np.log(P), 0.0)
        return 0.0 - terms.sum(axis=1)  # 0.0 - x turns -0.0 into 0.0
