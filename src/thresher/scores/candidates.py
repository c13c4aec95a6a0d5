"""Per-prompt group scores of candidate tables: reward/correctness variance (homogeneity) and Vendi diversity.

Group-relative RL (GRPO: Shao et al., "DeepSeekMath", 2024) normalises rewards within the
group of responses to one prompt, so a group whose responses are all right or all wrong
has zero advantage and teaches nothing; DAPO (Yu et al., 2025) filters such prompts out
("dynamic sampling"). :class:`GroupVariance` scores every row with its group's variance
(zero = homogeneous) and :func:`homogeneous_groups` flags them. :class:`GroupVendi` scores
every row with the Vendi diversity of its group's responses (Friedman & Dieng, "The
Vendi Score", TMLR 2023).
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_float
from thresher.data.candidates import CORRECT, PROMPT_ID, RESPONSE, group_codes
from thresher.data.table import Table
from thresher.scores.base import BaseScorer

__all__ = ["GroupVariance", "GroupVendi", "homogeneous_groups"]


def _group_stat(codes: np.ndarray, n_groups: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(v)
    cnt = np.bincount(codes[ok], minlength=n_groups)
    s = np.bincount(codes[ok], weights=v[ok], minlength=n_groups)
    mean = np.divide(s, cnt, out=np.full(n_groups, np.nan), where=cnt > 0)
    sq = np.bincount(codes[ok], weights=(v[ok] - mean[codes[ok]]) ** 2, minlength=n_groups)
    var = np.divide(sq, cnt, out=np.full(n_groups, np.nan), where=cnt > 0)
    return mean, var


@register_scorer("group_variance")
class GroupVariance(BaseScorer):
    """Score each candidate by the variance of ``by`` (correctness or a reward) within its prompt group.

    For 0/1 correctness this is p(1 - p) with p the group's accuracy: zero for all-right
    or all-wrong groups, which give group-relative RL no signal (GRPO, Shao et al. 2024;
    DAPO dynamic sampling, Yu et al. 2025). Population variance (``ddof=0``).

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a", "a", "b", "b"], ["w", "x", "y", "z"], correct=[1, 0, 1, 1])
    >>> GroupVariance().score(t).tolist()
    [0.25, 0.25, 0.0, 0.0]
    """

    name = "group_variance"
    requires = frozenset({PROMPT_ID})

    def __init__(self, by: str = CORRECT) -> None:
        self.by = by

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        table.require([self.by], type(self).__name__)
        codes, n_groups = group_codes(table.column(PROMPT_ID))
        _, var = _group_stat(codes, n_groups, np.asarray(table.column(self.by), dtype=np.float64))
        return var[codes]

    @classmethod
    def conformance_table(cls) -> Table:
        from thresher.select.candidates import example_candidate_table

        return example_candidate_table()


def homogeneous_groups(table: Table, by: str = CORRECT, tol: float = 0.0) -> np.ndarray:
    """Return ``flag.homogeneous_group``: rows whose prompt group has (near) zero variance of ``by``.

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a", "a", "b", "b"], ["w", "x", "y", "z"], correct=[1, 0, 0, 0])
    >>> homogeneous_groups(t).tolist()
    [False, False, True, True]
    """
    check_float(tol, "tol", "homogeneous_groups", low=0.0)
    return np.asarray(GroupVariance(by=by).score(table) <= tol)


@register_scorer("group_vendi")
class GroupVendi(BaseScorer):
    """Score each candidate by the Vendi score of its prompt group's responses (effective number of distinct ones).

    Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine
    Learning" (TMLR 2023), with a cosine kernel on ``features``: a matrix of the table
    (``"embeddings"``) or ``"tfidf"`` (TF-IDF of the ``response`` text, fitted on the
    whole table). Ranges from 1 (all alike) to the group size.

    Parameters
    ----------
    features
        ``"embeddings"`` or another matrix name, or ``"tfidf"``.
    q
        Order of the Vendi score.

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a"] * 4, ["red cat", "red cat", "red cat", "blue dog"])
    >>> [round(v, 3) for v in GroupVendi(features="tfidf").score(t).tolist()]
    [1.0, 1.0, 2.0, 2.0]
    """

    name = "group_vendi"
    requires = frozenset({PROMPT_ID})

    def __init__(self, features: str = "embeddings", q: float = 1.0) -> None:
        self.features = features
        self.q = q

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.metrics.vendi import vendi_score

        owner = type(self).__name__
        if self.features == "tfidf":
            from sklearn.feature_extraction.text import TfidfVectorizer

            table.require([RESPONSE], owner)
            docs = [str(x) for x in table.column(RESPONSE)]
            X = TfidfVectorizer().fit_transform(docs).toarray() if any(d.split() for d in docs) else np.zeros((len(docs), 1))
        else:
            check_choice(self.features, "features", owner, ["tfidf", *table.matrix_names])
            X = np.asarray(table.matrix(self.features), dtype=np.float64)
        codes, n_groups = group_codes(table.column(PROMPT_ID))
        out = np.empty(n_groups)
        for g in range(n_groups):
            rows = X[codes == g]
            norms = np.linalg.norm(rows, axis=1)
            rows = rows[norms > 0]  # an empty response has no direction: it adds no diversity
            out[g] = 1.0 if len(rows) <= 1 else vendi_score(rows, q=self.q, kernel="cosine", route="exact")
        return out[codes]

    @classmethod
    def conformance_table(cls) -> Table:
        from thresher.select.candidates import example_candidate_table

        return example_candidate_table()
