"""Pair scores from the engine against independent computations on a tiny GPT-2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pairs.test_engine import reference_loop
from thresher.data.pairs import pair_table
from thresher.scores.pairs import (
    CHES,
    DPOMargin,
    IdealizedRankingAccuracy,
    LikelihoodMargin,
    LikelihoodMarginPerToken,
    NormalizedCHES,
    PreferenceStrength,
    PreferenceStrengthStd,
    RankingAccuracy,
    example_pair_table,
    likely_flipped,
    pair_flags,
)

PROMPTS = ["what is the cat", "why was it red", "a question", "the dog ran"]
CHOSEN = [" it sat on the mat.", " because it was blue", " what", " to the park"]
REJECTED = [" the mat.", " because it was blue", " data is good because it was red", " bad"]


@pytest.fixture(scope="module")
def scored(tiny_gpt2: Path, tiny_gpt2_ref: Path):
    from thresher.signals.lm_likelihood import PairLikelihood, PairReferenceLikelihood

    t = pair_table(PROMPTS, CHOSEN, REJECTED, rewards={"a": ([1, 0, 2, -1], [0, 0, 1, 1]), "b": ([3, 0, 0, 0], [0, 1, 0, 2])})
    for sig in (PairLikelihood(str(tiny_gpt2), batch_size=3), PairReferenceLikelihood(str(tiny_gpt2_ref))):
        for k, v in sig.compute(t).matrices.items():
            t = t.with_matrix(k, v)
    return t


@pytest.mark.torch
def test_margins_equal_an_independent_token_loop(scored, tiny_gpt2: Path, tiny_gpt2_ref: Path) -> None:
    lc, nc, hc = reference_loop(tiny_gpt2, PROMPTS, CHOSEN)
    lr, nr, hr = reference_loop(tiny_gpt2, PROMPTS, REJECTED)
    rc, _, _ = reference_loop(tiny_gpt2_ref, PROMPTS, CHOSEN)
    rr, _, _ = reference_loop(tiny_gpt2_ref, PROMPTS, REJECTED)
    np.testing.assert_allclose(LikelihoodMargin().score(scored), lc - lr, atol=1e-5, rtol=0)
    np.testing.assert_allclose(LikelihoodMarginPerToken().score(scored), lc / nc - lr / nr, atol=1e-5, rtol=0)
    np.testing.assert_allclose(DPOMargin(beta=0.3).score(scored), 0.3 * ((lc - rc) - (lr - rr)), atol=1e-5, rtol=0)
    assert RankingAccuracy().score(scored).tolist() == [1.0 if a > b else 0.0 if a < b else 0.5 for a, b in
                                                         zip(lc.round(6), lr.round(6))]
    ches = np.einsum("ij,ij->i", hc, hr) - np.einsum("ij,ij->i", hc, hc)  # from output_hidden_states[-1]
    np.testing.assert_allclose(CHES().score(scored), ches, rtol=1e-6, atol=1e-4)
    hcn, hrn = hc / nc[:, None], hr / nr[:, None]
    ln = np.einsum("ij,ij->i", hcn, hrn) - np.einsum("ij,ij->i", hcn, hcn)
    np.testing.assert_allclose(NormalizedCHES().score(scored), ln, rtol=1e-6, atol=1e-5)


@pytest.mark.torch
def test_identical_pair_is_flagged_with_zero_margin_and_zero_ches(scored) -> None:
    assert scored.column("flag.identical_pair").tolist() == [False, True, False, False]
    assert abs(LikelihoodMargin().score(scored)[1]) < 1e-9 and abs(CHES().score(scored)[1]) < 1e-6
    assert RankingAccuracy().score(scored)[1] == 0.5


def _sign(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """1 / 0.5 / 0 for positive / tied / negative; a tie is |v| within 1e-6 of the summed log-probs."""
    tol = 1e-6 * np.maximum(np.abs(ref).max(axis=1), 1.0)
    return np.where(np.abs(v) <= tol, 0.5, np.where(v > 0, 1.0, 0.0))


@pytest.mark.torch
def test_idealized_ranking_accuracy_follows_chen_et_al_theorem(scored) -> None:
    ref = scored.matrix("ref.logp")
    d = np.stack([scored.column("reward.a.chosen") - scored.column("reward.a.rejected"),
                  scored.column("reward.b.chosen") - scored.column("reward.b.rejected")], axis=1).mean(1)
    for beta in (0.05, 1.0, 50.0):
        want = _sign(ref[:, 0] - ref[:, 1] + d / beta, ref)
        np.testing.assert_array_equal(IdealizedRankingAccuracy(beta=beta).score(scored), want)
    alpha = np.array([0.9, 0.5, 0.2, 1.0])
    t = scored.with_column("pref", alpha)
    got = IdealizedRankingAccuracy(beta=0.5, preference="pref").score(t)
    logit = np.log(alpha[:3] / (1 - alpha[:3]))
    v = ref[:3, 0] - ref[:3, 1] + logit / 0.5
    np.testing.assert_array_equal(got[:3], _sign(v, ref[:3]))
    assert got[1] == 0.5  # the identical pair with alpha = 1/2: a tie
    assert got[3] == 1.0  # alpha = 1: the ideal policy always prefers chosen


def test_preference_strength_mean_std_and_flip_flag() -> None:
    t = example_pair_table(30)
    d = np.stack([t.column(f"reward.{k}.chosen") - t.column(f"reward.{k}.rejected") for k in "abc"], axis=1)
    np.testing.assert_allclose(PreferenceStrength().score(t), d.mean(1))
    np.testing.assert_allclose(PreferenceStrengthStd().score(t), d.std(1))
    np.testing.assert_allclose(PreferenceStrength(rewards=["b"]).score(t), d[:, 1])
    np.testing.assert_array_equal(likely_flipped(t), d.mean(1) < 0)
    assert pair_flags(t)["flag.likely_flipped"].dtype == bool
    swapped = pair_table(t.column("prompt"), t.column("rejected"), t.column("chosen"),
                         rewards={k: (t.column(f"reward.{k}.rejected"), t.column(f"reward.{k}.chosen")) for k in "abc"})
    np.testing.assert_array_equal(likely_flipped(swapped), d.mean(1) > 0)


def test_scores_need_their_signals() -> None:
    t = pair_table(["q"], ["a"], ["b"])
    with pytest.raises(KeyError, match="lm.logp"):
        LikelihoodMargin().score(t)
    with pytest.raises(KeyError, match="reward"):
        PreferenceStrength().score(t)
    with pytest.raises(ValueError, match="`beta` of DPOMargin"):
        DPOMargin(beta=0).score(example_pair_table(3))


@pytest.mark.torch
def test_ifd_and_response_perplexity_equal_the_loop(tiny_gpt2: Path) -> None:
    from thresher.data.candidates import candidate_table
    from thresher.scores.instructions import IFD, ResponsePerplexity
    from thresher.signals.lm_likelihood import ResponseLikelihood

    t = candidate_table([0, 1, 2, 3], PROMPTS, CHOSEN)
    for k, v in ResponseLikelihood(str(tiny_gpt2), batch_size=2).compute(t).matrices.items():
        t = t.with_matrix(k, v)
    lc, nc, _ = reference_loop(tiny_gpt2, PROMPTS, CHOSEN)
    lu, nu, _ = reference_loop(tiny_gpt2, [""] * 4, CHOSEN)
    np.testing.assert_allclose(ResponsePerplexity().score(t), np.exp(-lc / nc), rtol=1e-5)
    np.testing.assert_allclose(IFD().score(t), np.exp(-lc / nc) / np.exp(-lu / nu), rtol=1e-5)
