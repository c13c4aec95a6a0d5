"""Confident learning: planted noise matrices are recovered; agreement with cleanlab."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.scores.labels import (
    LabelIssue,
    calibrate_joint,
    confident_joint,
    estimate_noise,
    find_label_issues,
)


def planted(n: int = 9000, seed: int = 0):
    """True labels, a planted noise matrix T[i, j] = P(label=i | true=j), noisy labels and model probs."""
    rng = np.random.default_rng(seed)
    K = 3
    true = rng.integers(0, K, size=n)
    T = np.array([[0.8, 0.1, 0.0], [0.15, 0.9, 0.2], [0.05, 0.0, 0.8]])
    noisy = np.array([rng.choice(K, p=T[:, j]) for j in true])
    # a good model of the TRUE class: mostly confident, sometimes unsure
    logits = rng.normal(scale=1.0, size=(n, K)) + 4.0 * np.eye(K)[true]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return true, noisy, T, P


def test_recovers_planted_noise_matrix() -> None:
    true, noisy, T, P = planted()
    est = estimate_noise(noisy, P)
    np.testing.assert_allclose(est.noise_matrix, T, atol=0.03)
    np.testing.assert_allclose(est.noise_matrix.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(est.inverse_noise_matrix.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(est.calibrated_joint.sum(axis=1), np.bincount(noisy, minlength=3))
    assert est.calibrated_joint.sum() == len(noisy)


def test_issue_set_finds_flipped_labels() -> None:
    true, noisy, _, P = planted(seed=1)
    flipped = true != noisy
    for filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
        r = find_label_issues(noisy, P, filter_by=filter_by)
        precision = (r.flags & flipped).sum() / r.flags.sum()
        recall = (r.flags & flipped).sum() / flipped.sum()
        assert precision > 0.9 and recall > 0.8, (filter_by, precision, recall)


def test_hand_computed_confident_joint() -> None:
    # thresholds: class 0 = mean(.9, .8, .2) = .633, class 1 = mean(.9, .7) = .8
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    y = np.array([0, 0, 0, 1, 1])
    C = confident_joint(y, P)  # row 4 (.3, .7) passes no threshold and is not counted
    assert C.tolist() == [[2, 1], [0, 1]]
    assert calibrate_joint(C, np.array([3, 2])).tolist() == [[2, 1], [0, 2]]
    assert find_label_issues(y, P).flags.tolist() == [False, False, True, False, False]




@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
def test_agrees_with_cleanlab(filter_by: str) -> None:
    cl_filter = pytest.importorskip("cleanlab.filter")
    cl_count = pytest.importorskip("cleanlab.count")
    rng = np.random.default_rng(2)
    n, K = 600, 4
    y = rng.integers(0, K, size=n)
    P = rng.dirichlet(np.ones(K) * 0.7, size=n)
    P[np.arange(n), y] += 0.5 * rng.random(n)  # labels carry some signal
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(confident_joint(y, P), cl_count.compute_confident_joint(y, P, calibrate=False))
    np.testing.assert_array_equal(estimate_noise(y, P).calibrated_joint, cl_count.compute_confident_joint(y, P))
    ours = find_label_issues(y, P, filter_by=filter_by).flags
    theirs = cl_filter.find_label_issues(y, P, filter_by=filter_by, n_jobs=1)
    # no ties in these probabilities, so the orderings (and the issue sets) are identical
    np.testing.assert_array_equal(ours, theirs)


def test_scorer_uses_table_classes_and_rejects_bad_filter() -> None:
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    t = Table(columns={"label": np.array(["a", "a", "a", "b", "b"], dtype=object)}, matrices={"probs": P},
              meta={"classes": ["a", "b"]})
    assert LabelIssue().score(t).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    with pytest.raises(InvalidParameterError, match="`filter_by` of find_label_issues"):
        find_label_issues(np.array([0, 1]), np.eye(2), filter_by="nope")


def test_calibration_rounding_equals_cleanlab_on_ties() -> None:
    cl_count = pytest.importorskip("cleanlab.count")
    rng = np.random.default_rng(4)
    for _ in range(50):
        K = int(rng.integers(2, 8))
        C = rng.integers(0, 6, size=(K, K)) * 2  # even counts: many .5 remainders after rescaling
        np.fill_diagonal(C, np.maximum(np.diag(C), 1))
        labels = rng.integers(0, K, size=int(rng.integers(K, 60)))
        labels[:K] = np.arange(K)
        ours = calibrate_joint(C, np.bincount(labels, minlength=K))
        np.testing.assert_array_equal(ours, cl_count.calibrate_confident_joint(C, labels))
