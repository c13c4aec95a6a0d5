"""A tiny GPT-2 built from a config, with a byte-level BPE tokenizer trained here (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "to", "park", "a", "model", "learns", "from", "data",
         "good", "bad", "answer", "question", "is", "what", "why", "because", "it", "was", "red", "blue"]


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    """Return ``n`` sentences of random words (a few kilobytes of text made in the test)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) + "." for _ in range(n)]


def build_tiny_gpt2(path: Path, *, bos: bool = True, seed: int = 0, n_embd: int = 16) -> Path:
    """Train a byte-level BPE tokenizer on :func:`corpus`, build a random 2-layer GPT-2 and save both to ``path``."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(corpus(), trainer=trainer)
    kw = {"bos_token": "<s>"} if bos else {}
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", **kw)
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=tk.get_vocab_size(), n_positions=128, n_embd=n_embd, n_layer=2,
                                  n_head=2, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg)
    with torch.no_grad():  # larger weights than the default init, so log-probs differ clearly across tokens
        for p in model.parameters():
            p.mul_(4.0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="session")
def tiny_gpt2_ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2_ref"), seed=1)


@pytest.fixture(scope="session")
def tiny_gpt2_nobos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2_nobos"), bos=False, seed=2)
