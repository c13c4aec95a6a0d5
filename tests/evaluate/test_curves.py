"""Learning curves: the power-law fit recovers known parameters; sizing answers match closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.errors import InvalidParameterError
from thresher.evaluate.curves import PowerLawFit, fit_arm_curves, fit_power_law, nested_random_curve, power_law


@pytest.mark.parametrize(("c", "a", "b"), [(0.9, 2.0, 0.5), (0.75, 0.8, 0.3), (0.97, 5.0, 0.8)])
def test_fit_recovers_synthetic_power_law_within_5_percent(c: float, a: float, b: float) -> None:
    rng = np.random.default_rng(0)
    sizes = np.unique(np.geomspace(50, 60000, 10).astype(int))
    seeds = np.repeat(np.arange(5), len(sizes))
    n = np.tile(sizes, 5)
    acc = power_law(n, c, a, b) + rng.normal(0, 2e-4, size=n.size)
    f = fit_power_law(n, acc, seeds=seeds, n_boot=40)
    assert f.c == pytest.approx(c, rel=0.05)
    assert f.a == pytest.approx(a, rel=0.05)
    assert f.b == pytest.approx(b, rel=0.05)
    for (lo, hi), est in ((f.c_ci, f.c), (f.a_ci, f.a), (f.b_ci, f.b)):
        assert lo < hi and lo <= est * 1.001 and est <= hi * 1.001


def test_rows_for_inverts_the_curve() -> None:
    f = PowerLawFit(0.9, 2.0, 0.5, (0, 0), (0, 0), (0, 0), 10, 100, 3)
    for target in (0.5, 0.8, 0.89):
        n = f.rows_for(target)
        assert float(f.predict(n)) == pytest.approx(target)
    assert f.rows_for(0.95) == float("inf")


def test_fit_needs_three_sizes() -> None:
    with pytest.raises(InvalidParameterError, match="at least 3 distinct sizes"):
        fit_power_law([10, 10, 20], [0.5, 0.5, 0.6])


def test_nested_curve_and_arm_curves() -> None:
    from thresher.data.datasets import load_digits, split_table

    tr, te = split_table(load_digits())
    df = nested_random_curve(tr, te, [60, 120, 250, 500, 1000], seeds=[0, 1], model="knn")
    assert len(df) == 10
    f = fit_power_law(df["n_train"], df["accuracy"], seeds=df["seed"], n_boot=50)
    assert 0.85 < f.c <= 1.0 and f.b > 0
    # the fitted curve interpolates the measured means closely
    means = df.groupby("n_train")["accuracy"].mean()
    assert np.max(np.abs(f.predict(means.index.to_numpy()) - means.to_numpy())) < 0.03
    lo, hi = f.predict_interval([2000])
    assert lo[0] <= hi[0]
    recs = df.assign(arm="random")
    fits = fit_arm_curves(recs, n_boot=20)
    assert set(fits) == {"random"} and fits["random"].c == pytest.approx(f.c, abs=1e-6)
