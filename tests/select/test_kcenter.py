"""k-center greedy against the plain float64 farthest-point loop (an independent reimplementation)."""

from __future__ import annotations

import numpy as np
import pytest

import thresher.select.kcenter as kc
from thresher.data.table import Table
from thresher.select.base import Budget
from thresher.select.kcenter import KCenterGreedy, kcenter_greedy


def _plain_loop(X: np.ndarray, k: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The textbook loop: float64 differences, one full pass per pick, ties to the lowest position."""
    X = np.asarray(X, dtype=np.float64)
    picked, gains = [first], [np.inf]
    min_d = np.sqrt(((X - X[first]) ** 2).sum(axis=1))
    min_d[first] = -1.0
    for _ in range(1, k):
        j = int(np.argmax(min_d))
        picked.append(j)
        gains.append(min_d[j])
        np.minimum(min_d, np.sqrt(((X - X[j]) ** 2).sum(axis=1)), out=min_d)
        min_d[picked] = -1.0
    return np.asarray(picked), np.asarray(gains)


def _blobs(seed: int, n: int = 3000, d: int = 8, centres: int = 20, offset: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centres, d)) * 5 + offset
    return C[rng.integers(centres, size=n)] + rng.normal(size=(n, d))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_picks_equal_the_plain_loop(seed: int, dtype: type) -> None:
    # continuous random data: the gaps between competing distances are far above float32 rounding
    X = _blobs(seed, offset=50.0 * seed).astype(dtype)  # an offset tests the centring
    picked, gains = kcenter_greedy(X, 400, first=seed)
    ref, ref_gains = _plain_loop(X, 400, seed)
    np.testing.assert_array_equal(picked, ref)
    np.testing.assert_allclose(gains[1:], ref_gains[1:], rtol=1e-5)
    assert gains[0] == np.inf


def test_block_misses_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # a block of 8 forces many re-speculations; a block of 1 recomputes at every pick
    X = np.random.default_rng(7).normal(size=(2000, 16)).astype(np.float32)
    ref, _ = _plain_loop(X, 300, 3)
    for m in (1, 8, 4096):
        monkeypatch.setattr(kc, "_SPECULATE", m)
        monkeypatch.setattr(kc, "_SPECULATE_FLOATS", 1 << 30)
        np.testing.assert_array_equal(kcenter_greedy(X, 300, first=3)[0], ref)


def test_cosine_equals_the_plain_loop_on_unit_rows() -> None:
    X = _blobs(11, n=1500, d=6) + 3.0
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_array_equal(kcenter_greedy(X, 200, 0, metric="cosine")[0], _plain_loop(U, 200, 0)[0])


def test_every_row_once_when_k_is_n_even_with_duplicates() -> None:
    X = np.repeat(np.random.default_rng(0).normal(size=(10, 3)), 3, axis=0)  # 30 rows, 10 distinct
    picked, gains = kcenter_greedy(X, 30, first=0)
    assert sorted(picked.tolist()) == list(range(30))
    # after the 10 distinct points every remaining row is a duplicate at distance 0
    assert np.all(gains[10:] == 0.0) and np.all(gains[1:10] > 0)


def test_selector_float32_table_matches_float64() -> None:
    X = _blobs(3, n=800, d=5)
    t64 = Table(matrices={"embeddings": X})
    t32 = Table(matrices={"embeddings": X.astype(np.float32)})
    for start in ("random", "medoid"):
        a = KCenterGreedy(start=start).select(t64, Budget(n=50), seed=4).row_ids
        b = KCenterGreedy(start=start).select(t32, Budget(n=50), seed=4).row_ids
        np.testing.assert_array_equal(a, b)
    medoid = int(np.argmin(np.linalg.norm(X - X.mean(axis=0), axis=1)))
    assert KCenterGreedy(start="medoid").select(t64, Budget(n=1)).row_ids.tolist() == [medoid]
