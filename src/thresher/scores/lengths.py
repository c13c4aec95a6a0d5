"""Length scores of post-training data: response length and the chosen-minus-rejected length difference.

Length bias is the first thing to check in preference data (Singhal et al., "A Long Way
to Go: Investigating Length Correlations in RLHF", 2023): if chosen responses are simply
longer, a reward model or DPO learns length. :func:`length_statistics` summarises it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice
from thresher.data.table import Table
from thresher.scores.base import BaseScorer

__all__ = ["LengthDifference", "ResponseLength", "text_lengths", "length_statistics"]

_UNITS = ("words", "chars", "tokens")


def text_lengths(texts: Any, unit: str = "words") -> np.ndarray:
    """Return the length of each text in words (whitespace-separated) or characters.

    Examples
    --------
    >>> text_lengths(["a b c", "", "hi"]).tolist(), text_lengths(["a b"], "chars").tolist()
    ([3.0, 0.0, 1.0], [3.0])
    """
    check_choice(unit, "unit", "text_lengths", ("words", "chars"))
    f = (lambda s: len(s.split())) if unit == "words" else len
    return np.array([f("" if t is None else str(t)) for t in texts], dtype=np.float64)


def _side_lengths(table: Table, unit: str, owner: str) -> np.ndarray:
    check_choice(unit, "unit", owner, _UNITS)
    if unit == "tokens":
        table.require(["lm.n_tokens"], owner)
        return np.asarray(table.matrix("lm.n_tokens"), dtype=np.float64)
    table.require(["chosen", "rejected"], owner)
    return np.stack([text_lengths(table.column("chosen"), unit), text_lengths(table.column("rejected"), unit)], axis=1)


@register_scorer("length_difference")
class LengthDifference(BaseScorer):
    """Score pairs by the chosen-minus-rejected length (words, characters or LM tokens).

    Large positive values are the length-biased pairs (Singhal et al., 2023).

    Parameters
    ----------
    unit
        ``"words"``, ``"chars"`` or ``"tokens"`` (reads ``lm.n_tokens``).

    Examples
    --------
    >>> from thresher.data.pairs import pair_table
    >>> LengthDifference().score(pair_table(["q"], ["a long answer"], ["short"])).tolist()
    [2.0]
    """

    name = "length_difference"
    higher_is_better = False
    requires = frozenset()

    def __init__(self, unit: str = "words") -> None:
        self.unit = unit

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        n = _side_lengths(table, self.unit, type(self).__name__)
        return n[:, 0] - n[:, 1]

    @classmethod
    def conformance_table(cls) -> Table:
        from thresher.scores.pairs import example_pair_table

        return example_pair_table()


@register_scorer("response_length")
class ResponseLength(BaseScorer):
    """Score rows by the length of a text column (``response`` by default) in words or characters.

    A plain length column, so length quotas and length-matched selections are one recipe
    line (Zhao et al., "Long Is More for Alignment", ICML 2024, select the longest).

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> ResponseLength().score(candidate_table([0, 0], ["q", "q"], ["a b", "c"])).tolist()
    [2.0, 1.0]
    """

    name = "response_length"
    requires = frozenset()

    def __init__(self, text_column: str = "response", unit: str = "words") -> None:
        self.text_column = text_column
        self.unit = unit

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        table.require([self.text_column], type(self).__name__)
        check_choice(self.unit, "unit", type(self).__name__, ("words", "chars"))
        return text_lengths(table.column(self.text_column), self.unit)

    @classmethod
    def conformance_table(cls) -> Table:
        from thresher.scores.instructions import example_instruction_table

        return example_instruction_table()


def length_statistics(table: Table, unit: str = "words", margin: str | None = None) -> dict[str, float]:
    """Return length facts of a pair table: means, the share where chosen is longer, and correlations.

    ``corr_length_margin`` is the Spearman correlation of the length difference with the
    column ``margin`` (e.g. ``"score.preference_strength"``) when given.

    Examples
    --------
    >>> from thresher.data.pairs import pair_table
    >>> s = length_statistics(pair_table(["q", "q"], ["a b c", "a"], ["a", "a b"]))
    >>> s["mean_chosen"], s["share_chosen_longer"]
    (2.0, 0.5)
    """
    n = _side_lengths(table, unit, "length_statistics")
    diff = n[:, 0] - n[:, 1]
    out = {
        "mean_chosen": float(n[:, 0].mean()),
        "mean_rejected": float(n[:, 1].mean()),
        "median_difference": float(np.median(diff)),
        "share_chosen_longer": float(np.mean(diff > 0)),
        "share_equal_length": float(np.mean(diff == 0)),
    }
    if margin is not None:
        from scipy.stats import spearmanr

        table.require([margin], "length_statistics")
        m = np.asarray(table.column(margin), dtype=np.float64)
        ok = np.isfinite(m)
        rho = spearmanr(diff[ok], m[ok]).statistic if ok.sum() > 2 and np.std(diff[ok]) > 0 else np.nan
        out["corr_length_margin"] = float(rho)
    return out
