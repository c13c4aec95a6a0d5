"""Shared fixtures: small tables with every common column, and a local Ray instance."""

from __future__ import annotations

import os

import numpy as np
import pytest

from thresher.data.table import Table

os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")


def make_fixture_table(n: int = 60, seed: int = 0) -> Table:
    """Return the conformance table: 3 labelled clusters in 5-d with probs, groups, costs, text."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centers = rng.normal(scale=4.0, size=(3, 5))
    X = centers[labels] + rng.normal(size=(n, 5))
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    words = ["alpha", "beta", "gamma", "delta", "data", "model", "train", "select"]
    text = np.array([" ".join(rng.choice(words, size=8 + i % 5)) for i in range(n)], dtype=object)
    return Table(
        np.arange(1000, 1000 + n, dtype=np.int64),
        columns={
            "label": labels,
            "group": np.where(np.arange(n) % 4 == 0, "a", "b").astype(object),
            "score.example": rng.random(n),
            "cost": rng.uniform(0.5, 2.0, size=n),
            "text": text,
        },
        matrices={"embeddings": X, "probs": probs},
        meta={"name": "fixture"},
    )


@pytest.fixture
def fixture_table() -> Table:
    return make_fixture_table()


@pytest.fixture(scope="session")
def ray_local():
    """Start a small local Ray instance once per session (skipped if Ray is absent)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
