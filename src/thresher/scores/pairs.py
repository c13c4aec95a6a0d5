"""Preference-pair scores: likelihood margins, DPO implicit reward margin, ranking accuracy, CHES, preference strength.

Every scorer reads signal matrices of a pair table (see
:mod:`thresher.signals.lm_likelihood`): ``lm.logp`` (n, 2) with log pi(y+|x) and
log pi(y-|x), ``lm.n_tokens``, ``ref.logp`` (the reference model), the summed hidden
states ``lm.hidden_chosen`` / ``lm.hidden_rejected``, or the reward columns
``reward.<name>.chosen`` / ``.rejected`` of the table. In a recipe the matrices are
computed by the ``pair_likelihood`` / ``pair_reference_likelihood`` signals.

Flags: :func:`likely_flipped` marks pairs whose mean preference strength is negative
(``flag.likely_flipped``); :func:`pair_flags` returns it with the reader's flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_float, fail
from thresher.data.pairs import pair_table, reward_names
from thresher.data.table import Table
from thresher.errors import MissingColumnError
from thresher.scores.base import BaseScorer

__all__ = [
    "LikelihoodMargin", "LikelihoodMarginPerToken", "DPOMargin", "RankingAccuracy", "IdealizedRankingAccuracy",
    "CHES", "NormalizedCHES", "PreferenceStrength", "PreferenceStrengthStd", "reward_differences",
    "likely_flipped", "example_pair_table",
]


def example_pair_table(n: int = 24, d: int = 4, seed: int = 0) -> Table:
    """Return a small pair table with every signal matrix and three reward columns (for tests and examples).

    Examples
    --------
    >>> t = example_pair_table(6)
    >>> t.matrix("lm.logp").shape, sorted(reward_names(t))
    ((6, 2), ['a', 'b', 'c'])
    """
    rng = np.random.default_rng(seed)
    words = ["good", "bad", "answer", "the", "model", "data"]
    texts = [[" ".join(rng.choice(words, size=int(rng.integers(2, 8)))) for _ in range(n)] for _ in range(3)]
    quality = rng.normal(size=n)
    rewards = {k: (quality + rng.normal(scale=0.5, size=n), rng.normal(scale=0.5, size=n)) for k in "abc"}
    t = pair_table(texts[0], texts[1], texts[2], row_id=np.arange(500, 500 + n), rewards=rewards,
                   group=np.where(np.arange(n) % 3 == 0, "x", "y"))
    ntok = rng.integers(2, 9, size=(n, 2)).astype(np.float64)
    return (t.with_matrix("lm.logp", -ntok * rng.uniform(1.0, 3.0, size=(n, 2)))
             .with_matrix("lm.n_tokens", ntok)
             .with_matrix("ref.logp", -ntok * rng.uniform(1.0, 3.0, size=(n, 2)))
             .with_matrix("lm.hidden_chosen", rng.normal(size=(n, d)) * ntok[:, :1])
             .with_matrix("lm.hidden_rejected", rng.normal(size=(n, d)) * ntok[:, 1:]))


class _PairScorer(BaseScorer):
    @classmethod
    def conformance_table(cls) -> Table:
        return example_pair_table()


@register_scorer("likelihood_margin")
class LikelihoodMargin(_PairScorer):
    """Score pairs by the summed log-likelihood margin log pi(y+|x) - log pi(y-|x).

    The reference-free margin of Hong et al., "Margin-aware Preference Optimization"
    (MaPO, 2024) and of SimPO (Meng et al., 2024, per token). Negative margins mark pairs
    the model prefers the other way round.

    Examples
    --------
    >>> t = example_pair_table(3)
    >>> m = LikelihoodMargin().score(t)
    >>> bool(np.allclose(m, t.matrix("lm.logp")[:, 0] - t.matrix("lm.logp")[:, 1]))
    True
    """

    name = "likelihood_margin"
    requires = frozenset({"lm.logp"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        lp = table.matrix("lm.logp")
        return lp[:, 0] - lp[:, 1]


@register_scorer("likelihood_margin_token")
class LikelihoodMarginPerToken(_PairScorer):
    """Score pairs by the per-token log-likelihood margin log pi(y+|x)/|y+| - log pi(y-|x)/|y-|.

    The length-normalised margin of SimPO (Meng et al., "SimPO: Simple Preference
    Optimization with a Reference-Free Reward", 2024); empty responses count one token.

    Examples
    --------
    >>> t = example_pair_table(3)
    >>> lp, n = t.matrix("lm.logp"), t.matrix("lm.n_tokens")
    >>> bool(np.allclose(LikelihoodMarginPerToken().score(t), lp[:, 0] / n[:, 0] - lp[:, 1] / n[:, 1]))
    True
    """

    name = "likelihood_margin_token"
    requires = frozenset({"lm.logp", "lm.n_tokens"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        lp, n = table.matrix("lm.logp"), np.maximum(table.matrix("lm.n_tokens"), 1)
        return lp[:, 0] / n[:, 0] - lp[:, 1] / n[:, 1]


@register_scorer("dpo_margin")
class DPOMargin(_PairScorer):
    """Score pairs by the DPO implicit reward margin beta[(log pi - log pi_ref)(y+) - (log pi - log pi_ref)(y-)].

    Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a
    Reward Model" (NeurIPS 2023): r(x, y) = beta log pi(y|x)/pi_ref(y|x) is the reward the
    policy implies; its margin is what the DPO loss pushes up.

    Parameters
    ----------
    beta
        The DPO temperature.

    Examples
    --------
    >>> t = example_pair_table(3)
    >>> d = t.matrix("lm.logp") - t.matrix("ref.logp")
    >>> bool(np.allclose(DPOMargin(beta=0.5).score(t), 0.5 * (d[:, 0] - d[:, 1])))
    True
    """

    name = "dpo_margin"
    requires = frozenset({"lm.logp", "ref.logp"})

    def __init__(self, beta: float = 0.1) -> None:
        self.beta = beta

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        beta = check_float(self.beta, "beta", type(self).__name__, low=0.0, low_open=True)
        d = table.matrix("lm.logp") - table.matrix("ref.logp")
        return beta * (d[:, 0] - d[:, 1])


def _tie_aware(diff: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """1 where ``diff > 0``, 0 where ``< 0``, 0.5 for a tie; differences within float32 noise of
    summed log-probabilities (1e-6 relative) are ties, so batching cannot break an exact tie."""
    tie = np.abs(diff) <= 1e-6 * np.maximum(scale, 1.0)
    return np.where(tie, 0.5, np.where(diff > 0, 1.0, 0.0))


@register_scorer("ranking_accuracy")
class RankingAccuracy(_PairScorer):
    """Score pairs 1 when the model ranks them right, log pi(y+|x) > log pi(y-|x), else 0 (ties 0.5).

    The ranking accuracy of Chen et al., "Preference Learning Algorithms Do Not Learn
    Preference Rankings" (NeurIPS 2024); its mean over a table is the model's accuracy.

    Examples
    --------
    >>> t = example_pair_table(4)
    >>> lp = t.matrix("lm.logp")
    >>> RankingAccuracy().score(t).tolist() == (lp[:, 0] > lp[:, 1]).astype(float).tolist()
    True
    """

    name = "ranking_accuracy"
    requires = frozenset({"lm.logp"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        lp = table.matrix("lm.logp")
        return _tie_aware(lp[:, 0] - lp[:, 1], np.maximum(np.abs(lp[:, 0]), np.abs(lp[:, 1])))


def reward_differences(table: Table, rewards: Sequence[str] | None = None, owner: str = "reward_differences") -> np.ndarray:
    """Return r(y+) - r(y-) per pair and reward column, shape (n, n_rewards).

    Examples
    --------
    >>> reward_differences(example_pair_table(2)).shape
    (2, 3)
    """
    names = reward_names(table) if rewards is None else list(rewards)
    if not names:
        raise MissingColumnError(f"{owner} needs reward columns 'reward.<name>.chosen' and 'reward.<name>.rejected'; "
                                 f"the table has {table.column_names}.")
    table.require([f"reward.{r}.{side}" for r in names for side in ("chosen", "rejected")], owner)
    return np.stack([np.asarray(table.column(f"reward.{r}.chosen"), dtype=np.float64)
                     - np.asarray(table.column(f"reward.{r}.rejected"), dtype=np.float64) for r in names], axis=1)


@register_scorer("idealized_ranking_accuracy")
class IdealizedRankingAccuracy(_PairScorer):
    """Score pairs 1 when the idealised (optimal RLHF/DPO) policy ranks them right, else 0.

    Chen et al., "Preference Learning Algorithms Do Not Learn Preference Rankings"
    (NeurIPS 2024), Theorem 3.1: the optimum pi* of the RLHF/DPO objective with preference
    probability alpha = P(y+ > y-) ranks the pair right iff
    log pi_ref(y+|x) - log pi_ref(y-|x) + (1/beta) log(alpha / (1 - alpha)) > 0. alpha comes
    from the column ``preference`` (e.g. rater agreement), else from the reward columns as
    sigmoid of the mean reward difference (Bradley-Terry).

    Examples
    --------
    >>> t = example_pair_table(4)
    >>> s = IdealizedRankingAccuracy(beta=1e6).score(t)   # a huge beta: pi* = pi_ref
    >>> r = t.matrix("ref.logp")
    >>> s.tolist() == (r[:, 0] > r[:, 1]).astype(float).tolist()
    True
    """

    name = "idealized_ranking_accuracy"
    requires = frozenset({"ref.logp"})

    def __init__(self, beta: float = 0.1, preference: str | None = None, rewards: Sequence[str] | None = None) -> None:
        self.beta = beta
        self.preference = preference
        self.rewards = rewards

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        owner = type(self).__name__
        beta = check_float(self.beta, "beta", owner, low=0.0, low_open=True)
        if self.preference is not None:
            table.require([self.preference], owner)
            alpha = np.asarray(table.column(self.preference), dtype=np.float64)
            if np.any((alpha < 0) | (alpha > 1)):
                raise fail("preference", owner, "a column of probabilities in [0, 1]", self.preference)
            with np.errstate(divide="ignore"):
                logit = np.log(alpha) - np.log1p(-alpha)
        else:
            logit = reward_differences(table, self.rewards, owner).mean(axis=1)  # logit(sigmoid(d)) = d
        ref = table.matrix("ref.logp")
        v = ref[:, 0] - ref[:, 1] + logit / beta
        return _tie_aware(v, np.maximum(np.abs(ref[:, 0]), np.abs(ref[:, 1])))


def _ches(table: Table, normalize: bool) -> np.ndarray:
    hp = np.asarray(table.matrix("lm.hidden_chosen"), dtype=np.float64)
    hm = np.asarray(table.matrix("lm.hidden_rejected"), dtype=np.float64)
    if normalize:
        n = np.maximum(table.matrix("lm.n_tokens"), 1)
        hp, hm = hp / n[:, :1], hm / n[:, 1:]
    return np.einsum("ij,ij->i", hp, hm) - np.einsum("ij,ij->i", hp, hp)


@register_scorer("ches")
class CHES(_PairScorer):
    """Score pairs by CHES, the centered hidden-embedding similarity that predicts likelihood displacement.

    Razin et al., "Unintentional Unalignment: Likelihood Displacement in Direct
    Preference Optimization" (ICLR 2025): with h+- the sums of the final-layer hidden
    states at the positions that predict the chosen / rejected tokens,
    CHES = <h+, h-> - ||h+||^2. High CHES pairs make DPO lower the chosen response's
    likelihood; drop them with ``BottomK(by="score.ches")``.

    Examples
    --------
    >>> t = example_pair_table(3)
    >>> hp, hm = t.matrix("lm.hidden_chosen"), t.matrix("lm.hidden_rejected")
    >>> bool(np.allclose(CHES().score(t), (hp * hm).sum(1) - (hp * hp).sum(1)))
    True
    """

    name = "ches"
    higher_is_better = False
    requires = frozenset({"lm.hidden_chosen", "lm.hidden_rejected"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return _ches(table, False)


@register_scorer("ches_normalized")
class NormalizedCHES(_PairScorer):
    """Score pairs by length-normalised CHES, <h+/|y+|, h-/|y-|> - ||h+/|y+|||^2 (Razin et al., ICLR 2025).

    Examples
    --------
    >>> t = example_pair_table(3)
    >>> n = t.matrix("lm.n_tokens")
    >>> hp, hm = t.matrix("lm.hidden_chosen") / n[:, :1], t.matrix("lm.hidden_rejected") / n[:, 1:]
    >>> bool(np.allclose(NormalizedCHES().score(t), (hp * hm).sum(1) - (hp * hp).sum(1)))
    True
    """

    name = "ches_normalized"
    higher_is_better = False
    requires = frozenset({"lm.hidden_chosen", "lm.hidden_rejected", "lm.n_tokens"})

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return _ches(table, True)


@register_scorer("preference_strength")
class PreferenceStrength(_PairScorer):
    """Score pairs by the mean preference strength r(y+) - r(y-) over several reward columns.

    Wang et al., "Secrets of RLHF in Large Language Models Part II: Reward Modeling"
    (2024): the mean over an ensemble of reward models of the reward difference; negative
    means the pair is likely flipped (see :func:`likely_flipped`), near zero ambiguous.

    Parameters
    ----------
    rewards
        Reward names to use (``None``: every ``reward.<name>.chosen``/``.rejected`` pair).

    Examples
    --------
    >>> t = pair_table(["q", "q"], ["a", "b"], ["c", "d"], rewards={"r1": ([1, 0], [0, 1]), "r2": ([3, 0], [0, 0])})
    >>> PreferenceStrength().score(t).tolist()
    [2.0, -0.5]
    """

    name = "preference_strength"
    requires = frozenset()

    def __init__(self, rewards: Sequence[str] | None = None) -> None:
        self.rewards = rewards

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return reward_differences(table, self.rewards, type(self).__name__).mean(axis=1)


@register_scorer("preference_strength_std")
class PreferenceStrengthStd(PreferenceStrength):
    """Score pairs by the standard deviation of r(y+) - r(y-) over reward columns (Wang et al., 2024).

    High values mean the reward models disagree about the pair. Uses the population
    standard deviation (``ddof=0``); one reward column gives 0.

    Examples
    --------
    >>> t = pair_table(["q"], ["a"], ["c"], rewards={"r1": ([1], [0]), "r2": ([3], [0])})
    >>> PreferenceStrengthStd().score(t).tolist()
    [1.0]
    """

    name = "preference_strength_std"
    higher_is_better = False

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        return reward_differences(table, self.rewards, type(self).__name__).std(axis=1)


def likely_flipped(table: Table, rewards: Sequence[str] | None = None, threshold: float = 0.0) -> np.ndarray:
    """Return ``flag.likely_flipped``: pairs whose mean preference strength is below ``threshold``.

    Wang et al. (2024) find that pairs with negative mean strength over a reward-model
    ensemble are mostly mislabelled.

    Examples
    --------
    >>> t = pair_table(["q", "q"], ["a", "b"], ["c", "d"], rewards={"r": ([1, 0], [0, 1])})
    >>> likely_flipped(t).tolist()
    [False, True]
    """
    check_float(threshold, "threshold", "likely_flipped")
    return np.asarray(reward_differences(table, rewards, "likely_flipped").mean(axis=1) < threshold)


def pair_flags(table: Table, rewards: Sequence[str] | None = None, threshold: float = 0.0) -> dict[str, Any]:
    """Return the reader's ``flag.*`` columns plus ``flag.likely_flipped`` when rewards are present.

    Examples
    --------
    >>> sorted(pair_flags(example_pair_table(2)))[-2:]
    ['flag.likely_flipped', 'flag.missing_prompt']
    """
    out: dict[str, Any] = {c: table.column(c) for c in table.column_names if c.startswith("flag.")}
    if rewards is not None or reward_names(table):
        out["flag.likely_flipped"] = likely_flipped(table, rewards, threshold)
    return out
