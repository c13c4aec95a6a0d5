"""ODiS: PCA components uncorrelated on the fitted data; the selection equals a plain re-implementation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import Budget
from thresher.select.odis import ODiS, decorrelate


def _correlated(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return np.column_stack([a, a + 0.3 * rng.normal(size=n), b, 0.5 * a - b + 0.2 * rng.normal(size=n)])


def _z(V: np.ndarray) -> np.ndarray:
    return (V - V.mean(0)) / V.std(0)


def test_components_are_uncorrelated_on_the_fitted_data() -> None:
    Z = _z(_correlated())
    assert np.abs(np.corrcoef(Z, rowvar=False) - np.eye(4)).max() > 0.5  # the inputs are correlated
    dec = decorrelate(Z)
    cov = np.cov(dec.components, rowvar=False)
    off = cov - np.diag(np.diag(cov))
    assert np.abs(off).max() < 1e-10
    np.testing.assert_allclose(dec.loadings @ dec.loadings.T, np.eye(4), atol=1e-10)
    # same subspace as scikit-learn's PCA, each component up to the documented sign choice
    ref = PCA().fit(Z).components_
    np.testing.assert_allclose(np.abs(np.sum(dec.loadings * ref, axis=1)), 1.0, atol=1e-8)
    assert np.all(dec.loadings.sum(axis=1) >= -1e-9)


def _reference(Z: np.ndarray, k: int, quotas: list[int]) -> list[int]:
    """Round-robin over components, each taking its next best row not yet taken (written plainly)."""
    dec = decorrelate(Z)
    taken: list[int] = []
    got = [0] * len(quotas)
    while len(taken) < k:
        for c in range(len(quotas)):
            if got[c] == quotas[c] or len(taken) == k:
                continue
            for r in sorted(range(len(Z)), key=lambda i: (-dec.components[i, c], i)):
                if r not in taken:
                    taken.append(r)
                    got[c] += 1
                    break
    return taken


@pytest.mark.parametrize("k", [4, 9, 40])
def test_selection_equals_plain_round_robin(k: int) -> None:
    V = _correlated(n=120, seed=3)
    t = Table(columns={f"score.c{j}": V[:, j] for j in range(4)})
    sel = ODiS(by=[f"score.c{j}" for j in range(4)], higher_is_better=[True] * 4).select(t, Budget(n=k))
    quotas = [k // 4 + (1 if j < k % 4 else 0) for j in range(4)]  # equal shares, remainder to the first
    assert sel.row_ids.tolist() == _reference(_z(V), k, quotas)


def test_each_component_contributes_its_own_top_rows() -> None:
    rng = np.random.default_rng(5)
    V = rng.normal(size=(200, 2))
    V[0] = [8.0, 8.0]  # best on the sum direction
    V[1] = [8.0, -8.0]  # best on the contrast direction
    t = Table(columns={"score.a": V[:, 0], "score.b": V[:, 1]})
    sel = ODiS(by=["score.a", "score.b"], higher_is_better=[True, True]).select(t, Budget(n=2))
    assert sorted(sel.row_ids.tolist()) == [0, 1]
    top_sum = np.argsort(-(V[:, 0] + V[:, 1]))[:2]  # a plain sum ranking keeps row 0 and misses row 1
    assert 1 not in top_sum.tolist()


def test_variance_share_gives_the_first_component_more() -> None:
    Z = _correlated(n=400, seed=1)
    t = Table(columns={f"score.c{j}": Z[:, j] for j in range(4)})
    by = [f"score.c{j}" for j in range(4)]
    sel = ODiS(by=by, higher_is_better=[True] * 4, share="variance").select(t, Budget(n=100))
    dec = decorrelate(_z(Z))
    first = set(np.argsort(-dec.components[:, 0], kind="stable")[:30].tolist())
    assert first <= set(sel.row_ids.tolist())  # its quota (about 100 x its variance share) exceeds 30
    assert dec.explained_variance_ratio[0] > 0.4


def test_errors() -> None:
    t = Table(columns={"score.a": np.arange(5.0), "score.b": np.arange(5.0)[::-1]})
    with pytest.raises(InvalidParameterError, match="`columns` of ODiS must be at least 2"):
        ODiS(by=["score.a"], higher_is_better=[True]).select(t, Budget(n=2))
    with pytest.raises(InvalidParameterError, match="`share` of ODiS"):
        ODiS(by=["score.a", "score.b"], higher_is_better=[True, True], share="max").select(t, Budget(n=2))
