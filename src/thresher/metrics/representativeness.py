"""How well a selected subset stands for the data it came from.

For a :class:`~thresher.select.Selection` of a table, :func:`representativeness` reports,
in one :class:`~thresher.metrics.MetricResult` (value = coverage):

* ``coverage``, ``density``, ``precision``, ``recall`` of the subset against the full
  set (Naeem et al. 2020; :func:`thresher.metrics.coverage.prdc`): coverage is the share
  of all rows whose k-NN ball holds a selected row;
* ``vendi_ratio``: Vendi score (cosine kernel, order 1) of the subset over that of the
  full set (:func:`thresher.metrics.vendi.vendi`);
* ``class_proportions`` / ``group_proportions`` of subset and full set and their total
  variation distance (when the table has ``label`` / ``group``);
* ``drift_p_value``: the kNN two-sample test (:func:`thresher.metrics.drift.knn_two_sample_test`)
  of the subset against the rows left out (not the full set, which contains the subset
  and would break the test's independence), each side subsampled to ``max_test_rows``.

:func:`store_representativeness` computes it for every selection stored in a run
directory and writes it with ``RunDir.write_metric`` under ``representativeness/<key>``,
which is where the report section reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._typing import Seed, as_generator
from thresher._validation import check_int
from thresher.data.table import Table
from thresher.errors import EmptyTableError
from thresher.metrics.base import BaseMetric, MetricResult
from thresher.metrics.coverage import prdc
from thresher.metrics.vendi import vendi
from thresher.metrics.drift import knn_two_sample_test

__all__ = ["representativeness", "subset_representativeness", "Representativeness", "store_representativeness", "KEY_PREFIX"]

KEY_PREFIX = "representativeness/"
_NAME = "representativeness"


def _proportions(values: np.ndarray) -> dict[str, float]:
    keys, counts = np.unique(np.asarray(values).astype(str), return_counts=True)
    return {str(k): float(c) / float(len(values)) for k, c in zip(keys, counts)}


def _tv(p: dict[str, float], q: dict[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def subset_representativeness(
    full: Table,
    subset: Table,
    *,
    k: int = 5,
    n_permutations: int = 200,
    max_test_rows: int = 2000,
    seed: Seed = None,
    params: dict[str, Any] | None = None,
) -> MetricResult:
    """Summarise how well ``subset`` (rows of ``full``, matched by ``row_id``) represents ``full``.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.arange(40) % 2}, matrices={"embeddings": np.random.default_rng(0).normal(size=(40, 3))})
    >>> r = subset_representativeness(t, t.take(np.arange(0, 40, 2)), k=3, n_permutations=19, seed=0)
    >>> r.details["class_tv"], 0 < r.value <= 1
    (0.5, True)
    """
    owner = "representativeness"
    check_int(k, "k", owner, low=1)
    check_int(max_test_rows, "max_test_rows", owner, low=2)
    full.check_not_empty(owner)
    if subset.n_rows < 2:
        raise EmptyTableError(f"`selection` of {owner} must keep at least 2 rows; got {subset.n_rows}.")
    rng = as_generator(seed)
    Xf, Xs = full.embeddings, subset.embeddings
    kk = min(k, subset.n_rows - 1, full.n_rows - 1)
    r = prdc(Xf, Xs, kk, probabilistic=False)
    v_full = vendi(Xf, 1.0).value
    v_sub = vendi(Xs, 1.0).value
    details: dict[str, Any] = {
        "n_full": full.n_rows,
        "n_subset": subset.n_rows,
        "fraction": subset.n_rows / full.n_rows,
        "coverage": r.coverage,
        "density": r.density,
        "precision": r.precision,
        "recall": r.recall,
        "vendi_subset": v_sub,
        "vendi_full": v_full,
        "vendi_ratio": v_sub / v_full,
    }
    for col, key in (("label", "class"), ("group", "group")):
        if full.has(col) and subset.has(col):
            pf, ps = _proportions(full.column(col)), _proportions(subset.column(col))
            details[f"{key}_proportions_full"] = pf
            details[f"{key}_proportions_subset"] = ps
            details[f"{key}_tv"] = _tv(ps, pf)
    in_subset = np.isin(full.row_id, subset.row_id)
    rest = Xf[~in_subset]
    details["drift_p_value"] = None
    if len(rest) >= 2:
        a = Xs if len(Xs) <= max_test_rows else Xs[rng.choice(len(Xs), max_test_rows, replace=False)]
        b = rest if len(rest) <= max_test_rows else rest[rng.choice(len(rest), max_test_rows, replace=False)]
        t = knn_two_sample_test(a, b, min(kk, len(a) + len(b) - 1), n_permutations=n_permutations, seed=rng)
        details["drift_p_value"] = t.p_value
        details["drift_statistic"] = t.statistic
    p = {"k": k, "n_permutations": n_permutations, "max_test_rows": max_test_rows, **(params or {})}
    return MetricResult(_NAME, float(r.coverage), p, details)


def representativeness(table: Table, selection: Any, *, k: int = 5, n_permutations: int = 200, seed: Seed = None) -> MetricResult:
    """Summarise how well the rows of ``selection`` (a :class:`~thresher.select.Selection`) represent ``table``.

    The value is the coverage; ``details`` holds coverage, density, precision, recall,
    the Vendi ratio, class/group proportions and the drift test's p-value.

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.select.base import Budget, Selection
    >>> t = Table(matrices={"embeddings": np.random.default_rng(0).normal(size=(30, 2))})
    >>> sel = Selection(np.arange(30), "all", Budget(fraction=1.0), 0)
    >>> r = representativeness(t, sel, k=3)
    >>> r.value, round(r.details["vendi_ratio"], 12), r.details["drift_p_value"]
    (1.0, 1.0, None)
    """
    subset = table.subset(selection.row_ids)
    params = {"selector": selection.selector, "budget": selection.budget.to_dict(), "seed": selection.seed}
    return subset_representativeness(table, subset, k=k, n_permutations=n_permutations, seed=seed, params=params)


@register_metric("representativeness")
class Representativeness(BaseMetric):
    """Measure how well the set represents the reference: coverage (value), density, Vendi ratio, proportions, drift p."""

    name = _NAME
    requires = frozenset({"embeddings"})
    needs_reference = True

    def __init__(self, k: int = 5, n_permutations: int = 200, max_test_rows: int = 2000) -> None:
        self.k = k
        self.n_permutations = n_permutations
        self.max_test_rows = max_test_rows

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        assert reference is not None
        return subset_representativeness(
            reference, table, k=self.k, n_permutations=self.n_permutations, max_test_rows=self.max_test_rows, seed=rng
        )

    @classmethod
    def make_example(cls) -> BaseMetric:
        return cls(k=3, n_permutations=50)


def store_representativeness(
    run: Any, *, keys: list[str] | None = None, k: int = 5, n_permutations: int = 200, seed: Seed = 0, force: bool = False
) -> dict[str, MetricResult]:
    """Compute representativeness for stored selections of ``run`` and write them as metrics.

    Each result is written with ``run.write_metric(f"representativeness/{key}", result)``
    (``key`` = the selection key); existing ones are kept unless ``force``. Returns the
    results computed now.
    """
    table = run.read_table(with_scores=False)
    if table.has("split"):
        table = table.take(np.flatnonzero(np.asarray(table.column("split")).astype(str) != "test"))
    out: dict[str, MetricResult] = {}
    for key in keys if keys is not None else run.selection_keys():
        mkey = KEY_PREFIX + key
        if run.has_metric(mkey) and not force:
            continue
        sel = run.read_selection(key)
        res = representativeness(table, sel, k=k, n_permutations=n_permutations, seed=seed)
        run.write_metric(mkey, res)
        out[key] = res
    return out
