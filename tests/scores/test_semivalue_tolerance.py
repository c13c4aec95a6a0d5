"""Sampled semivalues say when they stop short of the standard error their rule asks for."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from thresher.scores.samplers import MSRSampler, PermutationSampler
from thresher.scores.semivalues import compute_semivalues
from thresher.scores.stopping import MaxUpdates, StandardError
from thresher.scores.utility import KNNUtility


def _utility() -> KNNUtility:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 2))
    y = (X[:, 0] > 0).astype(int)
    Xv = rng.normal(size=(6, 2))
    return KNNUtility(X, y, Xv, (Xv[:, 0] > 0).astype(int), k=3)


@pytest.mark.parametrize("sampler", [PermutationSampler(), MSRSampler()])
def test_stopping_short_of_the_target_warns(sampler, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="thresher.scores.semivalues"):
        r = compute_semivalues(_utility(), sampler, StandardError(1e-6) | MaxUpdates(16), seed=0, batch_size=8)
    assert r.n_updates == 16
    assert r.params["stderr_target"] == 1e-6 and r.params["within_tolerance"] is False
    assert r.params["max_stderr"] == pytest.approx(float(np.max(r.stderr))) and np.max(r.stderr) > 1e-6
    assert any("above the target" in m for m in caplog.messages)


def test_reaching_the_target_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="thresher.scores.semivalues"):
        r = compute_semivalues(_utility(), PermutationSampler(), StandardError(10.0) | MaxUpdates(1000), seed=0)
    assert r.n_updates < 1000 and r.params["within_tolerance"] is True
    assert r.params["max_stderr"] <= 10.0 and not caplog.messages


def test_no_target_no_claim() -> None:
    r = compute_semivalues(_utility(), PermutationSampler(), MaxUpdates(8), seed=0)
    assert r.params["stderr_target"] is None and r.params["within_tolerance"] is None
