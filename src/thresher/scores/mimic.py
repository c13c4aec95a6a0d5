"""The mimic score: does a gradient step on the row move the weights toward a reference model's?

"Evaluating Sample Utility for Data Selection by Mimicking Model Weights" (Jha et al.,
2025). Reads ``grad.mimic`` (n, n_checkpoints) made by
:func:`thresher.signals.checkpoint_grads.mimic_alignment`.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher.data.table import Table
from thresher.scores.base import BaseScorer
from thresher.scores.target_set import grad_conformance_table

__all__ = ["Mimic"]


@register_scorer("mimic")
class Mimic(BaseScorer):
    """Mimic score: mean over checkpoints of cos(-gradient, direction to the reference weights).

    "Evaluating Sample Utility for Data Selection by Mimicking Model Weights" (Jha et
    al., 2025). Reads ``grad.mimic`` (n, n_checkpoints) from :func:`mimic_alignment`.

    Examples
    --------
    >>> t = Table(matrices={"grad.mimic": np.array([[0.5, 0.1], [-0.2, 0.0]])})
    >>> Mimic().score(t).round(6).tolist()
    [0.3, -0.1]
    """

    name = "mimic"
    higher_is_better = True
    requires = frozenset({"grad.mimic"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(np.asarray(table.matrix("grad.mimic"), dtype=np.float64).mean(axis=1))

    @classmethod
    def conformance_table(cls) -> Table:
        return grad_conformance_table()

