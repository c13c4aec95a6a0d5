"""The ``threads`` setting: BLAS (threadpoolctl's report) and torch follow it inside thresher's calls only."""

from __future__ import annotations

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import thresher
from thresher._registry import SIGNALS
from thresher._threads import default_threads, follows_threads, get_threads, set_threads, threads
from thresher.errors import InvalidParameterError

CORES = len(os.sched_getaffinity(0))


def blas_threads() -> set[int]:
    """The thread counts threadpoolctl reports for every BLAS/OpenMP pool loaded now."""
    return {int(p["num_threads"]) for p in threadpool_info()}


@pytest.fixture(autouse=True)
def _reset_setting():
    yield
    set_threads(None)


def _other_than(current: set[int]) -> int:
    """A limit different from every pool's current count (1 unless they are all at 1)."""
    return 2 if current == {1} else 1


def test_threads_limits_blas_and_torch_inside_and_restores_both_after() -> None:
    torch = pytest.importorskip("torch")
    if CORES < 2:
        pytest.skip("needs 2 cores to set a limit other than 1")
    before_blas, before_torch = blas_threads(), torch.get_num_threads()
    n = _other_than(before_blas | {before_torch})
    with thresher.threads(n) as used:
        assert used == n
        assert blas_threads() == {n}  # every loaded BLAS/OpenMP pool reports the limit
        assert torch.get_num_threads() == n
        assert get_threads() == n
    assert blas_threads() == before_blas
    assert torch.get_num_threads() == before_torch


def test_blocks_nest_and_none_means_the_current_setting() -> None:
    set_threads(1)
    with threads() as outer:
        assert outer == 1 and blas_threads() == {1}
        if CORES >= 2:
            with threads(2):
                assert get_threads() == 2 and blas_threads() == {2}
                with threads() as inner:
                    assert inner == 2  # an enclosing block's limit, not the process setting
            assert blas_threads() == {1}
    set_threads(None)
    assert get_threads() == default_threads()


def test_default_is_the_cores_capped_by_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == CORES
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(CORES + 64))
    assert default_threads() == CORES  # the user's limit is respected, never raised past the cores


def test_the_environment_is_never_written() -> None:
    before = dict(os.environ)
    with threads(1):
        assert dict(os.environ) == before
    assert dict(os.environ) == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="`threads`"):
        set_threads(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="`threads`"):
        with threads(bad):  # type: ignore[arg-type]
            pass


def test_follows_threads_uses_the_call_argument_then_the_setting() -> None:
    @follows_threads
    def work(x: int, *, threads: int | None = None) -> tuple[int, set[int]]:
        return get_threads(), blas_threads()

    set_threads(1)
    assert work(0) == (1, {1})
    if CORES >= 2:
        assert work(0, threads=2) == (2, {2})
    assert get_threads() == 1


def test_out_of_fold_probs_fits_under_the_setting() -> None:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.linear_model import LogisticRegression

    from thresher.data.datasets import load_digits
    from thresher.signals.oof import out_of_fold_probs

    seen: list[set[int]] = []

    class Spy(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            seen.append(blas_threads())
            self.model_ = LogisticRegression(max_iter=200).fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict_proba(self, X):
            return self.model_.predict_proba(X)

    t = load_digits().take(range(200))
    n = _other_than(blas_threads())
    if n == 2 and CORES < 2:
        pytest.skip("needs 2 cores")
    set_threads(n)
    P, _ = out_of_fold_probs(t, Spy(), n_splits=3, seed=0)
    assert seen == [{n}] * 3
    assert np.allclose(P.sum(axis=1), 1.0)
    assert blas_threads() != {n}  # restored after the call


def test_the_mlp_trains_with_torch_at_the_limit() -> None:
    torch = pytest.importorskip("torch")
    from thresher.evaluate.torch_models import MLPModel, train_classifier

    seen: list[int] = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):
            seen.append(torch.get_num_threads())
            return self.lin(x)

    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    before = torch.get_num_threads()
    n = 2 if before == 1 and CORES >= 2 else 1
    train_classifier(X, y, model=Spy(), epochs=1, batch_size=10, threads=n)
    assert seen and set(seen) == {n}
    assert torch.get_num_threads() == before
    seen.clear()
    set_threads(n)
    train_classifier(X, y, model=Spy(), epochs=1, batch_size=10)  # no argument: the setting
    assert set(seen) == {n}
    assert MLPModel().threads is None  # the reference MLP follows the setting by default


def test_every_registered_signal_follows_the_setting() -> None:
    missing = [e.name for e in SIGNALS.entries() if not getattr(e.cls.compute, "__thresher_follows_threads__", False)]
    assert not missing, f"signals whose compute does not run under threads(): {missing}"


def test_recipe_threads_is_validated_and_applied(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from thresher import pipeline

    recipe = pipeline.Recipe.from_dict({"data": {"dataset": "digits"}, "run": {"threads": 1}})
    assert recipe.threads == 1 and "threads" not in recipe.to_dict()["run"]
    with pytest.raises(InvalidParameterError, match=r"`threads` of \[run\] must be an integer >= 1; got 0"):
        pipeline.Recipe.from_dict({"data": {"dataset": "digits"}, "run": {"threads": 0}})

    class Stop(Exception):
        pass

    seen = []

    def spy(*args, **kwargs):
        seen.append((get_threads(), blas_threads()))
        raise Stop

    monkeypatch.setattr(pipeline, "ensure_signals", spy)
    with pytest.raises(Stop):
        pipeline.run_recipe(recipe, tmp_path / "run")
    assert seen == [(1, {1})]


def test_cli_threads_option_applies_to_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from typer.testing import CliRunner

    from thresher import cli, pipeline

    seen = []

    def spy(*args, **kwargs):
        seen.append(get_threads())
        return args[0]

    monkeypatch.setattr(pipeline, "run_scores", spy)
    res = CliRunner().invoke(cli.app, ["score", "-d", "digits", "-s", "margin", "-r", str(tmp_path / "r"), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert seen == [1]
    assert get_threads() == default_threads()  # nothing leaks past the command
