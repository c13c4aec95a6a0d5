"""Instruction (prompt -> response) scores: instruction-following difficulty (IFD) and response perplexity.

Both read the ``response_likelihood`` signal (:mod:`thresher.signals.lm_likelihood`):
``lm.response_logp`` (n, 2) holds log pi(y|x) and the unconditional log pi(y), and
``lm.response_tokens`` (n, 2) the scored token counts.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_scorer
from thresher.data.candidates import candidate_table
from thresher.data.table import Table
from thresher.scores.base import BaseScorer

__all__ = ["IFD", "ResponsePerplexity", "example_instruction_table"]


def example_instruction_table(n: int = 20, seed: int = 0) -> Table:
    """Return a small prompt -> response table with the ``response_likelihood`` matrices.

    Examples
    --------
    >>> example_instruction_table(4).matrix("lm.response_logp").shape
    (4, 2)
    """
    rng = np.random.default_rng(seed)
    t = candidate_table(np.arange(n) // 2, [f"q{i // 2}" for i in range(n)], [f"answer {i}" for i in range(n)],
                        row_id=np.arange(300, 300 + n))
    ntok = rng.integers(2, 9, size=(n, 1)).astype(np.float64)
    cond = -ntok[:, 0] * rng.uniform(0.5, 2.0, size=n)
    uncond = -ntok[:, 0] * rng.uniform(1.0, 3.0, size=n)
    return (t.with_matrix("lm.response_logp", np.stack([cond, uncond], axis=1))
             .with_matrix("lm.response_tokens", np.hstack([ntok, ntok])))


class _InstructionScorer(BaseScorer):
    requires = frozenset({"lm.response_logp", "lm.response_tokens"})

    @classmethod
    def conformance_table(cls) -> Table:
        return example_instruction_table()


def _per_token_nll(table: Table) -> tuple[np.ndarray, np.ndarray]:
    lp, n = table.matrix("lm.response_logp"), np.maximum(table.matrix("lm.response_tokens"), 1)
    return -lp[:, 0] / n[:, 0], -lp[:, 1] / n[:, 1]


@register_scorer("ifd")
class IFD(_InstructionScorer):
    """Score prompt -> response rows by instruction-following difficulty, PPL(y|x) / PPL(y).

    Li et al., "From Quantity to Quality: Boosting LLM Performance with Self-Guided Data
    Selection" (IFD, NAACL 2024) and "Superfiltering: Weak-to-Strong Data Filtering"
    (ACL 2024), which computes it with a small model such as GPT-2. High IFD (close to 1)
    means the prompt helps little to predict the response: a hard, informative example;
    IFD >= 1 means the prompt does not help at all, and those rows are usually dropped.

    Examples
    --------
    >>> t = example_instruction_table(3)
    >>> lp, n = t.matrix("lm.response_logp"), t.matrix("lm.response_tokens")
    >>> bool(np.allclose(IFD().score(t), np.exp(-lp[:, 0] / n[:, 0]) / np.exp(-lp[:, 1] / n[:, 1])))
    True
    """

    name = "ifd"

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        cond, uncond = _per_token_nll(table)
        return np.exp(cond - uncond)


@register_scorer("response_perplexity")
class ResponsePerplexity(_InstructionScorer):
    """Score prompt -> response rows by the perplexity of the response given the prompt, exp(-log pi(y|x)/|y|).

    The conditional perplexity of Li et al. (IFD, NAACL 2024); lower means the model finds
    the response more natural given its prompt.

    Examples
    --------
    >>> t = example_instruction_table(3)
    >>> lp, n = t.matrix("lm.response_logp"), t.matrix("lm.response_tokens")
    >>> bool(np.allclose(ResponsePerplexity().score(t), np.exp(-lp[:, 0] / n[:, 0])))
    True
    """

    name = "response_perplexity"
    higher_is_better = False

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return np.exp(_per_token_nll(table)[0])
