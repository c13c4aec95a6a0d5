"""Score fusion: one ``score.fuse`` column from several ``score.`` columns.

Every input column is first oriented by its scorer's ``higher_is_better`` (negated when
lower is better; looked up in the registry by column name, or given explicitly), so the
fused score is always "higher = more worth keeping". Three ways to combine them:

* ``"zscore"``: the mean of the z-scored columns;
* ``"rank"``: the Borda count, the mean over columns of each row's normalised rank
  ``(rank - 1) / (n - 1)`` (average ranks for ties), so it is in [0, 1] and ignores scale;
* ``"learned"``: the Meta-rater weights (Zhuang et al., "Meta-rater: A Multi-dimensional
  Data Selection Method for Pre-training Language Models", ACL 2025). The training rows
  are split into an inner training part and an inner validation part; ``n_proxies``
  proxy models are trained on subsets of the inner training part, each drawn tilted
  towards a random direction of score space so that the subsets' mean score vectors
  spread out; the proxies' validation losses are regressed (least squares) on those
  mean score vectors, and the fused score is ``Z @ w`` with ``w`` the negated slope,
  normalised to unit length (a direction that lowers the loss). A proxy is judged by its
  validation error by default (see ``proxy_metric`` for why not the log-loss). No test row
  is read: the validation rows come from the table being scored.

After scoring, ``weights_`` maps each column to its weight and ``meta_`` records the
method, orientations and (for ``"learned"``) the regression fit; the pipeline stores
``meta_`` in the run manifest.

The PCA-decorrelated variant is the ``odis`` selector (:mod:`thresher.select.odis`) and
the diversity-aware walk over a fused order is ``deita`` (:mod:`thresher.select.deita`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.scores.base import BaseScorer
from thresher.select.score_matrix import example_score_table, orientations_for, oriented_scores, standardise
from thresher.signals.oof import label_codes

__all__ = ["Fuse", "borda", "meta_rater_weights", "MetaRaterFit"]


def borda(V: np.ndarray) -> np.ndarray:
    """Return the Borda score of each row: mean over columns of ``(rank - 1) / (n - 1)``.

    ``V`` is (n_rows, n_columns), every column oriented so larger is better; ties get
    their average rank.

    Examples
    --------
    >>> borda(np.array([[3.0, 0.0], [1.0, 2.0], [2.0, 1.0]])).tolist()
    [0.5, 0.5, 0.5]
    """
    from scipy.stats import rankdata

    n = V.shape[0]
    if n == 1:
        return np.zeros(1)
    R = rankdata(V, method="average", axis=0) - 1.0
    return np.asarray(R.mean(axis=1) / (n - 1))


@dataclass(frozen=True)
class MetaRaterFit:
    """The Meta-rater regression: weights, the raw slope and what it was fitted on."""

    weights: np.ndarray  # (n_columns,) unit-length, minus the slope direction
    coef: np.ndarray  # (n_columns,) least-squares slope of loss on mean scores
    intercept: float
    subset_means: np.ndarray  # (n_proxies, n_columns)
    losses: np.ndarray  # (n_proxies,)
    r2: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "losses": self.losses.tolist(),
            "r2": self.r2,
        }


def meta_rater_weights(
    Z: np.ndarray,
    proxy_loss: Callable[[np.ndarray], float],
    *,
    n_proxies: int = 30,
    subset_size: int,
    tilt: float = 2.0,
    seed: Seed = None,
) -> MetaRaterFit:
    """Fit Meta-rater weights: regress proxy validation losses on subset mean score vectors.

    Subset ``m`` takes the ``subset_size`` rows with the largest ``tilt * Z @ u_m + g``
    (``u_m`` a random unit direction, ``g`` Gumbel noise), so the subsets lean in every
    direction of score space; ``proxy_loss(positions)`` trains a proxy on those rows and
    returns its validation loss.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(500, 3))
    >>> w_true = np.array([0.8, 0.6, 0.0])
    >>> fit = meta_rater_weights(Z, lambda pos: 1.0 - Z[pos].mean(0) @ w_true, subset_size=100, seed=0)
    >>> round(float(fit.weights @ w_true), 6)  # cosine with the true weights
    1.0
    """
    owner = "meta_rater_weights"
    n, d = Z.shape
    check_int(n_proxies, "n_proxies", owner, low=d + 2)
    check_int(subset_size, "subset_size", owner, low=1, high=n)
    check_float(tilt, "tilt", owner, low=0.0)
    rng = as_generator(seed)
    means = np.empty((n_proxies, d))
    losses = np.empty(n_proxies)
    for m in range(n_proxies):
        u: np.ndarray = np.asarray(rng.normal(size=d))
        u = u / np.linalg.norm(u)
        key = tilt * (Z @ u) + rng.gumbel(size=n)
        pos = np.sort(np.argsort(-key, kind="stable")[:subset_size])
        means[m] = Z[pos].mean(axis=0)
        losses[m] = float(proxy_loss(pos))
    A = np.column_stack([np.ones(n_proxies), means])
    beta, *_ = np.linalg.lstsq(A, losses, rcond=None)
    coef = beta[1:]
    norm = float(np.linalg.norm(coef))
    weights = -coef / norm if norm > 0 else np.full(d, 1.0 / np.sqrt(d))
    resid = losses - A @ beta
    ss = float(((losses - losses.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else 0.0
    return MetaRaterFit(weights, coef, float(beta[0]), means, losses, r2)


def _default_proxy() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


@register_scorer("fuse")
class Fuse(BaseScorer):
    """Fuse several oriented score columns into one (z-score mean, Borda rank mean, or Meta-rater weights).

    Parameters
    ----------
    columns
        The ``score.`` columns to fuse (at least one).
    method
        ``"zscore"``, ``"rank"`` (Borda) or ``"learned"`` (Meta-rater; needs ``embeddings``
        and ``label``).
    higher_is_better
        One boolean per column; ``None`` looks each up in the scorer registry by name.
    n_proxies
        Proxy models trained for ``"learned"`` (more than ``len(columns) + 1``).
    proxy_fraction
        Size of each proxy subset, as a fraction of the inner training rows.
    val_fraction
        Fraction of the rows held out as the inner validation split for ``"learned"``.
    estimator
        Proxy classifier for ``"learned"`` (scikit-learn, with ``predict_proba``; cloned);
        ``None`` for scaled logistic regression.
    proxy_metric
        What each proxy is judged by on the inner validation rows: ``"error"`` (1 - accuracy)
        or ``"log_loss"``. The default is the error because the inner validation rows carry
        the same label noise as the training rows, and the log-loss on noisy labels rewards
        the under-confident proxies that noisy subsets produce: on synthetic data with
        quality-dependent label flips the log-loss regression pointed the *wrong way*
        (cosine with the true weights below 0 in 7 of 8 seeds) while the error recovered them
        (cosine 0.956-0.998 in 8 of 8; 30 proxies, ``tests/scores/test_fusion.py``). Use
        ``"log_loss"`` only when the labels are clean.

    Examples
    --------
    >>> t = Table(columns={"score.margin": np.array([0.1, 0.5, 0.9]),
    ...                    "score.knn_distance": np.array([3.0, 1.0, 2.0])})
    >>> Fuse(columns=["score.margin", "score.knn_distance"], method="rank").score(t).tolist()
    [0.0, 0.75, 0.75]
    """

    name = "fuse"
    higher_is_better = True

    def __init__(
        self,
        columns: Sequence[str] = (),
        method: str = "zscore",
        higher_is_better: Sequence[bool] | None = None,
        n_proxies: int = 30,
        proxy_fraction: float = 0.3,
        val_fraction: float = 0.25,
        estimator: Any = None,
        proxy_metric: str = "error",
    ) -> None:
        self.columns = tuple(columns) if not isinstance(columns, str) else (columns,)
        self.method = method
        # stored under another name: the class attribute ``higher_is_better`` is the fused column's
        self.orientations = None if higher_is_better is None else tuple(higher_is_better)
        self.n_proxies = n_proxies
        self.proxy_fraction = proxy_fraction
        self.val_fraction = val_fraction
        self.estimator = estimator
        self.proxy_metric = proxy_metric

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        check_choice(self.method, "method", owner, ("zscore", "rank", "learned"))
        V = oriented_scores(table, self.columns, self.orientations, owner)
        d = V.shape[1]
        meta: dict[str, Any] = {"method": self.method, "columns": list(self.columns)}
        meta["higher_is_better"] = list(orientations_for(self.columns, self.orientations, owner))
        if self.method == "rank":
            out = borda(V)
            weights = np.full(d, 1.0 / d)
        elif self.method == "zscore":
            weights = np.full(d, 1.0 / d)
            out = standardise(V) @ weights
        else:
            fit = self._learn(table, standardise(V), rng)
            weights = fit.weights
            out = standardise(V) @ weights
            meta["meta_rater"] = {**fit.to_dict(), "proxy_metric": self.proxy_metric, "n_proxies": self.n_proxies}
        self.weights_ = {c: float(w) for c, w in zip(self.columns, weights)}
        meta["weights"] = self.weights_
        self.meta_ = meta
        return np.asarray(out, dtype=np.float64)

    def _learn(self, table: Table, Z: np.ndarray, rng: np.random.Generator) -> MetaRaterFit:
        from sklearn.base import clone

        owner = type(self).__name__
        table.require(["embeddings", "label"], owner)
        check_int(self.n_proxies, "n_proxies", owner, low=Z.shape[1] + 2)
        check_float(self.proxy_fraction, "proxy_fraction", owner, low=0.0, high=1.0, low_open=True)
        check_choice(self.proxy_metric, "proxy_metric", owner, ("log_loss", "error"))
        check_float(self.val_fraction, "val_fraction", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        X = table.embeddings
        codes, classes = label_codes(table, owner)
        n = table.n_rows
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 2:
            raise fail("val_fraction", owner, f"a fraction leaving at least 1 validation and 2 training rows of {n}", self.val_fraction)
        perm = rng.permutation(n)
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        est = _default_proxy() if self.estimator is None else self.estimator
        if not hasattr(est, "predict_proba"):
            raise fail("estimator", owner, "a classifier with predict_proba", type(est).__name__)
        n_classes = len(classes)
        y_val = codes[val]

        def proxy_loss(pos: np.ndarray) -> float:
            rows = tr[pos]
            y = codes[rows]
            full = np.full((len(val), n_classes), 1e-15)
            if len(np.unique(y)) == 1:
                full[:, y[0]] = 1.0
            else:
                model = clone(est).fit(X[rows], y)
                full[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(X[val])
            if self.proxy_metric == "error":
                return float(np.mean(np.argmax(full, axis=1) != y_val))
            full = np.clip(full, 1e-15, 1.0)
            full /= full.sum(axis=1, keepdims=True)
            return float(-np.mean(np.log(full[np.arange(len(val)), y_val])))

        size = max(2, int(round(self.proxy_fraction * len(tr))))
        return meta_rater_weights(Z[tr], proxy_loss, n_proxies=self.n_proxies, subset_size=min(size, len(tr)), seed=rng)

    @classmethod
    def make_example(cls) -> Fuse:
        return cls(columns=("score.margin", "score.knn_distance"), method="zscore")

    @classmethod
    def conformance_table(cls) -> Table:
        return example_score_table()
