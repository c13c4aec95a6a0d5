"""Likelihood ratios: n-gram closed forms, Moore-Lewis ranking, and a tiny local causal LM."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from thresher.text.likelihood import CausalLM, cross_entropy, likelihood_ratio
from thresher.text.ngram import NgramLM

PETS = ["the cat purrs on the sofa", "a dog barks at the cat", "the kitten sleeps on the rug", "my dog likes a walk"]
MONEY = ["the bank raised the rate", "stocks fell on the news", "the fund sold its bonds", "a trader bought shares"]


def test_ratio_equals_difference_of_model_log_probs() -> None:
    a, b = NgramLM(order=2).fit(PETS), NgramLM(order=2).fit(MONEY)
    texts = ["the cat sleeps", "the bank sold stocks", ""]
    la, na = a.log_probs(texts)
    lb, nb = b.log_probs(texts)
    np.testing.assert_allclose(likelihood_ratio(a, b, texts, normalize="none"), la - lb)
    np.testing.assert_allclose(likelihood_ratio(a, b, texts), la / na - lb / nb)
    np.testing.assert_allclose(cross_entropy(a, texts), -la / na)
    # a hand check on one token: log P_a(</s>|<s>) - log P_b(</s>|<s>) for the empty document
    expect = math.log(a.prob("</s>")) - math.log(b.prob("</s>"))
    assert likelihood_ratio(a, b, [""], normalize="none")[0] == pytest.approx(expect)


def test_ratio_separates_domains() -> None:
    a, b = NgramLM(order=3).fit(PETS), NgramLM(order=3).fit(MONEY)
    r = likelihood_ratio(a, b, ["the dog sleeps on the sofa", "the fund raised the rate"])
    assert r[0] > 0 > r[1]


def test_bad_normalize() -> None:
    a = NgramLM(order=1).fit(PETS)
    with pytest.raises(ValueError, match="`normalize` of likelihood_ratio must be one of 'token', 'none'; got 'mean'."):
        likelihood_ratio(a, a, ["x"], normalize="mean")


def test_causal_lm_path_must_be_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local directory"):
        CausalLM(tmp_path / "missing").log_probs(["x"])


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer GPT-2 with a word-level tokenizer, saved to disk (nothing downloaded)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for t in PETS + MONEY for w in t.split()})
    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "<unk>"] + words)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2,
                                  bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg)
    d = tmp_path_factory.mktemp("tiny_gpt2")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.mark.torch
@pytest.mark.slow  # importing transformers and building the tiny model takes 5-15 s on 2 cores
def test_causal_lm_batched_log_probs_match_one_by_one_forward(tiny_lm_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    texts = ["the cat purrs", "a trader bought shares on the news", "dog"]
    lp, nt = CausalLM(tiny_lm_dir, batch_size=3).log_probs(texts)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, local_files_only=True).eval()
    vocab = CausalLM(tiny_lm_dir)._load()[1].get_vocab()
    for k, t in enumerate(texts):
        ids = [vocab["<s>"]] + [vocab[w] for w in t.split()]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        manual = sum(float(torch.log_softmax(logits[i], -1)[ids[i + 1]]) for i in range(len(ids) - 1))
        assert nt[k] == len(ids) - 1
        assert lp[k] == pytest.approx(manual, abs=1e-4)
    r = likelihood_ratio(CausalLM(tiny_lm_dir), NgramLM(order=2).fit(PETS), texts, normalize="none")
    assert r.shape == (3,) and np.all(np.isfinite(r))
