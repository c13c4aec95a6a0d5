"""No silent approximation in Vendi: approximate routes check themselves, say when they miss, carry the error."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest

from thresher.data.datasets import load_digits
from thresher.metrics import vendi as vendi_module
from thresher.metrics.kernels import kernel_matrix
from thresher.metrics.vendi import TOLERANCE, Vendi, vendi, vendi_from_eigenvalues
from thresher.data.table import Table


def exact_vendi(X: np.ndarray, q: float = 1.0) -> float:
    """Brute force: the eigenvalues of the full RBF kernel matrix."""
    return vendi_from_eigenvalues(np.clip(np.linalg.eigvalsh(kernel_matrix(X, "rbf")), 0.0, None), q)


@functools.lru_cache(maxsize=1)
def _digits() -> np.ndarray:
    return np.asarray(load_digits().embeddings, dtype=np.float64)


def standardized_digits(n: int) -> np.ndarray:
    X = _digits()[:n]
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def test_a_missed_tolerance_warns_and_the_result_carries_the_error(caplog: pytest.LogCaptureFixture) -> None:
    # standardised digits have a long spectral tail: 20 Nystrom landmarks drop most of it
    X = standardized_digits(500)
    with caplog.at_level(logging.WARNING, logger="thresher.metrics.vendi"):
        r = vendi(X, kernel="rbf", route="nystrom", rank=20, check_size=300, seed=0)
    assert r.details["within_tolerance"] is False
    assert r.details["approx_error"] > TOLERANCE == r.details["tolerance"]
    assert r.details["approx_error"] == pytest.approx(
        abs(r.details["check_approx"] - r.details["check_exact"]) / r.details["check_exact"]
    )
    # the check is right that the value is off: against the exact score of all 500 rows
    exact = exact_vendi(X)
    assert (exact - r.value) / exact > TOLERANCE
    assert any("above the tolerance" in m and "nystrom" in m for m in caplog.messages)


def test_a_met_tolerance_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    # five distinct points repeated: 60 landmarks hit all five (a miss has odds 5 * 0.8^60), so span the kernel
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))[rng.integers(5, size=400)]
    with caplog.at_level(logging.WARNING, logger="thresher.metrics.vendi"):
        r = vendi(X, kernel="rbf", route="nystrom", rank=60, check_size=200, seed=0)
    assert r.details["within_tolerance"] is True and r.details["approx_error"] < 1e-6
    assert r.value == pytest.approx(exact_vendi(X), rel=1e-6)
    assert not [m for m in caplog.messages if "vendi:" in m]


def test_an_unchecked_approximation_warns(caplog: pytest.LogCaptureFixture) -> None:
    X = standardized_digits(200)
    with caplog.at_level(logging.WARNING, logger="thresher.metrics.vendi"):
        r = vendi(X, kernel="rbf", route="rff", rank=50, check_size=0, seed=0)
    assert r.details["approx_error"] is None and r.details["within_tolerance"] is None
    assert any("without its check" in m for m in caplog.messages)


@pytest.mark.parametrize("n", [600, pytest.param(1797, marks=pytest.mark.slow)])
def test_the_default_rbf_route_is_exact_where_the_issue_measured_minus_48_percent(n: int) -> None:
    # issue 13: the old default (Nystrom, rank 500) gave -48% on standardised digits
    X = standardized_digits(n)
    r = vendi(X, kernel="rbf", seed=0)
    assert r.route == "exact"
    assert r.value == pytest.approx(exact_vendi(X), rel=1e-12)


def test_the_default_route_beyond_the_exact_limit_meets_its_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    # with the exact limit lowered, `auto` takes its approximate route on 1,200 digits
    monkeypatch.setattr(vendi_module, "_EXACT_MAX_N", 600)
    X = _digits()[:1200]
    r = vendi(X, kernel="rbf", rank=100, check_size=400, seed=0)
    assert r.route == "nystrom" and r.details["within_tolerance"] is True
    assert [t["rank"] for t in r.details["ranks_tried"]][0] == 100
    exact = exact_vendi(X)
    assert abs(r.value - exact) / exact <= TOLERANCE


def test_auto_grows_the_rank_until_the_check_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendi_module, "_EXACT_MAX_N", 100)
    X = standardized_digits(400)
    r = vendi(X, kernel="rbf", rank=25, check_size=200, seed=0)
    tried = r.details["ranks_tried"]
    assert [t["rank"] for t in tried] == [25, 50, 100][: len(tried)]
    errors = [t["approx_error"] for t in tried]
    assert errors == sorted(errors, reverse=True)  # nested landmarks: the error only shrinks
    assert r.details["rank"] == tried[-1]["rank"]


def test_the_metric_reports_the_error_and_tolerance() -> None:
    X = standardized_digits(300)
    res = Vendi(kernel="rbf", route="nystrom", rank=20, check_size=200, tolerance=0.5).compute(
        Table(matrices={"embeddings": X}), seed=0
    )
    assert res.params["tolerance"] == 0.5 and res.params["rank"] == 20
    assert res.details["approx_error"] is not None and "within_tolerance" in res.details


@pytest.mark.parametrize("bad", [0, -0.1, "0.05", True])
def test_bad_tolerance_is_rejected(bad: object) -> None:
    from thresher.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="`tolerance` of vendi"):
        vendi(np.eye(3), kernel="rbf", route="nystrom", tolerance=bad)  # type: ignore[arg-type]
