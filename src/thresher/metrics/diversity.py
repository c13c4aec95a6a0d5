"""Intra-set diversity: one minus the mean pairwise kernel similarity (Benhenda 2017).

Benhenda, "ChemGAN challenge for drug discovery: can AI reproduce natural chemical
diversity?" (2017), as defined in the Vendi-Score package (``intdiv_K``). The Vendi
score, the other diversity of a set, lives in :mod:`thresher.metrics.vendi`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._validation import check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.metrics.base import BaseMetric, MetricResult
from thresher.metrics.kernels import Kernel, cross_kernel, kernel_name, unit_rows

__all__ = ["intra_set_diversity", "IntraSetDiversity"]


# --------------------------------------------------------------------------- intra-set diversity
def intra_set_diversity(
    X: Any, q: int = 1, *, kernel: Kernel = "cosine", gamma: float | None = None, block: int = 2048
) -> float:
    """Return the intra-set diversity ``1 - mean_ij k(x_i, x_j)^q`` of the rows of ``X``.

    This is the "internal diversity" of Benhenda (2017) as defined in the Vendi-Score
    package (``intdiv_K`` with uniform weights). For linear/cosine kernels and ``q = 1``
    it is ``1 - |mean row|^2`` (O(n d)); otherwise the kernel is summed block by block,
    so memory stays ``block x n``.

    Examples
    --------
    >>> import numpy as np
    >>> intra_set_diversity(np.eye(2)), round(intra_set_diversity(np.ones((3, 2))), 12)
    (0.5, 0.0)
    """
    owner = "intra_set_diversity"
    Xa = check_matrix(X, "X", owner)
    if Xa.shape[0] == 0:
        raise fail("X", owner, "a non-empty array", Xa)
    check_int(q, "q", owner, low=1)
    check_int(block, "block", owner, low=1)
    n = Xa.shape[0]
    if q == 1 and kernel in ("linear", "cosine"):
        F = unit_rows(Xa) if kernel == "cosine" else Xa
        mu = F.mean(axis=0)
        return float(1.0 - mu @ mu)
    total = 0.0
    for s in range(0, n, block):
        total += float(np.sum(cross_kernel(Xa[s : s + block], Xa, kernel, gamma) ** q))
    return float(1.0 - total / (n * n))



@register_metric("intdiv")
class IntraSetDiversity(BaseMetric):
    """Measure intra-set diversity: one minus the mean pairwise kernel similarity (to the power q).

    Examples
    --------
    >>> import numpy as np
    >>> IntraSetDiversity().compute(Table(matrices={"embeddings": np.eye(4)})).value
    0.75
    """

    name = "intdiv"
    requires = frozenset({"embeddings"})

    def __init__(self, q: int = 1, kernel: Kernel = "cosine", gamma: float | None = None) -> None:
        self.q = q
        self.kernel = kernel
        self.gamma = gamma

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        value = intra_set_diversity(table.embeddings, self.q, kernel=self.kernel, gamma=self.gamma)
        return MetricResult(self.name, value, {"q": self.q, "kernel": kernel_name(self.kernel), "gamma": self.gamma}, {"n": table.n_rows})
