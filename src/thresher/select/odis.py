"""ODiS: select the top rows of each decorrelated (PCA) direction of several scores.

"Learning from the best, differently: a diversity-driven rethinking on data selection"
(ODiS, 2025). Quality scores are strongly correlated, so ranking by their sum keeps rows
that are good along one dominant direction only. ODiS orthogonalises them first: the
oriented, z-scored score columns (see :mod:`thresher.select.score_matrix`) are projected
on their principal components (scikit-learn ``PCA``), and the budget is spread over the
components, each taking its own top rows.

Details fixed here (the paper leaves them open): a component's sign is chosen so that
its loadings sum to a non-negative number (it points towards "better" on average; a sum
within 1e-9 of zero, as for the contrast component of two columns, goes to the sign that
makes the first non-zero loading positive); the budget is split over
components equally (``share="equal"``) or in proportion to their explained variance
(``share="variance"``) by largest remainder; components then take turns, each adding its
highest not-yet-taken row until its quota is met, so the union is exactly the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_int
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget
from thresher.select.cluster import allocate
from thresher.select.score_matrix import example_score_table, oriented_scores, standardise

__all__ = ["ODiS", "decorrelate", "Decorrelated"]


@dataclass(frozen=True)
class Decorrelated:
    """Principal-component scores of the standardised score matrix."""

    components: np.ndarray  # (n_rows, n_components) projections, uncorrelated
    loadings: np.ndarray  # (n_components, n_columns), sign-fixed
    explained_variance_ratio: np.ndarray  # (n_components,)


def decorrelate(Z: np.ndarray, n_components: int | None = None) -> Decorrelated:
    """Project standardised scores ``Z`` on their principal components (signs fixed, see the module notes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=200)
    >>> Z = np.column_stack([a, a + 0.1 * rng.normal(size=200), rng.normal(size=200)])
    >>> dec = decorrelate(Z)
    >>> C = np.corrcoef(dec.components, rowvar=False)
    >>> bool(np.abs(C - np.eye(3)).max() < 1e-8), bool(dec.loadings[0].sum() >= 0)
    (True, True)
    """
    from sklearn.decomposition import PCA

    n, d = Z.shape
    p = min(n, d) if n_components is None else min(n_components, n, d)
    pca = PCA(n_components=p, svd_solver="full").fit(Z)
    L = np.asarray(pca.components_, dtype=np.float64)
    for i in range(p):
        s = L[i].sum()
        if abs(s) < 1e-9:  # e.g. the contrast component of two columns: first non-zero loading positive
            s = L[i][np.flatnonzero(np.abs(L[i]) > 1e-9)[0]]
        if s < 0:
            L[i] = -L[i]
    comps = (Z - pca.mean_) @ L.T
    return Decorrelated(comps, L, np.asarray(pca.explained_variance_ratio_, dtype=np.float64))


@register_selector("odis")
class ODiS(BaseSelector):
    """Spread the budget over the principal components of several scores, top rows of each (ODiS).

    Parameters
    ----------
    by
        The ``score.`` columns (at least two).
    higher_is_better
        One boolean per column; ``None`` looks each up in the scorer registry.
    n_components
        Components used (``None``: all, i.e. ``len(by)``).
    share
        ``"equal"`` quotas per component, or ``"variance"`` (proportional to explained variance).

    Examples
    --------
    >>> t = Table(columns={"score.a": np.array([3.0, 2.0, 1.0, 0.0, 1.5, 0.5]),
    ...                    "score.b": np.array([0.0, 1.0, 3.0, 2.0, 1.5, 0.5])})
    >>> sel = ODiS(by=["score.a", "score.b"], higher_is_better=[True, True]).select(t, Budget(n=2))
    >>> sel.row_ids.tolist()  # a, b anti-correlated: the top of a - b (row 0), then of a + b (row 2)
    [0, 2]
    """

    name = "odis"

    def __init__(
        self,
        by: Sequence[str] = (),
        higher_is_better: Sequence[bool] | None = None,
        n_components: int | None = None,
        share: str = "equal",
    ) -> None:
        self.by = tuple(by) if not isinstance(by, str) else (by,)
        self.higher_is_better = None if higher_is_better is None else tuple(higher_is_better)
        self.n_components = n_components
        self.share = share

    def required_columns(self) -> frozenset[str]:
        return frozenset(self.by)

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        check_choice(self.share, "share", owner, ("equal", "variance"))
        if self.n_components is not None:
            check_int(self.n_components, "n_components", owner, low=1)
        Z = standardise(oriented_scores(table, self.by, self.higher_is_better, owner, min_columns=2))
        dec = decorrelate(Z, self.n_components)
        p = dec.components.shape[1]
        n = table.n_rows
        w = np.ones(p) if self.share == "equal" else dec.explained_variance_ratio
        quota = allocate(np.full(p, n), np.maximum(w, 0.0), k)
        orders = [np.argsort(-dec.components[:, c], kind="stable") for c in range(p)]
        cursor = np.zeros(p, dtype=np.int64)
        taken = np.zeros(n, dtype=bool)
        pos: list[int] = []
        gains: list[float] = []
        got = np.zeros(p, dtype=np.int64)
        while len(pos) < k:
            for c in range(p):
                if got[c] >= quota[c]:
                    continue
                while taken[orders[c][cursor[c]]]:
                    cursor[c] += 1
                r = int(orders[c][cursor[c]])
                taken[r] = True
                pos.append(r)
                gains.append(float(dec.components[r, c]))
                got[c] += 1
                if len(pos) == k:
                    break
        return np.asarray(pos, dtype=np.int64), np.asarray(gains), None

    @classmethod
    def make_example(cls) -> ODiS:
        return cls(by=("score.margin", "score.knn_distance", "score.example"), higher_is_better=(True, False, True))

    @classmethod
    def conformance_table(cls) -> Table:
        return example_score_table()
