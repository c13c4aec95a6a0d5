"""The unbiased pass@k estimator over prompt groups of a candidate table.

Chen et al., "Evaluating Large Language Models Trained on Code" (Codex, 2021): with n
samples per prompt of which c are correct, 1 - C(n - c, k) / C(n, k) is an unbiased
estimate of the probability that at least one of k samples is correct. It is computed as
the product 1 - prod_{i = n - c + 1}^{n} (1 - k / i), which never forms large binomials.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._validation import check_int, fail
from thresher.data.candidates import CORRECT, PROMPT_ID, group_codes
from thresher.data.table import Table
from thresher.metrics.base import BaseMetric, MetricResult

__all__ = ["pass_at_k", "group_correct_counts", "PassAtK"]


def pass_at_k(n: Any, c: Any, k: int) -> np.ndarray:
    """Return the unbiased pass@k estimate for ``n`` samples with ``c`` correct (vectorised).

    Examples
    --------
    >>> round(pass_at_k(10, 3, 1).item(), 6), round(pass_at_k(10, 3, 5).item(), 6)
    (0.3, 0.916667)
    """
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    c = np.atleast_1d(np.asarray(c, dtype=np.int64))
    k = check_int(k, "k", "pass_at_k", low=1)
    if np.any(c < 0) or np.any(c > n):
        raise fail("c", "pass_at_k", "between 0 and n", c)
    if np.any(n < k):
        raise fail("n", "pass_at_k", f"at least k={k} for every prompt", int(n.min()))
    out = np.empty(len(n), dtype=np.float64)
    for j, (nj, cj) in enumerate(zip(n.tolist(), c.tolist())):
        if nj - cj < k:
            out[j] = 1.0
        else:
            out[j] = 1.0 - float(np.prod(1.0 - k / np.arange(nj - cj + 1, nj + 1, dtype=np.float64)))
    return out


def group_correct_counts(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Return (candidates with a known ``correct`` value, correct ones) per prompt group.

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1], ["a", "a", "b"], ["x", "y", "z"], correct=[1, 0, 1])
    >>> [v.tolist() for v in group_correct_counts(t)]
    [[2, 1], [1, 1]]
    """
    codes, n_groups = group_codes(table.column(PROMPT_ID))
    correct = np.asarray(table.column(CORRECT), dtype=np.float64)
    known = ~np.isnan(correct)
    n = np.bincount(codes[known], minlength=n_groups)
    c = np.bincount(codes[known], weights=correct[known], minlength=n_groups).round().astype(np.int64)
    return n, c


@register_metric("pass_at_k")
class PassAtK(BaseMetric):
    """Compute the mean unbiased pass@k over the prompts of a candidate table (Chen et al., 2021).

    Needs ``prompt_id`` and ``correct``. Prompts with fewer than ``k`` judged candidates
    raise an error (pass@k is not defined for them).

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a", "a", "b", "b"], ["w", "x", "y", "z"], correct=[1, 0, 0, 0])
    >>> PassAtK(k=1).compute(t).value
    0.25
    """

    name = "pass_at_k"
    requires = frozenset({PROMPT_ID, CORRECT})

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        k = check_int(self.k, "k", type(self).__name__, low=1)
        n, c = group_correct_counts(table)
        if np.any(n < k):
            raise fail("k", type(self).__name__, f"at most the smallest number of judged candidates of a prompt "
                       f"({int(n.min())})", k)
        per = pass_at_k(n, c, k)
        return MetricResult(self.name, float(per.mean()), {"k": k},
                            {"n_prompts": int(len(n)), "std_over_prompts": float(per.std(ddof=0))})

    @classmethod
    def conformance_table(cls) -> Table:
        from thresher.select.candidates import example_candidate_table

        return example_candidate_table()
