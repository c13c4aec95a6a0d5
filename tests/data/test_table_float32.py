"""Float32 embeddings stay float32 through Table and the kNN consumers; results match float64.

Tolerance: kNN distances (and scores built from them) agree with the float64 path to
1e-6 relative; selections are identical on continuous random data (no near-ties).
"""

from __future__ import annotations

import numpy as np

from thresher.data.table import Table
from thresher.scores.density import KNNDistance
from thresher.scores.issues import NearDuplicate
from thresher.select.base import Budget
from thresher.select.kcenter import KCenterGreedy
from thresher.select.submodular import FacilityLocation


def _tables(seed: int = 0, n: int = 400, d: int = 10) -> tuple[Table, Table]:
    X = np.random.default_rng(seed).normal(size=(n, d)) + 2.0
    X32 = X.astype(np.float32)
    return Table(matrices={"embeddings": X32}), Table(matrices={"embeddings": X32.astype(np.float64)})


def test_embeddings_float32_returned_without_copy() -> None:
    t32, t64 = _tables()
    assert t32.embeddings.dtype == np.float32
    assert t32.embeddings is t32.matrix("embeddings")
    assert t64.embeddings.dtype == np.float64
    ints = Table(matrices={"embeddings": np.arange(6).reshape(3, 2)})
    assert ints.embeddings.dtype == np.float64 and ints.embeddings.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_knn_scores_agree_with_float64() -> None:
    t32, t64 = _tables()
    a, b = KNNDistance(k=5).score(t32), KNNDistance(k=5).score(t64)
    assert a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_selections_identical_to_float64() -> None:
    t32, t64 = _tables(1)
    for sel in (FacilityLocation(n_neighbors=10), KCenterGreedy()):
        a = sel.select(t32, Budget(n=30), seed=0).row_ids
        b = sel.select(t64, Budget(n=30), seed=0).row_ids
        np.testing.assert_array_equal(a, b)


def test_near_duplicate_flags_identical_to_float64() -> None:
    X = np.random.default_rng(2).normal(size=(200, 6))
    X[100:110] = X[:10] + 1e-3  # ten planted pairs, far inside the threshold
    X32 = X.astype(np.float32)
    f32 = NearDuplicate(threshold=0.05).score(Table(matrices={"embeddings": X32}))
    f64 = NearDuplicate(threshold=0.05).score(Table(matrices={"embeddings": X32.astype(np.float64)}))
    np.testing.assert_array_equal(f32, f64)
    assert f32.sum() == 20
