"""Label issues by confident learning, from out-of-fold predicted probabilities.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR 70, 2021. With out-of-fold probabilities ``P`` (see
:func:`thresher.signals.out_of_fold_probs`) and given labels ``y``:

1. per-class thresholds ``t_j`` = mean of ``P[i, j]`` over rows labelled ``j``;
2. the **confident joint** ``C[i, j]`` counts rows labelled ``i`` whose probability for
   ``j`` is at least ``t_j`` (the arg-max class when several pass), diagonal at least 1;
3. **calibration**: rows of ``C`` rescaled to the label counts, the total to ``n``
   (integer counts preserving row totals), giving the joint ``Q[i, j] ~ P(label=i, true=j)``,
   the noise matrix ``P(label=i | true=j)`` (columns sum to 1) and the inverse noise matrix
   ``P(true=j | label=i)`` (rows sum to 1);
4. the **issue set**: ``prune_by_noise_rate`` flags, for each off-diagonal ``(i, j)``, the
   ``Q[i, j]`` rows labelled ``i`` with the largest margin ``P[:, j] - P[:, i]``;
   ``prune_by_class`` flags, per class ``i``, the ``n_i - Q[i, i]`` rows labelled ``i``
   with the lowest ``P[:, i]``; ``both`` intersects them. As in cleanlab, a row whose
   arg-max prediction is its given label is never flagged.

Label quality scores are the existing ``self_confidence`` and ``margin`` (normalized
margin) scorers in :mod:`thresher.scores.uncertainty`; this module adds the issue flag
(as the ``label_issue`` scorer, values 0.0/1.0, and as :func:`find_label_issues`, which
returns a typed result with a boolean ``.flags`` and ``.columns()`` for the run directory:
``flag.label_issue`` plus ``score.label_quality``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_int, check_matrix, fail
from thresher.data.table import Table
from thresher.errors import DataError
from thresher.scores.base import BaseScorer
from thresher.signals.oof import label_codes

__all__ = [
    "confident_thresholds",
    "confident_joint",
    "calibrate_joint",
    "estimate_noise",
    "NoiseEstimate",
    "LabelIssues",
    "find_label_issues",
    "LabelIssue",
]

_TOL = 1e-6  # probability ties at a threshold count as confident (cleanlab's tolerance)


def _check(codes: Any, probs: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    P = check_matrix(probs, "probs", owner)
    y = np.asarray(codes)
    if y.ndim != 1 or len(y) != P.shape[0]:
        raise fail("labels", owner, f"a 1-D array of {P.shape[0]} class codes (one per row of probs)", y)
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= P.shape[1])):
        raise fail("labels", owner, f"integer codes in 0..{P.shape[1] - 1}", y)
    return y.astype(np.int64), P


def confident_thresholds(labels: Any, probs: Any) -> np.ndarray:
    """Return the per-class thresholds: mean self-confidence of the rows given each class.

    Examples
    --------
    >>> import numpy as np
    >>> confident_thresholds(np.array([0, 0, 1]), np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])).tolist()
    [0.7, 0.7]
    """
    y, P = _check(labels, probs, "confident_thresholds")
    K = P.shape[1]
    counts = np.bincount(y, minlength=K)
    sums = np.bincount(y, weights=P[np.arange(len(y)), y], minlength=K)
    # a class nobody is labelled with gets threshold 1 + tol: nothing is confidently it
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0 + 2 * _TOL)


def _true_label_guess(P: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    above = P >= thresholds[None, :] - _TOL
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, P.argmax(axis=1), above.argmax(axis=1))
    return guess, n_above > 0


def confident_joint(labels: Any, probs: Any) -> np.ndarray:
    """Return the (uncalibrated) confident joint ``C[given, true]`` as integer counts.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    >>> confident_joint(np.array([0, 0, 0, 1, 1]), P).tolist()  # row 2 is labelled 0 but confidently 1
    [[2, 1], [0, 1]]
    """
    y, P = _check(labels, probs, "confident_joint")
    K = P.shape[1]
    guess, confident = _true_label_guess(P, confident_thresholds(y, P))
    C = np.zeros((K, K), dtype=np.int64)
    np.add.at(C, (y[confident], guess[confident]), 1)
    np.fill_diagonal(C, np.maximum(np.diag(C), 1))
    return C


def _round_preserving_sum(x: np.ndarray) -> np.ndarray:
    """Round to integers keeping the (rounded) total.

    Round half to even, then move the entries with the largest rounding loss up (or the
    largest gain down) one unit each until the total is right. This is cleanlab's
    ``round_preserving_sum`` rule (ties in the loss ordered by NumPy's default argsort, as
    there), so calibrated joints agree with cleanlab's.
    """
    ints = np.round(x)
    target = float(np.round(x.sum()))
    while (missing := int(round(target - ints.sum()))) != 0:
        step = 1 if missing > 0 else -1
        loss = x - ints
        # NumPy's default argsort, as cleanlab's: equal losses are then ordered exactly as there
        idx = np.argsort(loss)[::-step][: min(abs(missing), len(x))]
        ints[idx] += step
    return ints.astype(np.int64)


def calibrate_joint(C: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rescale a confident joint so row ``i`` sums to ``label_counts[i]`` (integer counts).

    Examples
    --------
    >>> calibrate_joint(np.array([[2, 1], [0, 1]]), np.array([3, 1])).tolist()
    [[2, 1], [0, 1]]
    """
    C = np.asarray(C, dtype=np.float64)
    counts = np.asarray(label_counts, dtype=np.float64)
    rows = C / np.maximum(C.sum(axis=1, keepdims=True), 1e-300) * counts[:, None]
    rows = rows / max(rows.sum(), 1e-300) * counts.sum()
    return np.vstack([_round_preserving_sum(r) for r in rows])


@dataclass(frozen=True)
class NoiseEstimate:
    """Confident-learning estimates: counts and the noise matrices (index order = ``classes``)."""

    classes: np.ndarray
    confident_joint: np.ndarray  # raw C[given, true]
    calibrated_joint: np.ndarray  # integer counts, rows sum to the label counts
    joint: np.ndarray  # P(label = i, true = j)
    noise_matrix: np.ndarray  # P(label = i | true = j), columns sum to 1
    inverse_noise_matrix: np.ndarray  # P(true = j | label = i), rows sum to 1
    true_prior: np.ndarray  # P(true = j)

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(self).items()}


def estimate_noise(labels: Any, probs: Any, classes: Any = None) -> NoiseEstimate:
    """Estimate the joint of given and true labels and the noise matrices by confident learning.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    >>> est = estimate_noise(np.array([0, 0, 0, 1, 1]), P)
    >>> est.calibrated_joint.tolist(), est.noise_matrix.round(3).tolist()  # a third of the true 1s carry label 0
    ([[2, 1], [0, 2]], [[1.0, 0.333], [0.0, 0.667]])
    """
    y, P = _check(labels, probs, "estimate_noise")
    K = P.shape[1]
    C = confident_joint(y, P)
    cal = calibrate_joint(C, np.bincount(y, minlength=K))
    joint = cal / max(cal.sum(), 1)
    true_prior = joint.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.where(true_prior[None, :] > 0, joint / np.maximum(true_prior[None, :], 1e-300), 0.0)
        given = joint.sum(axis=1, keepdims=True)
        inverse = np.where(given > 0, joint / np.maximum(given, 1e-300), 0.0)
    cls = np.arange(K) if classes is None else np.asarray(classes)
    return NoiseEstimate(cls, C, cal, joint, noise, inverse, true_prior)


@dataclass(frozen=True)
class LabelIssues:
    """Result of :func:`find_label_issues`: which rows look mislabelled, and why."""

    flags: np.ndarray  # bool (n,), True = likely label issue
    quality: np.ndarray  # self-confidence P[i, y_i] (lower = worse)
    margin: np.ndarray  # normalized margin P[i, y_i] - max_{j != y_i} P[i, j]
    suggested: np.ndarray  # arg-max class code per row
    noise: NoiseEstimate
    filter_by: str

    @property
    def n_issues(self) -> int:
        return int(self.flags.sum())

    def ranked(self) -> np.ndarray:
        """Return positions of the flagged rows, worst (lowest self-confidence) first."""
        pos = np.flatnonzero(self.flags)
        return pos[np.argsort(self.quality[pos], kind="stable")]

    def columns(self) -> dict[str, np.ndarray]:
        """Return the columns to store: ``flag.label_issue`` (0/1) and ``score.label_quality``."""
        return {"flag.label_issue": self.flags.astype(np.float64), "score.label_quality": self.quality}


def find_label_issues(
    labels: Any,
    probs: Any,
    *,
    filter_by: str = "prune_by_noise_rate",
    min_examples_per_class: int = 1,
    classes: Any = None,
) -> LabelIssues:
    """Flag rows whose given label is likely wrong, by confident learning.

    Parameters
    ----------
    labels
        Given labels as integer codes 0..K-1 (columns of ``probs``).
    probs
        Out-of-fold predicted probabilities (n, K).
    filter_by
        ``"prune_by_noise_rate"``, ``"prune_by_class"`` or ``"both"``.
    min_examples_per_class
        Never leave a class with fewer rows than this.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    >>> find_label_issues(np.array([0, 0, 0, 1, 1]), P).flags.tolist()
    [False, False, True, False, False]
    """
    owner = "find_label_issues"
    check_choice(filter_by, "filter_by", owner, ("prune_by_noise_rate", "prune_by_class", "both"))
    check_int(min_examples_per_class, "min_examples_per_class", owner, low=0)
    y, P = _check(labels, probs, owner)
    if len(y) == 0:
        raise DataError("find_label_issues needs at least one row; got none.")
    n, K = P.shape
    est = estimate_noise(y, P, classes)
    cal = est.calibrated_joint.copy()
    counts = np.bincount(y, minlength=K)
    # keep at least min_examples_per_class rows per class: raise the diagonal, shrink that row's noise
    for i in range(K):
        need = min(min_examples_per_class, counts[i]) - cal[i, i]
        off = [j for j in range(K) if j != i and cal[i, j] > 0]
        while need > 0 and off:
            j = max(off, key=lambda c: cal[i, c])
            cal[i, j] -= 1
            cal[i, i] += 1
            need -= 1
            off = [c for c in off if cal[i, c] > 0]
    rows = np.arange(n)
    by_noise = np.zeros(n, dtype=bool)
    by_class = np.zeros(n, dtype=bool)
    for i in range(K):
        members = np.flatnonzero(y == i)
        if len(members) <= min_examples_per_class:
            continue
        if filter_by in ("prune_by_noise_rate", "both"):
            for j in range(K):
                if j != i and cal[i, j] > 0:
                    margin_ij = P[members, j] - P[members, i]
                    by_noise[members[np.argsort(-margin_ij, kind="stable")[: cal[i, j]]]] = True
        if filter_by in ("prune_by_class", "both"):
            n_remove = len(members) - cal[i, i]
            if n_remove > 0:
                by_class[members[np.argsort(P[members, i], kind="stable")[:n_remove]]] = True
    flags = {"prune_by_noise_rate": by_noise, "prune_by_class": by_class, "both": by_noise & by_class}[filter_by]
    given = P[rows, y]
    bumped = P.copy()
    bumped[rows, y] += _TOL
    suggested = P.argmax(axis=1)
    flags = flags & (bumped.argmax(axis=1) != y)  # never flag a row the model agrees with
    others = P.copy()
    others[rows, y] = -np.inf
    margin = given - others.max(axis=1) if K > 1 else np.zeros(n)
    return LabelIssues(flags, given, margin, suggested, est, filter_by)


@register_scorer("label_issue")
class LabelIssue(BaseScorer):
    """Flag likely label errors by confident learning (1.0 = issue, 0.0 = fine).

    A flag exposed as a scorer so any selector can drop flagged rows (lower is better).
    :func:`find_label_issues` returns the same flags with the noise matrix and quality scores.

    Parameters
    ----------
    filter_by
        ``"prune_by_noise_rate"``, ``"prune_by_class"`` or ``"both"``.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    >>> t = Table(columns={"label": np.array([0, 0, 0, 1, 1])}, matrices={"probs": P})
    >>> LabelIssue().score(t).tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0]
    """

    name = "label_issue"
    higher_is_better = False
    requires = frozenset({"label", "probs"})

    def __init__(self, filter_by: str = "prune_by_noise_rate") -> None:
        self.filter_by = filter_by

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        codes, classes = label_codes(table, type(self).__name__)
        P = table.probs
        if P.shape[1] < len(classes):
            raise DataError(f"`probs` of LabelIssue must have one column per class ({len(classes)}); got {P.shape[1]}.")
        return find_label_issues(codes, P, filter_by=self.filter_by, classes=classes).flags.astype(np.float64)
