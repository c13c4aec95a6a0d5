"""Word n-gram language model with interpolated modified Kneser-Ney smoothing.

The model is the one Chen & Goodman recommend ("An Empirical Study of Smoothing
Techniques for Language Modeling", 1998, section 3): for the highest order ``n`` and a
context ``h`` with counts ``c(h w)``,

    P(w | h) = (c(h w) - D(c(h w))) / c(h .)  +  gamma(h) * P(w | h')

where ``h'`` drops the oldest word of ``h``, ``D`` takes three values ``D1, D2, D3+``
(for counts 1, 2 and >= 3) estimated from the count-of-counts ``n1..n4`` of that order
(``Y = n1 / (n1 + 2 n2)``, ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``,
``D3+ = 3 - 4Y n4/n3``), and ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / c(h .)``
gives the discounted mass to the lower order. Lower orders use *continuation* counts
(the number of distinct words seen before the n-gram) instead of raw counts; the
unigram level is interpolated with the uniform distribution over the vocabulary. A
context never seen at some order backs off to the lower order unchanged. Because every
discount is at most the count it applies to, ``sum_w P(w | h) = 1`` over the vocabulary
(training words, ``</s>`` and ``<unk>``) for every context.

Per-document perplexity under a model trained on a reference corpus is the CCNet
quality filter (Wenzek et al., "CCNet", LREC 2020); the difference of cross-entropies
under an in-domain and a general model is Moore & Lewis (ACL 2010) selection.

The implementation is plain Python dictionaries keyed by word tuples: training is one
pass of counting, scoring is ``order`` dictionary lookups per token (about a microsecond
per token), and both parallelise over documents through an Executor. When the ``kenlm``
package is installed, :class:`KenLMModel` loads an ARPA/binary model (built with KenLM's
``lmplz``, which also uses modified Kneser-Ney) as a faster drop-in for scoring.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from thresher._validation import check_int, fail
from thresher.errors import DataError, MissingDependencyError
from thresher.execute.base import Executor, get_executor, make_shards

__all__ = [
    "tokenize",
    "NgramLM",
    "KenLMModel",
    "DocumentLM",
    "document_log_probs",
    "perplexity",
    "BOS",
    "EOS",
    "UNK",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_WORD_RE = re.compile(r"\w+|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-cased words and punctuation runs (the WordPunct rule).

    Examples
    --------
    >>> tokenize("Hello, World! It's 3pm.")
    ['hello', ',', 'world', '!', 'it', "'", 's', '3pm', '.']
    """
    return _WORD_RE.findall(text.lower())


class DocumentLM(Protocol):
    """Anything that gives each document its total natural-log probability and token count."""

    def log_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Return modified Kneser-Ney discounts (D1, D2, D3+) from one order's counts.

    When the count-of-counts are too sparse for the estimate (tiny corpora) a discount
    can leave its admissible open range ``(0, k)``; that discount then falls back to the
    default ``(0.5, 1.0, 1.5)[k - 1]`` (KenLM refuses such corpora instead). Any
    discount in ``[0, k]`` keeps the probabilities summing to one.
    """
    coc = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (coc.get(i, 0) for i in (1, 2, 3, 4))
    defaults = (0.5, 1.0, 1.5)
    if n1 == 0 or n2 == 0:
        return defaults
    y = n1 / (n1 + 2 * n2)
    est = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3 if n3 > 0 else math.nan)
    out = [d if math.isfinite(d) and 0.0 < d < k else defaults[k - 1] for k, d in enumerate(est, start=1)]
    return out[0], out[1], out[2]


class NgramLM:
    """Train a word n-gram language model with interpolated modified Kneser-Ney smoothing.

    Parameters
    ----------
    order
        Length of the longest n-gram (``1`` is a unigram model).
    min_count
        Words seen fewer times than this in training map to ``<unk>``.

    Attributes
    ----------
    vocab_
        Training vocabulary (plus ``</s>`` and ``<unk>``), the outcomes probabilities sum over.

    Examples
    --------
    >>> lm = NgramLM(order=3).fit(["the cat sat on the mat", "the dog sat on the log"])
    >>> round(sum(lm.prob(w, ("on", "the")) for w in lm.vocab_), 12)
    1.0
    >>> bool(lm.perplexity(["the cat sat on the log"])[0] < lm.perplexity(["log the on sat cat the"])[0])
    True
    """

    def __init__(self, order: int = 3, min_count: int = 1) -> None:
        self.order = order
        self.min_count = min_count

    # ------------------------------------------------------------------ training
    def fit(self, corpus: Iterable[str]) -> NgramLM:
        """Count n-grams of ``corpus`` (an iterable of documents) and estimate the model."""
        owner = "NgramLM"
        n = check_int(self.order, "order", owner, low=1, high=10)
        check_int(self.min_count, "min_count", owner, low=1)
        docs = [tokenize(t) for t in _as_texts(corpus, owner)]
        word_counts = Counter(w for d in docs for w in d)
        if not word_counts:
            raise DataError("`corpus` of NgramLM must contain at least one word; got only empty documents.")
        vocab = {w for w, c in word_counts.items() if c >= self.min_count}
        vocab.discard(BOS)
        self.vocab_: list[str] = sorted(vocab | {EOS, UNK})
        self._known = frozenset(self.vocab_)
        # highest-order raw counts over padded documents
        top: Counter[tuple[str, ...]] = Counter()
        for d in docs:
            seq = [BOS] * (n - 1) + [w if w in self._known else UNK for w in d] + [EOS]
            for i in range(n - 1, len(seq)):
                top[tuple(seq[i - n + 1 : i + 1])] += 1
        counts: list[dict[tuple[str, ...], int]] = [dict() for _ in range(n + 1)]
        counts[n] = dict(top)
        # lower orders: continuation counts N1+(. g) = distinct words preceding g
        for k in range(n - 1, 0, -1):
            cont: Counter[tuple[str, ...]] = Counter()
            for g in counts[k + 1]:
                cont[g[1:]] += 1
            counts[k] = dict(cont)
        # per order: discounted numerators a(g) = (c - D(c)) / c(h.) and gamma(h)
        self._a: list[dict[tuple[str, ...], float]] = [dict() for _ in range(n + 1)]
        self._gamma: list[dict[tuple[str, ...], float]] = [dict() for _ in range(n + 1)]
        self.discounts_: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        for k in range(1, n + 1):
            disc = _discounts(counts[k].values())
            self.discounts_.append(disc)
            total: defaultdict[tuple[str, ...], int] = defaultdict(int)
            mass: defaultdict[tuple[str, ...], float] = defaultdict(float)
            for g, c in counts[k].items():
                h = g[:-1]
                total[h] += c
                mass[h] += disc[min(c, 3) - 1]
            self._a[k] = {g: (c - disc[min(c, 3) - 1]) / total[g[:-1]] for g, c in counts[k].items()}
            self._gamma[k] = {h: mass[h] / total[h] for h in total}
        self._uniform = 1.0 / len(self.vocab_)
        self.n_train_tokens_ = int(sum(len(d) + 1 for d in docs))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "_a"):
            raise DataError("NgramLM must be fitted (call .fit(corpus)) before it can score text.")

    # ------------------------------------------------------------------ scoring
    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """Return ``P(word | context)``; the context is padded with ``<s>`` on the left."""
        self._check_fitted()
        n = self.order
        w = word if word in self._known else UNK
        ctx = tuple(c if (c in self._known or c == BOS) else UNK for c in context)
        ctx = ((BOS,) * (n - 1) + ctx)[len(ctx) :] if n > 1 else ()
        return self._prob(ctx, w)

    def _prob(self, ctx: tuple[str, ...], w: str) -> float:
        # build up from the unigram level: p_k = a_k(h w) + gamma_k(h) p_{k-1}
        a, gamma = self._a, self._gamma
        p = a[1].get((w,), 0.0) + gamma[1][()] * self._uniform
        for k in range(2, self.order + 1):
            h = ctx[len(ctx) - k + 1 :]
            g = gamma[k].get(h)
            if g is None:  # context unseen at this order: back off unchanged
                continue
            p = a[k].get(h + (w,), 0.0) + g * p
        return p

    def doc_log_prob(self, text: str) -> tuple[float, int]:
        """Return (natural-log probability of the document incl. ``</s>``, number of predicted tokens)."""
        self._check_fitted()
        n = self.order
        known = self._known
        seq = [BOS] * (n - 1) + [w if w in known else UNK for w in tokenize(text)] + [EOS]
        total = 0.0
        for i in range(n - 1, len(seq)):
            total += math.log(self._prob(tuple(seq[i - n + 1 : i]), seq[i]))
        return total, len(seq) - n + 1

    def log_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return per-document total log-probabilities and token counts (float64, int64)."""
        self._check_fitted()
        lp = np.empty(len(texts))
        nt = np.empty(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            lp[i], nt[i] = self.doc_log_prob(t)
        return lp, nt

    def perplexity(self, texts: Sequence[str]) -> np.ndarray:
        """Return each document's perplexity ``exp(-log P(doc) / n_tokens)``."""
        lp, nt = self.log_probs(texts)
        return np.exp(-lp / nt)


class KenLMModel:
    """Score documents with a KenLM ARPA/binary model (optional faster backend; needs ``kenlm``).

    Parameters
    ----------
    path
        A ``.arpa`` or KenLM binary file on disk.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def _model(self) -> Any:
        if not hasattr(self, "model_"):
            try:
                import kenlm
            except ImportError:
                raise MissingDependencyError(
                    "KenLMModel needs the `kenlm` package; install it with `pip install kenlm` "
                    "(or use the built-in NgramLM backend)."
                ) from None
            if not Path(self.path).exists():
                raise fail("path", "KenLMModel", "an existing ARPA or KenLM binary file", self.path)
            self.model_ = kenlm.Model(self.path)
        return self.model_

    def log_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return per-document natural-log probabilities and token counts (``</s>`` included)."""
        m = self._model()
        lp = np.empty(len(texts))
        nt = np.empty(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            words = tokenize(t)
            lp[i] = m.score(" ".join(words), bos=True, eos=True) * math.log(10.0)
            nt[i] = len(words) + 1
        return lp, nt


def _as_texts(corpus: Iterable[Any], owner: str) -> list[str]:
    out = []
    for i, t in enumerate(corpus):
        if not isinstance(t, str):
            raise DataError(f"document {i} of `corpus` of {owner} must be a string; got {type(t).__name__}.")
        out.append(t)
    return out


def document_log_probs(
    model: DocumentLM,
    texts: Sequence[str],
    *,
    shard_size: int = 5000,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-document log-probabilities and token counts, sharded over ``executor``.

    Examples
    --------
    >>> lm = NgramLM(order=2).fit(["a b a b", "a b"])
    >>> lp, nt = document_log_probs(lm, ["a b", "b a"], shard_size=1)
    >>> nt.tolist(), bool(lp[0] > lp[1])
    ([3, 3], True)
    """
    check_int(shard_size, "shard_size", "document_log_probs", low=1)
    texts = list(texts)
    shards = make_shards(len(texts), shard_size=shard_size, seed=0)

    def run(shard: Any) -> tuple[np.ndarray, np.ndarray]:
        return model.log_probs(texts[shard.start : shard.stop])

    parts = list(get_executor(executor).map(run, shards))
    if not parts:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def perplexity(
    model: DocumentLM, texts: Sequence[str], *, shard_size: int = 5000, executor: Executor | None = None
) -> np.ndarray:
    """Return per-document perplexity under ``model`` (CCNet's filter score; lower is more typical).

    Examples
    --------
    >>> lm = NgramLM(order=2).fit(["a b a b", "a b"])
    >>> ppl = perplexity(lm, ["a b a b", "b b b b"])
    >>> bool(ppl[0] < ppl[1])
    True
    """
    lp, nt = document_log_probs(model, texts, shard_size=shard_size, executor=executor)
    return np.exp(-lp / nt)
