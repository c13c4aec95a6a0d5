"""LDS and the counterfactual check against brute force on linear datamodels; reproducibility from stored seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from thresher.evaluate.lds import SubsetOutputs, counterfactual_check, lds, margins, retrain_subsets


def _ridge_fn(X: np.ndarray, y: np.ndarray, Xt: np.ndarray):
    def fn(idx: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)  # a seeded jitter makes the seed matter
        A = X[idx]
        w = np.linalg.solve(A.T @ A + np.eye(X.shape[1]), A.T @ y[idx])
        return Xt @ w + 1e-3 * rng.normal(size=len(Xt))
    return fn


def test_lds_is_reproducible_from_stored_seeds(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(60, 3)), rng.normal(size=(8, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=60)
    fn = _ridge_fn(X, y, Xt)
    first = retrain_subsets(fn, 60, n_subsets=20, alpha=0.5, seed=7, path=tmp_path / "subsets.npz")
    A = rng.normal(size=(60, 8))
    stored = SubsetOutputs.load(tmp_path / "subsets.npz")
    again = retrain_subsets(fn, 60, n_subsets=20, alpha=0.5, seed=stored.entropy)  # retrain from the stored seed
    assert np.array_equal(again.masks, first.masks) and np.array_equal(again.train_seeds, stored.train_seeds)
    assert np.array_equal(again.outputs, first.outputs)
    assert lds(A, again).value == lds(A, stored).value
    assert first.masks.sum(axis=1).tolist() == [30] * 20
    other = retrain_subsets(fn, 60, n_subsets=20, alpha=0.5, seed=8)
    assert not np.array_equal(other.masks, first.masks)


def test_lds_matches_scipy_spearman_and_ranks_a_true_datamodel_first() -> None:
    rng = np.random.default_rng(1)
    A_true = rng.normal(size=(40, 5))
    masks = rng.random((50, 40)) < 0.5
    out = masks @ A_true + 0.5 * rng.normal(size=(50, 5))
    sub = SubsetOutputs(masks, out, 0.5, 0, np.arange(50))
    res = lds(A_true, sub)
    brute = np.mean([stats.spearmanr(masks @ A_true[:, j], out[:, j]).statistic for j in range(5)])
    assert res.value == pytest.approx(brute) and res.value > 0.8
    assert abs(lds(rng.normal(size=(40, 5)), sub).value) < 0.3


def test_counterfactual_check_on_an_additive_model() -> None:
    rng = np.random.default_rng(2)
    contrib = rng.normal(size=(50, 4))
    fn = lambda idx, seed: contrib[idx].sum(axis=0)  # noqa: E731
    res = counterfactual_check(contrib, fn, 50, [0, 1, 2, 3], k=5, seed=0)
    for t, j in enumerate(range(4)):
        assert res.drop_top[t] == pytest.approx(np.sort(contrib[:, j])[-5:].sum())
    assert res.mean_difference > 0 and res.ci_low > 0
    anti = counterfactual_check(-contrib, fn, 50, [0, 1, 2, 3], k=5, seed=0)
    assert np.array_equal(anti.drop_random, res.drop_random) and anti.mean_difference < 0


def test_margins() -> None:
    z = np.array([[1.0, 2.0, 3.0]])
    assert margins(z, np.array([2]))[0] == pytest.approx(3.0 - np.log(np.exp(1) + np.exp(2)))
