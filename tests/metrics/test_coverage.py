"""PRDC and probabilistic precision/recall: self-consistency, brute force, peer package."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.metrics.coverage import Coverage, Density, PPrecision, PRecall, Precision, Recall, prdc


def brute_prdc(X: np.ndarray, Y: np.ndarray, k: int, a: float = 1.2, kp: int = 4) -> dict[str, float]:
    """Naeem et al. 2020 and Park & Kim 2023 straight from the definitions, with loops."""
    n, m = len(X), len(Y)
    dxx = np.array([[np.linalg.norm(x - z) for z in X] for x in X])
    dyy = np.array([[np.linalg.norm(y - z) for z in Y] for y in Y])
    dxy = np.array([[np.linalg.norm(x - y) for y in Y] for x in X])
    rx = np.array([sorted(row)[k] for row in dxx])  # sorted(row)[0] is the point itself
    ry = np.array([sorted(row)[k] for row in dyy])
    precision = np.mean([any(dxy[i, j] < rx[i] for i in range(n)) for j in range(m)])
    recall = np.mean([any(dxy[i, j] < ry[j] for j in range(m)) for i in range(n)])
    density = np.mean([sum(dxy[i, j] < rx[i] for i in range(n)) for j in range(m)]) / k
    coverage = np.mean([min(dxy[i]) < rx[i] for i in range(n)])
    RX = a * np.mean([sorted(row)[kp] for row in dxx])
    RY = a * np.mean([sorted(row)[kp] for row in dyy])
    pprec = np.mean([1 - np.prod([1 - max(0.0, 1 - dxy[i, j] / RX) for i in range(n)]) for j in range(m)])
    prec_ = np.mean([1 - np.prod([1 - max(0.0, 1 - dxy[i, j] / RY) for j in range(m)]) for i in range(n)])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage, p_precision=pprec, p_recall=prec_)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    Y = rng.normal(size=(33, 3)) * 1.3 + 0.4
    got = prdc(X, Y, k, block_x=7, block_y=5).to_dict()
    want = brute_prdc(X, Y, k)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_set_against_itself() -> None:
    X = np.random.default_rng(3).normal(size=(200, 4))
    r = prdc(X, X, 5, block_x=64, block_y=50)
    assert (r.precision, r.recall, r.coverage) == (1.0, 1.0, 1.0)
    # each ball holds its centre and k - 1 neighbours (the k-th lies on the open ball's sphere)
    assert r.density == pytest.approx(1.0, abs=1e-12)
    assert r.p_precision == pytest.approx(1.0) and r.p_recall == pytest.approx(1.0)


def test_matches_prdc_package() -> None:
    peer = pytest.importorskip("prdc")
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(300, 6)), rng.normal(size=(250, 6)) + 0.5
    want = peer.compute_prdc(X, Y, 5)
    got = prdc(X, Y, 5, probabilistic=False, block_x=100, block_y=64)
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(got, name) == pytest.approx(float(want[name]), abs=1e-12)


def test_shift_lowers_fidelity_and_coverage() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    near = prdc(X, rng.normal(size=(300, 2)), 5)
    far = prdc(X, rng.normal(size=(300, 2)) + 3.0, 5)
    for name in ("precision", "recall", "density", "coverage", "p_precision", "p_recall"):
        assert getattr(far, name) < getattr(near, name) - 0.2, name


def test_registered_metrics_agree_with_function() -> None:
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    ref, tab = Table(matrices={"embeddings": X}), Table(matrices={"embeddings": Y})
    r = prdc(X, Y, 4)
    for cls, attr in ((Precision, "precision"), (Recall, "recall"), (Density, "density"), (Coverage, "coverage"),
                      (PPrecision, "p_precision"), (PRecall, "p_recall")):
        assert cls(k=4).compute(tab, reference=ref).value == pytest.approx(getattr(r, attr), abs=1e-12)


def test_invalid_k() -> None:
    with pytest.raises(InvalidParameterError, match="`k` of prdc"):
        prdc(np.eye(3), np.eye(3), k=5)
