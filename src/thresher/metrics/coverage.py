"""Fidelity and coverage of a set Y against a reference X: PRDC and probabilistic P/R.

* Precision, recall, density and coverage: Naeem, Oh, Uh, Choi & Yoo, "Reliable Fidelity
  and Diversity Metrics for Generative Models", ICML 2020. With ``B(x, r)`` the open ball
  and ``r_k(x)`` the distance from ``x`` to its k-th nearest neighbour in its own set::

      precision = mean_j 1[exists i: Y_j in B(X_i, r_k(X_i))]
      recall    = mean_i 1[exists j: X_i in B(Y_j, r_k(Y_j))]
      density   = (1/k) mean_j #{i: Y_j in B(X_i, r_k(X_i))}
      coverage  = mean_i 1[min_j |X_i - Y_j| < r_k(X_i)]

  Balls are open (strict ``<``) as in the authors' ``prdc`` package; distances within a
  relative 1e-9 of a radius count as on the sphere (outside), so the answer does not
  flip with BLAS rounding between blocks.
* P-precision and P-recall: Park & Kim, "Probabilistic Precision and Recall Towards
  Reliable Evaluation of Generative Models", ICCV 2023. With ``R_X = a mean_i r_k(X_i)``
  and the scoring rule ``p(y | x) = max(0, 1 - |y - x| / R_X)``::

      P-precision = mean_j [1 - prod_i (1 - p(Y_j | X_i))]      (P-recall: X and Y swapped)

The radii come from :func:`thresher.neighbors.knn`; the cross terms are one pass over
(X block, Y block) pairs of :func:`thresher.neighbors.pairwise_sq_dists`, with X blocks as
executor shards, so peak memory is one ``block_x x block_y`` distance block whatever
n and m are: the full n x m distance matrix is never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from thresher._registry import register_metric
from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.metrics.base import BaseMetric, MetricResult
from thresher.neighbors import knn, pairwise_sq_dists

__all__ = ["PRDCResult", "prdc", "Precision", "Recall", "Density", "Coverage", "PPrecision", "PRecall"]

_TIE = 1e-9


@dataclass(frozen=True)
class PRDCResult:
    """Precision, recall, density, coverage (and P-precision / P-recall when asked) of Y against X."""

    precision: float
    recall: float
    density: float
    coverage: float
    p_precision: float | None
    p_recall: float | None
    k: int
    n_reference: int
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _kth_radius(A: np.ndarray, k: int, block: int, executor: Executor | None) -> np.ndarray:
    return knn(A, k, block_queries=block, executor=executor).distances[:, k - 1]


def prdc(
    reference: Any,
    samples: Any,
    k: int = 5,
    *,
    probabilistic: bool = True,
    a: float = 1.2,
    k_prob: int = 4,
    block_x: int = 2048,
    block_y: int = 8192,
    executor: Executor | None = None,
) -> PRDCResult:
    """Compute precision, recall, density and coverage of ``samples`` (Y) against ``reference`` (X).

    Parameters
    ----------
    reference
        Reference (real / full) points X, shape (n, d).
    samples
        Evaluated (generated / subset) points Y, shape (m, d).
    k
        Neighbours defining the PRDC balls (Naeem et al. use 5).
    probabilistic
        Also compute P-precision and P-recall (Park & Kim 2023).
    a, k_prob
        Ball-size factor and neighbour count of P-precision / P-recall (paper: 1.2 and 4).
    block_x, block_y
        Rows of X and Y per distance block (memory is ``block_x * block_y`` floats).
    executor
        Runs the X blocks as shards (default local).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> r = prdc(X, X, k=3)
    >>> r.precision, r.recall, r.coverage
    (1.0, 1.0, 1.0)
    """
    owner = "prdc"
    X = check_matrix(reference, "reference", owner)
    Y = check_matrix(samples, "samples", owner)
    if X.shape[1] != Y.shape[1]:
        raise InvalidParameterError(
            f"`samples` of prdc must have {X.shape[1]} columns like `reference`; got {Y.shape[1]}."
        )
    n, m = X.shape[0], Y.shape[0]
    check_int(k, "k", owner, low=1, high=max(1, min(n, m) - 1))
    check_int(k_prob, "k_prob", owner, low=1, high=max(1, min(n, m) - 1))
    check_float(a, "a", owner, low=0.0, low_open=True)
    check_int(block_x, "block_x", owner, low=1)
    check_int(block_y, "block_y", owner, low=1)
    if n < 2 or m < 2:
        raise fail("reference", owner, "at least 2 rows in each set", f"{n} and {m} rows")

    kmax = max(k, k_prob) if probabilistic else k
    nx = knn(X, kmax, block_queries=block_x, executor=executor).distances
    ny = knn(Y, kmax, block_queries=block_x, executor=executor).distances
    rx_sq = nx[:, k - 1] ** 2 * (1.0 - _TIE)
    ry_sq = ny[:, k - 1] ** 2 * (1.0 - _TIE)
    RX = a * float(nx[:, k_prob - 1].mean()) if probabilistic else 1.0
    RY = a * float(ny[:, k_prob - 1].mean()) if probabilistic else 1.0
    y_sq = np.einsum("ij,ij->i", Y, Y)

    def run(shard: Shard) -> dict[str, np.ndarray]:
        xb = X[shard.start : shard.stop]
        rxb = rx_sq[shard.start : shard.stop]
        in_ball_count = np.zeros(m)  # for each Y_j: #{i in shard: Y_j in B(X_i)}
        recall_hit = np.zeros(len(xb), dtype=bool)
        nearest = np.full(len(xb), np.inf)
        log_miss_y = np.zeros(m)  # sum_i log(1 - p(Y_j | X_i)), P-precision
        log_miss_x = np.zeros(len(xb))  # sum_j log(1 - p(X_i | Y_j)), P-recall
        for s in range(0, m, block_y):
            D = pairwise_sq_dists(xb, Y[s : s + block_y], y_sq[s : s + block_y])
            in_ball_count[s : s + block_y] += np.count_nonzero(D < rxb[:, None], axis=0)
            recall_hit |= np.any(D < ry_sq[None, s : s + block_y], axis=1)
            np.minimum(nearest, D.min(axis=1), out=nearest)
            if probabilistic:
                # 1 - p = min(1, |x - y| / R): only pairs closer than R contribute a factor
                # below 1, and they are few, so the logs are taken on those pairs alone.
                # log 0 = -inf (a sample point on a reference point) makes the product 0.
                with np.errstate(divide="ignore"):
                    rows, cols = np.nonzero(D < RX * RX)
                    vals = 0.5 * np.log(D[rows, cols] / (RX * RX))
                    log_miss_y[s : s + block_y] += np.bincount(cols, weights=vals, minlength=D.shape[1])
                    rows, cols = np.nonzero(D < RY * RY)
                    vals = 0.5 * np.log(D[rows, cols] / (RY * RY))
                    log_miss_x += np.bincount(rows, weights=vals, minlength=D.shape[0])
        return {
            "count": in_ball_count,
            "recall": recall_hit,
            "nearest": nearest,
            "log_miss_y": log_miss_y,
            "log_miss_x": log_miss_x,
        }

    count = np.zeros(m)
    log_miss_y = np.zeros(m)
    recall_parts, nearest_parts, log_miss_x_parts = [], [], []
    shards = make_shards(n, shard_size=block_x)
    for part in get_executor(executor).map(run, shards):
        count += part["count"]
        log_miss_y += part["log_miss_y"]
        recall_parts.append(part["recall"])
        nearest_parts.append(part["nearest"])
        log_miss_x_parts.append(part["log_miss_x"])
    recall_hit = np.concatenate(recall_parts)
    nearest = np.concatenate(nearest_parts)
    p_prec = p_rec = None
    if probabilistic:
        p_prec = float(np.mean(1.0 - np.exp(log_miss_y)))
        p_rec = float(np.mean(1.0 - np.exp(np.concatenate(log_miss_x_parts))))
    return PRDCResult(
        precision=float(np.mean(count > 0)),
        recall=float(np.mean(recall_hit)),
        density=float(np.mean(count) / k),
        coverage=float(np.mean(nearest < rx_sq)),
        p_precision=p_prec,
        p_recall=p_rec,
        k=int(k),
        n_reference=int(n),
        n_samples=int(m),
    )


class _PRDCMetric(BaseMetric):
    """Shared body of the PRDC metrics: ``table`` is Y, ``reference`` is X."""

    component: ClassVar[str] = "coverage"
    requires = frozenset({"embeddings"})
    needs_reference = True

    def __init__(self, k: int = 5, a: float = 1.2, k_prob: int = 4) -> None:
        self.k = k
        self.a = a
        self.k_prob = k_prob

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        assert reference is not None
        prob = self.component.startswith("p_")
        r = prdc(reference.embeddings, table.embeddings, self.k, probabilistic=prob, a=self.a, k_prob=self.k_prob)
        value = getattr(r, self.component)
        params: dict[str, Any] = {"k": self.k}
        if prob:
            params.update(a=self.a, k_prob=self.k_prob)
        return MetricResult(self.name, float(value), params, r.to_dict())

    @classmethod
    def make_example(cls) -> BaseMetric:
        return cls(k=3)


@register_metric("precision")
class Precision(_PRDCMetric):
    """Measure fidelity: the share of the set inside some reference point's k-NN ball (Naeem et al. 2020).

    Examples
    --------
    >>> import numpy as np
    >>> X = Table(matrices={"embeddings": np.random.default_rng(0).normal(size=(30, 2))})
    >>> Precision(k=3).compute(X, reference=X).value
    1.0
    """

    name = "precision"
    component = "precision"


@register_metric("recall")
class Recall(_PRDCMetric):
    """Measure diversity: the share of the reference inside some set point's k-NN ball (Naeem et al. 2020)."""

    name = "recall"
    component = "recall"


@register_metric("density")
class Density(_PRDCMetric):
    """Measure fidelity as the mean count of reference k-NN balls holding each set point, over k."""

    name = "density"
    component = "density"


@register_metric("coverage")
class Coverage(_PRDCMetric):
    """Measure coverage: the share of reference points whose k-NN ball holds a point of the set."""

    name = "coverage"
    component = "coverage"


@register_metric("p_precision")
class PPrecision(_PRDCMetric):
    """Measure fidelity as probabilistic precision (Park & Kim 2023), robust to reference outliers."""

    name = "p_precision"
    component = "p_precision"


@register_metric("p_recall")
class PRecall(_PRDCMetric):
    """Measure diversity as probabilistic recall (Park & Kim 2023), robust to outliers in the set."""

    name = "p_recall"
    component = "p_recall"
