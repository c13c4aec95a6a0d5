"""Shared parts of the preference-pair benchmarks: real text, a BPE tokenizer and a small GPT-2, pairs.

Text is read from the manual pages Debian ships (``/usr/share/man``, troff stripped) with
:func:`thresher.data.text.load_debian_text_mixture`; the tokenizer (byte-level BPE) is
trained here and the model built from a ``transformers`` config, so nothing is downloaded.
Not a benchmark itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np


def man_documents(n: int, seed: int = 0, max_words: int = 400) -> list[str]:
    """Return ``n`` manual pages as plain text (Debian's ``man-db``/``manpages``)."""
    from thresher.data.text import load_debian_text_mixture

    t = load_debian_text_mixture(n, domains=("man",), max_words=max_words, seed=seed)
    return [str(x) for x in t.text]


def train_tokenizer(texts: list[str], vocab_size: int = 4096) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for ``transformers``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>")


def build_gpt2(vocab_size: int, n_embd: int = 128, n_layer: int = 3, n_head: int = 4, n_positions: int = 256,
               seed: int = 0) -> Any:
    """Return a randomly initialised GPT-2 of the given size (seeded)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                     bos_token_id=1, eos_token_id=1, pad_token_id=0)
    return GPT2LMHeadModel(cfg)


def save(model: Any, tok: Any, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def windows(docs: list[str], n_prompt: int, n_response: int, rng: np.random.Generator, per_doc: int = 4
            ) -> list[tuple[str, str]]:
    """Cut (prompt, response) windows of consecutive words out of documents."""
    out = []
    span = n_prompt + n_response
    for d in docs:
        words = d.split()
        if len(words) < span:
            continue
        starts = rng.choice(len(words) - span + 1, size=min(per_doc, len(words) - span + 1), replace=False)
        for s in sorted(starts.tolist()):
            out.append((" ".join(words[s : s + n_prompt]), " " + " ".join(words[s + n_prompt : s + span])))
    return out


def _typos(words: list[str], rng: np.random.Generator, rate: float = 0.2) -> list[str]:
    out = []
    for w in words:
        if len(w) > 3 and rng.random() < rate:
            i = int(rng.integers(0, len(w) - 1))
            w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        out.append(w)
    return out


def degrade(text: str, kind: str, rng: np.random.Generator) -> str:
    """Return a degraded copy of ``text``: shuffled sentences/chunks, a dropped clause, a repeated n-gram, typos."""
    words = text.split()
    if kind == "shuffle":
        parts = [p for p in re.split(r"(?<=[.;:])\s+", text.strip()) if p]
        if len(parts) < 3:  # man text has few sentence ends: shuffle 4-word chunks instead
            parts = [" ".join(words[i : i + 4]) for i in range(0, len(words), 4)]
        perm = rng.permutation(len(parts))
        if np.array_equal(perm, np.arange(len(parts))):
            perm = perm[::-1]
        return " " + " ".join(parts[i] for i in perm)
    if kind == "drop":
        k = max(2, len(words) // 4)
        s = int(rng.integers(0, len(words) - k + 1))
        return " " + " ".join(words[:s] + words[s + k :])
    if kind == "repeat":
        s = int(rng.integers(0, len(words) - 3))
        gram = words[s : s + 3]
        return " " + " ".join(words[: s + 3] + gram * 3 + words[s + 3 :])
    if kind == "typo":
        return " " + " ".join(_typos(words, rng))
    raise ValueError(kind)


DEGRADATIONS = ("shuffle", "drop", "repeat", "typo")
