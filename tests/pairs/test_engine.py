"""The conditional-likelihood engine against an independent token-by-token log_softmax loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.torch

PROMPTS = ["what is the cat", "", "why was it red", "a question", "the dog ran to the park because it was good"]
RESPONSES = [" it sat on the mat.", "the model learns.", " because it was blue", " what", " a"]


def reference_loop(path: Path, prompts, responses, hidden: bool = False):
    """Score each example alone: concatenate tokens, run the full model, sum log_softmax at response targets."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    out_lp, out_n, out_h = [], [], []
    for p, r in zip(prompts, responses):
        pi = ([tok.bos_token_id] if tok.bos_token_id is not None else []) + tok(p, add_special_tokens=False)["input_ids"]
        ri = tok(r, add_special_tokens=False)["input_ids"]
        if not pi:
            pi, ri = ri[:1], ri[1:]
        ids = pi + ri
        with torch.no_grad():
            o = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        total, hsum = 0.0, np.zeros(model.config.n_embd)
        for t in range(len(pi), len(ids)):
            total += float(torch.log_softmax(o.logits[0, t - 1].double(), dim=-1)[ids[t]])
            hsum += o.hidden_states[-1][0, t - 1].double().numpy()
        out_lp.append(total)
        out_n.append(len(ri))
        out_h.append(hsum)
    return np.array(out_lp), np.array(out_n), np.array(out_h)


def test_log_probs_and_hidden_equal_an_independent_loop(tiny_gpt2: Path) -> None:
    from thresher.text.likelihood import CausalLM

    r = CausalLM(tiny_gpt2, batch_size=3).conditional_log_probs(PROMPTS, RESPONSES, hidden=True)
    lp, n, h = reference_loop(tiny_gpt2, PROMPTS, RESPONSES)
    np.testing.assert_allclose(r.logp, lp, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(r.n_tokens, n)
    np.testing.assert_allclose(r.hidden, h, atol=1e-4, rtol=1e-6)
    assert np.all(lp < 0) and not r.is_truncated.any()


def test_without_bos_the_first_token_of_an_empty_prompt_is_not_scored(tiny_gpt2_nobos: Path) -> None:
    from thresher.text.likelihood import CausalLM

    r = CausalLM(tiny_gpt2_nobos).conditional_log_probs(PROMPTS, RESPONSES)
    lp, n, _ = reference_loop(tiny_gpt2_nobos, PROMPTS, RESPONSES)
    np.testing.assert_allclose(r.logp, lp, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(r.n_tokens, n)


@pytest.mark.parametrize(("side", "batch_size", "max_batch_tokens"), [("left", 2, 8192), ("right", 1, 8192),
                                                                         ("left", 5, 24), ("right", 5, 8192)])
def test_padding_side_and_batching_do_not_change_scores(tiny_gpt2: Path, side: str, batch_size: int,
                                                        max_batch_tokens: int) -> None:
    from thresher.text.likelihood import CausalLM

    base = CausalLM(tiny_gpt2, batch_size=8).conditional_log_probs(PROMPTS, RESPONSES, hidden=True)
    other = CausalLM(tiny_gpt2, batch_size=batch_size, padding_side=side,
                     max_batch_tokens=max_batch_tokens).conditional_log_probs(PROMPTS, RESPONSES, hidden=True)
    np.testing.assert_allclose(other.logp, base.logp, atol=1e-5, rtol=0)
    np.testing.assert_allclose(other.hidden, base.hidden, atol=1e-5, rtol=0)


def test_prompt_positions_logits_do_not_enter_the_score(tiny_gpt2: Path) -> None:
    """Corrupt the output at positions that predict prompt tokens: response scores must not move."""
    import torch

    from thresher.text.likelihood import CausalLM

    lm = CausalLM(tiny_gpt2, batch_size=8)
    base = lm.conditional_log_probs(PROMPTS, RESPONSES)
    model, tok = lm._load()
    seqs, starts, _ = lm._encode(PROMPTS, RESPONSES)
    inner = model.base_model.forward

    def corrupted(*args, **kwargs):  # right padding: row j's prompt-predicting positions are 0..start-2
        out = inner(*args, **kwargs)
        h = out.last_hidden_state.clone()
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        for j in range(ids.shape[0]):
            row = ids[j, : int(mask[j].sum())].tolist()
            i = next(k for k, s in enumerate(seqs) if s == row)
            h[j, : max(int(starts[i]) - 1, 0)] += 1000.0 * torch.randn_like(h[j, : max(int(starts[i]) - 1, 0)])
        out.last_hidden_state = h
        return out

    model.base_model.forward = corrupted
    try:
        again = lm.conditional_log_probs(PROMPTS, RESPONSES)
    finally:
        model.base_model.forward = inner
    np.testing.assert_allclose(again.logp, base.logp, atol=1e-6, rtol=0)
    # ...while the prompt still conditions the response
    alt = lm.conditional_log_probs(["the"] * len(PROMPTS), RESPONSES)
    assert np.max(np.abs(alt.logp - base.logp)) > 1e-3


def test_full_model_route_equals_the_head_only_route(tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.text.likelihood import CausalLM

    lm = CausalLM(tiny_gpt2, batch_size=2, padding_side="left")
    fast = lm.conditional_log_probs(PROMPTS, RESPONSES, hidden=True)
    model, _ = lm._load()
    monkeypatch.setattr(model.config, "logit_scale", 1.0 + 1e-12, raising=False)  # not a plain head: full forward
    slow = lm.conditional_log_probs(PROMPTS, RESPONSES, hidden=True)
    np.testing.assert_allclose(slow.logp, fast.logp, atol=1e-5, rtol=0)
    np.testing.assert_allclose(slow.hidden, fast.hidden, atol=1e-5, rtol=0)


def test_truncation_keeps_the_response_and_the_end_of_the_prompt(tiny_gpt2: Path) -> None:
    from thresher.text.likelihood import CausalLM

    long_prompt = "the cat sat on the mat " * 10
    lm = CausalLM(tiny_gpt2, max_length=20)
    r = lm.conditional_log_probs([long_prompt], [" it was red."])
    _, tok = lm._load()
    ri = tok(" it was red.", add_special_tokens=False)["input_ids"]
    pi = tok(long_prompt, add_special_tokens=False)["input_ids"][-(20 - len(ri)):]
    lp, _, _ = reference_loop(tiny_gpt2, [tok.decode(pi)], [" it was red."])
    assert r.is_truncated[0] and r.n_tokens[0] == len(ri)
    seqs, starts, _ = lm._encode([long_prompt], [" it was red."])
    assert seqs[0] == pi + ri and len(seqs[0]) == 20


def test_document_log_probs_are_conditional_log_probs_with_empty_prompts(tiny_gpt2: Path) -> None:
    from thresher.text.likelihood import CausalLM

    lm = CausalLM(tiny_gpt2)
    lp, nt = lm.log_probs(RESPONSES)
    ref, n, _ = reference_loop(tiny_gpt2, [""] * len(RESPONSES), RESPONSES)
    np.testing.assert_allclose(lp, ref, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(nt, n)


def test_sharded_run_resumes_from_cached_shards(tiny_gpt2: Path, tmp_path: Path) -> None:
    from thresher.signals import lm_likelihood
    from thresher.signals.lm_likelihood import conditional_log_probs

    full = conditional_log_probs(tiny_gpt2, PROMPTS, RESPONSES, hidden=True, shard_size=2, cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("shard-*.npz"))
    assert len(files) == 3
    files[1].unlink()
    calls = []
    job_call = lm_likelihood._ShardJob.__call__

    def counting(self, shard):
        calls.append(shard.index)
        return job_call(self, shard)

    lm_likelihood._ShardJob.__call__ = counting
    try:
        again = conditional_log_probs(tiny_gpt2, PROMPTS, RESPONSES, hidden=True, shard_size=2, cache_dir=tmp_path)
    finally:
        lm_likelihood._ShardJob.__call__ = job_call
    assert calls == [1]
    np.testing.assert_allclose(again.logp, full.logp, atol=0)
    np.testing.assert_allclose(again.hidden, full.hidden, atol=0)
    other = conditional_log_probs(tiny_gpt2, PROMPTS, RESPONSES[::-1], shard_size=2, cache_dir=tmp_path)
    assert not np.allclose(other.logp, full.logp)  # other input: another fingerprint, not the cached shards
