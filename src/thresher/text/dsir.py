"""DSIR: data selection by importance resampling on hashed n-gram features.

Xie, Santurkar, Ma & Liang, "Data Selection for Language Models via Importance
Resampling" (NeurIPS 2023). Each document becomes a bag of hashed word unigrams and
bigrams (``num_buckets`` buckets). Two bag-of-hashed-n-grams distributions are fitted,
one on the target corpus (``p``) and one on the raw pool (``q``); a raw document's
log importance weight is ``sum_j x_j (log p_j - log q_j)`` over its feature counts
``x``. Resampling keeps ``k`` documents without replacement with probabilities
proportional to ``exp(log weight)`` by the Gumbel top-k trick
(:func:`thresher.select.sampling.gumbel_topk`).

Hashing follows the reference implementation (the ``data-selection`` package): words
come from the WordPunct rule on lower-cased text and each unigram/bigram string goes to
bucket ``int(sha256(gram)) % num_buckets``. The hash of each distinct n-gram is computed
once and cached, which is what makes SHA-256 affordable; documents are featurised in
shards through any Executor. The log-ratio uses the reference's additive ``1e-8``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
import numpy as np
import scipy.sparse as sp

from thresher._typing import Seed, as_generator
from thresher._validation import check_float, check_int
from thresher.errors import DataError
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.select.sampling import gumbel_topk
from thresher.text.ngram import tokenize

__all__ = ["hashed_ngram_features", "DSIR", "dsir_resample"]


class _BucketHasher:
    """Map n-gram strings to buckets, hashing each distinct string once."""

    def __init__(self, num_buckets: int) -> None:
        self.num_buckets = num_buckets
        self.cache: dict[str, int] = {}

    def __call__(self, gram: str) -> int:
        b = self.cache.get(gram)
        if b is None:
            b = int(hashlib.sha256(gram.encode("utf-8")).hexdigest(), 16) % self.num_buckets
            self.cache[gram] = b
        return b


def _featurize(texts: Sequence[str], n: int, num_buckets: int) -> sp.csr_matrix:
    hasher = _BucketHasher(num_buckets)
    indptr = [0]
    indices: list[int] = []
    for t in texts:
        words = tokenize(t)
        indices.extend(hasher(w) for w in words)
        for k in range(2, n + 1):
            indices.extend(hasher(" ".join(words[i : i + k])) for i in range(len(words) - k + 1))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    X = sp.csr_matrix(
        (data, np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(texts), num_buckets),
    )
    X.sum_duplicates()
    return X


def hashed_ngram_features(
    texts: Sequence[str],
    *,
    n: int = 2,
    num_buckets: int = 10000,
    shard_size: int = 5000,
    executor: Executor | None = None,
) -> sp.csr_matrix:
    """Return hashed 1..n-gram counts per document, a sparse (n_docs, num_buckets) matrix.

    Examples
    --------
    >>> X = hashed_ngram_features(["a b a", "c"], num_buckets=64)
    >>> X.shape, X.sum(axis=1).A1.tolist()
    ((2, 64), [5.0, 1.0])
    """
    owner = "hashed_ngram_features"
    check_int(n, "n", owner, low=1)
    check_int(num_buckets, "num_buckets", owner, low=1)
    check_int(shard_size, "shard_size", owner, low=1)
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"document {i} of `texts` of {owner} must be a string; got {type(t).__name__}.")
    shards = make_shards(len(texts), shard_size=shard_size, seed=0)

    def run(shard: Shard) -> sp.csr_matrix:
        return _featurize(texts[shard.start : shard.stop], n, num_buckets)

    parts = list(get_executor(executor).map(run, shards))
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, num_buckets))


class DSIR:
    """Fit DSIR's target and raw bag-of-hashed-n-grams models and weight documents toward the target.

    Parameters
    ----------
    n
        Longest n-gram (``2``: unigrams and bigrams, as in the paper).
    num_buckets
        Number of hash buckets (the paper's 10,000).
    smoothing
        Added to both distributions before the log-ratio (the reference uses ``1e-8``).
    min_words
        Documents with fewer words get log weight ``-inf`` (never resampled), like the
        reference's ``min_example_length`` filter; without it an empty document would get
        weight ``exp(0) = 1``, above most real documents.

    Examples
    --------
    >>> target = ["the cat sat on the mat", "a cat and a hat"]
    >>> raw = ["the cat sat", "stock prices fell sharply", "bond yields rose"]
    >>> d = DSIR(num_buckets=256).fit(target, raw)
    >>> w = d.log_importance_weights(raw)
    >>> int(w.argmax())
    0
    """

    def __init__(self, n: int = 2, num_buckets: int = 10000, smoothing: float = 1e-8, min_words: int = 1) -> None:
        self.n = n
        self.num_buckets = num_buckets
        self.smoothing = smoothing
        self.min_words = min_words

    def fit(
        self,
        target: Sequence[str],
        raw: Sequence[str],
        *,
        executor: Executor | None = None,
    ) -> DSIR:
        """Estimate the target (``p``) and raw (``q``) n-gram distributions and their log-ratio."""
        self._fit(self._features(target, executor), self._features(raw, executor))
        return self

    def fit_log_weights(
        self, target: Sequence[str], raw: Sequence[str], *, executor: Executor | None = None
    ) -> np.ndarray:
        """Fit on ``target`` and ``raw`` and return the raw documents' log weights (featurising ``raw`` once)."""
        Xr = self._features(raw, executor)
        self._fit(self._features(target, executor), Xr)
        return self._weights(Xr)

    def _weights(self, X: sp.csr_matrix) -> np.ndarray:
        check_int(self.min_words, "min_words", "DSIR", low=0)
        lw = np.asarray(X @ self.log_diff_, dtype=np.float64).ravel()
        # w words give F(w) = sum_{k=1..n} max(w - k + 1, 0) features, strictly increasing in w,
        # so "fewer than min_words words" is "fewer than F(min_words) features"
        m = self.min_words
        min_features = sum(max(m - k + 1, 0) for k in range(1, self.n + 1))
        lw[np.asarray(X.sum(axis=1)).ravel() < min_features] = -np.inf
        return lw

    def _fit(self, Xt: sp.csr_matrix, Xr: sp.csr_matrix) -> None:
        check_float(self.smoothing, "smoothing", "DSIR", low=0.0, low_open=True)
        ct = np.asarray(Xt.sum(axis=0)).ravel()
        cr = np.asarray(Xr.sum(axis=0)).ravel()
        if ct.sum() == 0:
            raise DataError("`target` of DSIR must contain at least one word; got only empty documents.")
        if cr.sum() == 0:
            raise DataError("`raw` of DSIR must contain at least one word; got only empty documents.")
        self.target_probs_ = ct / ct.sum()
        self.raw_probs_ = cr / cr.sum()
        self.log_diff_ = np.log(self.target_probs_ + self.smoothing) - np.log(self.raw_probs_ + self.smoothing)

    def _features(self, texts: Sequence[str], executor: Executor | None) -> sp.csr_matrix:
        return hashed_ngram_features(texts, n=self.n, num_buckets=self.num_buckets, executor=executor)

    def log_importance_weights(self, texts: Sequence[str], *, executor: Executor | None = None) -> np.ndarray:
        """Return each document's log importance weight ``x . (log p - log q)`` (``-inf`` below ``min_words``)."""
        if not hasattr(self, "log_diff_"):
            raise DataError("DSIR must be fitted (call .fit(target, raw)) before it can weight documents.")
        return self._weights(self._features(texts, executor))


def dsir_resample(
    raw: Sequence[str],
    target: Sequence[str],
    k: int,
    *,
    seed: Seed = None,
    n: int = 2,
    num_buckets: int = 10000,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``k`` raw documents toward ``target``; return (positions in draw order, log weights).

    Examples
    --------
    >>> raw = ["cats purr", "cats meow", "stocks fell", "bonds rose"]
    >>> pos, lw = dsir_resample(raw, ["cats purr and meow"], 2, seed=0, num_buckets=128)
    >>> sorted(pos.tolist())
    [0, 1]
    """
    check_int(k, "k", "dsir_resample", low=0, high=len(raw))
    lw = DSIR(n=n, num_buckets=num_buckets).fit_log_weights(target, raw, executor=executor)
    return gumbel_topk(lw, k, as_generator(seed)), lw

