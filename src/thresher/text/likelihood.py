"""Likelihood-ratio scores between two language models (n-gram by default, or a local causal LM).

For a document ``x`` and models ``A`` and ``B``, the log-likelihood ratio
``log P_A(x) - log P_B(x)`` says how much more typical ``x`` is of ``A``'s training data
than of ``B``'s. With ``A`` fitted on a target domain and ``B`` on general text, its
per-token form is (minus) the Moore-Lewis cross-entropy difference (Moore & Lewis,
"Intelligent Selection of Language Model Training Data", ACL 2010); with ``A`` a
fine-tuned LLM and ``B`` its base model it is the out-of-distribution score of Zhang et
al., "Your Finetuned Large Language Model is Already a Powerful Out-of-distribution
Detector" (2024), where low values mark out-of-distribution text.

A model is anything with ``log_probs(texts) -> (total natural-log probability per
document, tokens per document)``: :class:`~thresher.text.ngram.NgramLM`,
:class:`~thresher.text.ngram.KenLMModel`, or :class:`CausalLM`, a Hugging Face causal
language model loaded from a local directory (``local_files_only``; nothing is ever
downloaded).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._validation import check_choice, check_int, fail
from thresher.errors import MissingDependencyError
from thresher.execute.base import Executor
from thresher.text.ngram import DocumentLM, document_log_probs

__all__ = ["CausalLM", "likelihood_ratio", "cross_entropy"]


class CausalLM:
    """Score documents with a Hugging Face causal LM stored on disk (needs ``transformers`` and ``torch``).

    Parameters
    ----------
    path
        Directory holding the model and its tokenizer (``save_pretrained`` output).
    batch_size
        Documents per forward pass.
    max_length
        Documents are truncated to this many tokens.
    device
        Torch device.

    Notes
    -----
    The first token of each document is conditioned on the tokenizer's BOS token when it
    has one; otherwise the first token is not scored. ``tokens`` counts scored tokens.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 8, max_length: int = 512, device: str = "cpu"):
        self.path = str(path)
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device

    def _load(self) -> tuple[Any, Any]:
        if hasattr(self, "model_"):
            return self.model_, self.tokenizer_
        owner = "CausalLM"
        check_int(self.batch_size, "batch_size", owner, low=1)
        check_int(self.max_length, "max_length", owner, low=2)
        if not Path(self.path).is_dir():
            raise fail("path", owner, "a local directory with a saved causal language model", self.path)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingDependencyError(
                "CausalLM needs `transformers` and `torch`; install them with `pip install thresher[text]`."
            ) from None
        from thresher.signals.embedders import _quiet_loading

        with _quiet_loading():
            tokenizer: Any = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
        self.tokenizer_: Any = tokenizer
        self.model_: Any = model.to(self.device).eval()
        return self.model_, self.tokenizer_

    def log_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return per-document total log-probabilities (natural log) and scored-token counts."""
        model, tok = self._load()
        import torch

        lp = np.zeros(len(texts))
        nt = np.zeros(len(texts), dtype=np.int64)
        bos = tok.bos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        for lo in range(0, len(texts), self.batch_size):
            batch = list(texts[lo : lo + self.batch_size])
            ids = [tok(t, add_special_tokens=False)["input_ids"] for t in batch]
            ids = [([bos] if bos is not None else []) + x for x in ids]
            ids = [x[: self.max_length] for x in ids]
            width = max(1, max(len(x) for x in ids))
            input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for i, x in enumerate(ids):
                input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
                mask[i, : len(x)] = 1
            with torch.no_grad():
                logits = model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            target = input_ids[:, 1:].to(self.device)
            tok_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * mask[:, 1:].to(self.device)
            lp[lo : lo + len(batch)] = tok_lp.sum(dim=1).cpu().numpy()
            nt[lo : lo + len(batch)] = mask[:, 1:].sum(dim=1).numpy()
        return lp, nt


def cross_entropy(
    model: DocumentLM, texts: Sequence[str], *, executor: Executor | None = None
) -> np.ndarray:
    """Return each document's per-token cross-entropy (nats) under ``model``.

    Examples
    --------
    >>> from thresher.text.ngram import NgramLM
    >>> lm = NgramLM(order=2).fit(["a b a b"])
    >>> h = cross_entropy(lm, ["a b", "b b b"])
    >>> bool(h[0] < h[1])
    True
    """
    lp, nt = document_log_probs(model, texts, executor=executor)
    return -lp / np.maximum(nt, 1)


def likelihood_ratio(
    model_a: DocumentLM,
    model_b: DocumentLM,
    texts: Sequence[str],
    *,
    normalize: str = "token",
    executor: Executor | None = None,
) -> np.ndarray:
    """Return ``log P_A(x) - log P_B(x)`` per document (per token of each model with ``normalize="token"``).

    Parameters
    ----------
    normalize
        ``"token"``: difference of per-token log-likelihoods, each model divided by its
        own token count (Moore-Lewis; comparable across document lengths); ``"none"``:
        difference of total log-likelihoods (the OOD-detection score).

    Examples
    --------
    >>> from thresher.text.ngram import NgramLM
    >>> a = NgramLM(order=2).fit(["cats purr", "cats meow softly"])
    >>> b = NgramLM(order=2).fit(["stocks fell", "bonds rose sharply"])
    >>> r = likelihood_ratio(a, b, ["cats purr softly", "bonds fell"])
    >>> bool(r[0] > 0 > r[1])
    True
    """
    check_choice(normalize, "normalize", "likelihood_ratio", ("token", "none"))
    texts = list(texts)
    la, na = document_log_probs(model_a, texts, executor=executor)
    lb, nb = document_log_probs(model_b, texts, executor=executor)
    if normalize == "none":
        return la - lb
    return la / np.maximum(na, 1) - lb / np.maximum(nb, 1)
