"""Vendi family and intra-set diversity: closed forms, route agreement, approximations, Ray."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import LocalExecutor
from thresher.metrics.diversity import IntraSetDiversity, intra_set_diversity
from thresher.metrics.kernels import kernel_matrix
from thresher.metrics.row_sources import NpyRows
from thresher.metrics.vendi import Vendi, vendi, vendi_from_eigenvalues, vendi_score

ROUTES_LINEAR = ["exact", "covariance", "streaming"]


@pytest.mark.parametrize("route", ROUTES_LINEAR + ["nystrom"])
@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, 3.7, np.inf])
def test_identical_points_score_one(route: str, q: float) -> None:
    X = np.tile([[0.3, -1.0, 2.0]], (30, 1))
    kernel = "rbf" if route == "nystrom" else "cosine"
    assert vendi_score(X, q, kernel=kernel, route=route, seed=0) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("route", ROUTES_LINEAR)
@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, 0.1, 7.0, np.inf])
def test_orthonormal_points_score_n(route: str, q: float) -> None:
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(12, 9)))
    assert vendi(Q.T, q, kernel="linear", route=route, shard_size=4).value == pytest.approx(9.0, abs=1e-8)


def _with_spectrum(lam: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Rows X (n, len(lam)) whose X^T X / n has eigenvalues exactly ``lam``."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(n, len(lam))))  # orthonormal columns
    V, _ = np.linalg.qr(rng.normal(size=(len(lam), len(lam))))
    return np.sqrt(n) * U @ np.diag(np.sqrt(lam)) @ V.T


@pytest.mark.parametrize("route", ROUTES_LINEAR)
def test_order_q_matches_closed_form_for_known_spectrum(route: str) -> None:
    lam = np.array([0.4, 0.3, 0.2, 0.1])
    X = _with_spectrum(lam, 50)
    closed = {
        0.0: 4.0,
        0.5: np.sum(np.sqrt(lam)) ** 2,
        1.0: np.exp(-np.sum(lam * np.log(lam))),
        2.0: 1.0 / np.sum(lam**2),
        3.0: np.sum(lam**3) ** (-1 / 2),
        np.inf: 1.0 / 0.4,
    }
    for q, expected in closed.items():
        assert vendi(X, q, kernel="linear", route=route, shard_size=7).value == pytest.approx(expected, rel=1e-9)


def test_renyi_order_is_continuous_and_decreasing() -> None:
    lam = np.array([0.5, 0.3, 0.15, 0.05])
    vals = [vendi_from_eigenvalues(lam, q) for q in (0, 0.5, 1 - 1e-7, 1, 1 + 1e-7, 2, 50, np.inf)]
    assert vals[2] == pytest.approx(vals[3], rel=1e-5) and vals[4] == pytest.approx(vals[3], rel=1e-5)
    assert all(a >= b - 1e-12 for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("kernel", ["linear", "cosine"])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, np.inf])
def test_exact_covariance_streaming_agree(kernel: str, q: float) -> None:
    X = np.random.default_rng(3).normal(size=(101, 12)) + 0.5
    values = [vendi(X, q, kernel=kernel, route=r, shard_size=64).value for r in ROUTES_LINEAR]
    assert max(values) - min(values) < 1e-8


def test_streaming_reads_an_npy_file_shard_by_shard(tmp_path) -> None:
    X = np.random.default_rng(4).normal(size=(257, 6))
    path = tmp_path / "x.npy"
    np.save(path, X)
    src = NpyRows(str(path))
    a = vendi(src, 1.0, route="streaming", shard_size=50).value
    b = vendi(np.load(path, mmap_mode="r"), 1.0, route="streaming", shard_size=50).value
    assert a == pytest.approx(vendi(X, 1.0, route="exact").value, abs=1e-8) and a == b


def test_exact_rbf_matches_hand_spectrum() -> None:
    # two points at distance 1 with gamma = ln 2: K = [[1, .5], [.5, 1]], K/2 has eigenvalues 3/4, 1/4
    X = np.array([[0.0], [1.0]])
    expected = np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert vendi_score(X, 1.0, kernel="rbf", gamma=np.log(2), route="exact") == pytest.approx(expected, abs=1e-12)


def test_user_kernel_callable_matches_named_kernel() -> None:
    X = np.random.default_rng(5).normal(size=(80, 4))

    def laplace(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return np.exp(-np.abs(A[:, None, :] - B[None, :, :]).sum(-1))

    K = kernel_matrix(X, laplace)
    lam = np.linalg.eigvalsh(K / len(X))
    assert vendi_score(X, 2.0, kernel=laplace, route="exact") == pytest.approx(1 / np.sum(lam**2), rel=1e-10)
    # Nystrom with every row as a landmark reproduces the kernel exactly
    assert vendi(X, 2.0, kernel=laplace, route="nystrom", rank=80, seed=0).value == pytest.approx(
        1 / np.sum(lam**2), rel=1e-6
    )
    # a callable that returns cosine similarities equals the built-in cosine kernel
    cos = lambda A, B: kernel_matrix(np.vstack([A, B]), "cosine")[: len(A), len(A) :]  # noqa: E731
    assert vendi_score(X, 1.0, kernel=cos, route="exact") == pytest.approx(vendi_score(X, 1.0), rel=1e-9)


def test_nystrom_error_shrinks_with_rank() -> None:
    X = np.random.default_rng(6).normal(size=(250, 5))
    exact = vendi_score(X, 1.0, kernel="rbf", route="exact")
    errs, mass = [], []
    for rank in (5, 20, 80, 250):
        r = vendi(X, 1.0, kernel="rbf", route="nystrom", rank=rank, seed=0, check_size=60)
        errs.append(abs(r.value - exact) / exact)
        mass.append(r.details["missing_kernel_mass"])
        assert 0 <= r.details["approx_error"] <= 1
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert all(a >= b - 1e-12 for a, b in zip(mass, mass[1:])), mass  # nested landmarks: monotone
    assert errs[-1] < 1e-6 and mass[-1] < 1e-8  # all rows as landmarks = exact


def test_rff_approaches_exact_rbf() -> None:
    X = np.random.default_rng(7).normal(size=(200, 3))
    exact = vendi_score(X, 2.0, kernel="rbf", route="exact", gamma=0.3)
    errs = [
        abs(vendi(X, 2.0, kernel="rbf", route="rff", rank=D, gamma=0.3, seed=1, check_size=0).value - exact) / exact
        for D in (20, 1000)
    ]
    assert errs[1] < errs[0] and errs[1] < 0.05


def test_vendi_metric_reports_route_and_error() -> None:
    X = np.random.default_rng(8).normal(size=(300, 4))
    r = Vendi(kernel="rbf", route="nystrom", rank=50, check_size=100).compute(Table(matrices={"embeddings": X}), seed=0)
    assert r.params["route"] == "nystrom" and 0 <= r.details["approx_error"] < 1 and r.details["check_n"] == 100


def test_invalid_parameters_raise_standard_errors() -> None:
    X = np.eye(3)
    with pytest.raises(InvalidParameterError, match="`route` of vendi"):
        vendi(X, route="covariance", kernel="rbf")
    with pytest.raises(InvalidParameterError, match="`q` of vendi"):
        vendi(X, q=-1)
    with pytest.raises(InvalidParameterError, match="`kernel` of vendi"):
        vendi(X, kernel="poly")


def test_intra_set_diversity_matches_pairwise_definition() -> None:
    X = np.random.default_rng(9).normal(size=(37, 4))
    for kernel, q in (("cosine", 1), ("linear", 1), ("cosine", 2), ("rbf", 3)):
        K = kernel_matrix(X, kernel)
        brute = 1.0 - np.mean(K**q)
        assert intra_set_diversity(X, q, kernel=kernel, block=5) == pytest.approx(brute, abs=1e-12)
    assert IntraSetDiversity().compute(Table(matrices={"embeddings": np.eye(5)})).value == pytest.approx(0.8)


@pytest.mark.ray
def test_streaming_local_equals_ray(ray_local) -> None:
    from thresher.execute.ray_executor import RayExecutor

    X = np.random.default_rng(10).normal(size=(1000, 8))
    local = vendi(X, 1.0, route="streaming", shard_size=128, executor=LocalExecutor())
    remote = vendi(X, 1.0, route="streaming", shard_size=128, executor=RayExecutor())
    assert local.value == remote.value
    ln = vendi(X, 1.0, kernel="rbf", route="nystrom", rank=64, shard_size=128, seed=3, executor=LocalExecutor())
    rn = vendi(X, 1.0, kernel="rbf", route="nystrom", rank=64, shard_size=128, seed=3, executor=RayExecutor())
    assert ln.value == rn.value
