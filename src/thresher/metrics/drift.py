"""Two-sample and drift tests with permutation p-values.

* kNN two-sample test (Schilling, "Multivariate two-sample tests based on nearest
  neighbors", JASA 1986; Henze, "A multivariate two-sample test based on the number of
  nearest neighbor type coincidences", Ann. Stat. 1988): in the pooled sample, the share
  of (point, k-th-nearest-neighbour) pairs whose two ends come from the same sample is
  large when the samples differ.
* MMD test (Gretton, Borgwardt, Rasch, Schoelkopf & Smola, "A Kernel Two-Sample Test",
  JMLR 2012): the unbiased squared maximum mean discrepancy with an RBF kernel
  (bandwidth by the median heuristic unless given).
* Non-IID ordering test (the question cleanlab's ``non_iid`` check asks): are rows that
  are neighbours in feature space also close in dataset order? The statistic is the mean
  gap ``|i - j|`` in row order over kNN edges; under exchangeable (IID) ordering it has
  mean ``(n + 1) / 3``, and small values mean ordered structure (sorted, drifting or
  batched data).

All p-values are permutation p-values ``(1 + #{T_b at least as extreme}) / (1 + B)``, which
are valid at any sample size. The neighbour graph and the kernel matrix do not depend
on the labels, so they are computed once and every permutation is a vectorised
relabelling (no recomputation of distances).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thresher._registry import register_metric
from thresher._typing import Seed, as_generator
from thresher._validation import check_float, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.metrics.base import BaseMetric, MetricResult
from thresher.neighbors import knn, pairwise_sq_dists

__all__ = ["TestResult", "knn_two_sample_test", "mmd_test", "non_iid_test", "KNNTwoSample", "MMDTest", "NonIID"]


@dataclass(frozen=True)
class TestResult:
    """A test statistic, its permutation p-value and the null distribution's summary."""

    statistic: float
    p_value: float
    n_permutations: int
    null_mean: float
    null_std: float
    params: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a pytest test class

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _pvalue(stat: float, null: np.ndarray, greater: bool) -> float:
    # a tiny tolerance so that floating-point noise does not break exact ties
    tol = 1e-12 * max(1.0, abs(stat))
    extreme = null >= stat - tol if greater else null <= stat + tol
    return float((1 + np.count_nonzero(extreme)) / (1 + len(null)))


def _pair(X: Any, Y: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    Xa = check_matrix(X, "X", owner)
    Ya = check_matrix(Y, "Y", owner)
    if Xa.shape[1] != Ya.shape[1]:
        raise InvalidParameterError(f"`Y` of {owner} must have {Xa.shape[1]} columns like `X`; got {Ya.shape[1]}.")
    if Xa.shape[0] < 2 or Ya.shape[0] < 2:
        raise fail("X", owner, "at least 2 rows in each sample", f"{Xa.shape[0]} and {Ya.shape[0]} rows")
    return Xa, Ya


def _label_batches(labels: np.ndarray, n_permutations: int, rng: np.random.Generator, batch: int):  # type: ignore[no-untyped-def]
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        yield rng.permuted(np.broadcast_to(labels, (b, len(labels))), axis=1)
        done += b


def knn_two_sample_test(
    X: Any, Y: Any, k: int = 5, *, n_permutations: int = 200, seed: Seed = None, block: int = 1024
) -> TestResult:
    """Test whether ``X`` and ``Y`` come from one distribution with the kNN coincidence statistic.

    The statistic is the share of the ``k`` nearest neighbours (in the pooled sample,
    Euclidean) of every point that belong to the point's own sample; the p-value is the
    share of label permutations that reach it.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 3.0
    >>> knn_two_sample_test(X, Y, n_permutations=99, seed=0).p_value
    0.01
    """
    owner = "knn_two_sample_test"
    Xa, Ya = _pair(X, Y, owner)
    check_int(n_permutations, "n_permutations", owner, low=1)
    Z = np.vstack([Xa, Ya])
    N = Z.shape[0]
    check_int(k, "k", owner, low=1, high=N - 1)
    rng = as_generator(seed)
    nbrs = knn(Z, k, block_queries=block).indices
    labels = np.r_[np.zeros(len(Xa), dtype=np.int8), np.ones(len(Ya), dtype=np.int8)]

    def stat(L: np.ndarray) -> np.ndarray:  # L: (B, N) labels -> (B,) statistics
        return (L[:, :, None] == L[:, nbrs]).mean(axis=(1, 2))

    t = float(stat(labels[None, :])[0])
    batch = max(1, int(2e7 // (N * k)))
    null = np.concatenate([stat(L) for L in _label_batches(labels, n_permutations, rng, batch)])
    return TestResult(
        t, _pvalue(t, null, greater=True), n_permutations, float(null.mean()), float(null.std()),
        {"k": k, "n_x": len(Xa), "n_y": len(Ya)},
    )


def median_heuristic_gamma(Z: np.ndarray, max_rows: int = 1000, seed: Seed = 0) -> float:
    """Return ``1 / median(|z_i - z_j|^2)`` over pairs of (at most ``max_rows``) rows.

    Examples
    --------
    >>> import numpy as np
    >>> median_heuristic_gamma(np.array([[0.0], [1.0], [3.0]]))
    0.25
    """
    rng = as_generator(seed)
    S = Z if len(Z) <= max_rows else Z[rng.choice(len(Z), size=max_rows, replace=False)]
    d = pairwise_sq_dists(S, S)[np.triu_indices(len(S), 1)]
    med = float(np.median(d)) if d.size else 1.0
    return 1.0 / med if med > 0 else 1.0


def mmd_test(
    X: Any, Y: Any, *, gamma: float | None = None, n_permutations: int = 200, seed: Seed = None, block: int = 2048
) -> TestResult:
    """Test whether ``X`` and ``Y`` come from one distribution with the unbiased MMD^2 (RBF kernel).

    ``gamma`` in ``exp(-gamma |x - y|^2)`` defaults to the median heuristic on the pooled
    sample. The pooled kernel is formed block by block and only its products with the
    permuted membership vectors are kept, so memory is ``block x N`` plus ``N x B``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 1.5
    >>> mmd_test(X, Y, n_permutations=99, seed=0).p_value
    0.01
    """
    owner = "mmd_test"
    Xa, Ya = _pair(X, Y, owner)
    check_int(n_permutations, "n_permutations", owner, low=1)
    Z = np.vstack([Xa, Ya])
    N, nx, ny = Z.shape[0], len(Xa), len(Ya)
    rng = as_generator(seed)
    g = median_heuristic_gamma(Z, seed=rng) if gamma is None else check_float(gamma, "gamma", owner, low=0.0, low_open=True)
    labels = np.r_[np.ones(nx), np.zeros(ny)]
    perms = np.vstack([labels[None, :]] + list(_label_batches(labels, n_permutations, rng, n_permutations)))
    # A[b] is the X-membership indicator of labelling b; rows of K A^T give every
    # permutation's block sums from one pass over the kernel (diag(K) = 1 for the RBF).
    A = perms.T  # (N, B+1)
    KA = np.empty_like(A)
    total = 0.0
    z_sq = np.einsum("ij,ij->i", Z, Z)
    for s in range(0, N, block):
        Kb = np.exp(-g * pairwise_sq_dists(Z[s : s + block], Z, z_sq))
        KA[s : s + block] = Kb @ A
        total += float(Kb.sum())
    s_xx = np.einsum("nb,nb->b", A, KA)  # a^T K a
    row = KA.sum(axis=0)  # 1^T K a
    s_xy = row - s_xx  # a^T K (1 - a)
    s_yy = total - 2.0 * row + s_xx  # (1 - a)^T K (1 - a)
    mmd2 = (s_xx - nx) / (nx * (nx - 1)) + (s_yy - ny) / (ny * (ny - 1)) - 2.0 * s_xy / (nx * ny)
    t, null = float(mmd2[0]), mmd2[1:]
    return TestResult(
        t, _pvalue(t, null, greater=True), n_permutations, float(null.mean()), float(null.std()),
        {"gamma": g, "n_x": nx, "n_y": ny},
    )


def non_iid_test(X: Any, k: int = 10, *, n_permutations: int = 200, seed: Seed = None, block: int = 1024) -> TestResult:
    """Test whether rows close in dataset order have more similar features than chance.

    The statistic is the mean order gap ``|i - j|`` over kNN edges ``(i, j)`` (Euclidean);
    the p-value is the share of random re-orderings of the rows with a gap at most as
    small. Under exchangeable ordering the statistic has mean ``(n + 1) / 3``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.sort(np.random.default_rng(0).normal(size=(80, 1)), axis=0)  # sorted rows
    >>> non_iid_test(X, k=3, n_permutations=99, seed=0).p_value
    0.01
    """
    owner = "non_iid_test"
    Xa = check_matrix(X, "X", owner)
    n = Xa.shape[0]
    if n < 3:
        raise fail("X", owner, "at least 3 rows", Xa)
    check_int(k, "k", owner, low=1, high=n - 1)
    check_int(n_permutations, "n_permutations", owner, low=1)
    rng = as_generator(seed)
    nbrs = knn(Xa, k, block_queries=block).indices
    src = np.arange(n)

    def stat(P: np.ndarray) -> np.ndarray:  # P: (B, n) position of each row
        return np.abs(P[:, :, None] - P[:, nbrs]).mean(axis=(1, 2))

    t = float(stat(src[None, :])[0])
    batch = max(1, int(2e7 // (n * k)))
    null = np.concatenate([stat(P) for P in _label_batches(src, n_permutations, rng, batch)])
    return TestResult(
        t, _pvalue(t, null, greater=False), n_permutations, float(null.mean()), float(null.std()),
        {"k": k, "n": n, "expected_gap": (n + 1) / 3},
    )


class _TwoSample(BaseMetric):
    requires = frozenset({"embeddings"})
    needs_reference = True

    @classmethod
    def make_example(cls) -> BaseMetric:
        return cls(n_permutations=50)  # type: ignore[call-arg]


@register_metric("knn_two_sample")
class KNNTwoSample(_TwoSample):
    """Test whether the set and the reference share a distribution (kNN coincidences; value is the p-value).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> a = Table(matrices={"embeddings": rng.normal(size=(40, 2))})
    >>> b = Table(matrices={"embeddings": rng.normal(size=(40, 2)) + 3})
    >>> KNNTwoSample(n_permutations=49).compute(a, reference=b, seed=0).value
    0.02
    """

    name = "knn_two_sample"

    def __init__(self, k: int = 5, n_permutations: int = 200) -> None:
        self.k = k
        self.n_permutations = n_permutations

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        assert reference is not None
        r = knn_two_sample_test(table.embeddings, reference.embeddings, self.k, n_permutations=self.n_permutations, seed=rng)
        return MetricResult(self.name, r.p_value, {"k": self.k, "n_permutations": self.n_permutations}, r.to_dict())


@register_metric("mmd")
class MMDTest(_TwoSample):
    """Test whether the set and the reference share a distribution (RBF-kernel MMD; value is the p-value)."""

    name = "mmd"

    def __init__(self, gamma: float | None = None, n_permutations: int = 200) -> None:
        self.gamma = gamma
        self.n_permutations = n_permutations

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        assert reference is not None
        r = mmd_test(table.embeddings, reference.embeddings, gamma=self.gamma, n_permutations=self.n_permutations, seed=rng)
        return MetricResult(self.name, r.p_value, {"gamma": self.gamma, "n_permutations": self.n_permutations}, r.to_dict())


@register_metric("non_iid")
class NonIID(BaseMetric):
    """Test whether rows close in row-id order have similar features (value is the p-value; small = not IID)."""

    name = "non_iid"
    requires = frozenset({"embeddings"})

    def __init__(self, k: int = 10, n_permutations: int = 200) -> None:
        self.k = k
        self.n_permutations = n_permutations

    def _compute(self, table: Table, reference: Table | None, rng: np.random.Generator) -> MetricResult:
        k = min(self.k, table.n_rows - 1)
        r = non_iid_test(table.embeddings, k, n_permutations=self.n_permutations, seed=rng)
        return MetricResult(self.name, r.p_value, {"k": k, "n_permutations": self.n_permutations}, r.to_dict())

    @classmethod
    def make_example(cls) -> BaseMetric:
        return cls(k=5, n_permutations=50)
