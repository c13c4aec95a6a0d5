"""Text scorers: n-gram perplexity, Moore-Lewis, DSIR importance weights, likelihood ratios, quality, near-duplicates.

Each scorer reads the ``text`` column. Reference and target corpora are constructor
parameters given as a list of documents or a path that :func:`thresher.data.text.read_text`
understands (JSON Lines, Parquet, a text file with one document per line, or a folder);
models are fitted inside the call, so constructors only store arguments. The algorithms
live in :mod:`thresher.text` (one module per method); this module adapts them to the
scorer contract.

To resample toward a target with DSIR, score with ``dsir`` and select with
``ImportanceResampling(by="score.dsir", log=True)`` (Gumbel top-k).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import register_scorer
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.execute.base import Executor, get_executor
from thresher.scores.base import BaseScorer

__all__ = ["Perplexity", "MooreLewis", "DSIRWeight", "LikelihoodRatio", "TextQuality", "NearDuplicateCount"]

Corpus = Sequence[str] | str | os.PathLike[str]

# A tiny built-in corpus for the conformance examples (the shared fixture's words).
_EXAMPLE_TARGET = [
    "alpha beta gamma delta",
    "train the model on data",
    "select data to train a model",
    "alpha model beta data",
]
_EXAMPLE_GENERAL = [
    "the cat sat on the mat",
    "stock prices fell sharply today",
    "alpha beta release of the software",
    "we select a candidate for the job",
]


def load_corpus(corpus: Any, param: str, owner: str) -> list[str]:
    """Return the documents of ``corpus`` (a list of strings or a path read with ``read_text``)."""
    if isinstance(corpus, (str, os.PathLike)):
        from thresher.data.text import read_text

        p = Path(corpus)
        if not p.exists():
            raise fail(param, owner, "a list of documents or an existing file/folder", str(corpus))
        t = read_text(p, on_empty="drop")
        return [str(x) for x in t.text]
    if isinstance(corpus, Sequence) and len(corpus) > 0 and all(isinstance(x, str) for x in corpus):
        return list(corpus)
    raise fail(param, owner, "a non-empty list of strings or a path", corpus)


def _texts(table: Table) -> list[str]:
    return ["" if x is None else str(x) for x in table.text]


def _executor(value: Any) -> Executor | None:
    return None if value is None else get_executor(value)


@register_scorer("perplexity")
class Perplexity(BaseScorer):
    """Score documents by perplexity under a modified Kneser-Ney n-gram model of a reference corpus (CCNet).

    Lower perplexity means the document looks more like the reference (Wenzek et al.,
    "CCNet", 2020, which keeps Common Crawl documents with low perplexity under a
    Wikipedia model). Give ``reference`` (the model is trained inside the call) or
    ``kenlm_model`` (a KenLM ARPA/binary file; needs the ``kenlm`` package).

    Parameters
    ----------
    reference
        Reference documents, or a path to read them from.
    order
        n-gram order.
    kenlm_model
        Path of a KenLM model to use instead of training one.
    executor
        ``"local"``, ``"ray"`` or an Executor to score documents in shards.

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> t = Table(columns={"text": np.array(["the cat sat", "sat cat the"], dtype=object)})
    >>> ppl = Perplexity(reference=["the cat sat on the mat", "the dog sat"]).score(t)
    >>> bool(ppl[0] < ppl[1])
    True
    """

    name = "perplexity"
    higher_is_better = False
    requires = frozenset({"text"})
    rowwise = True

    def __init__(
        self, reference: Corpus | None = None, order: int = 3, kenlm_model: str | None = None, executor: Any = None
    ) -> None:
        self.reference = reference
        self.order = order
        self.kenlm_model = kenlm_model
        self.executor = executor

    def _model(self) -> Any:
        from thresher.text.ngram import KenLMModel, NgramLM

        owner = type(self).__name__
        if (self.reference is None) == (self.kenlm_model is None):
            raise InvalidParameterError(f"{owner} takes exactly one of `reference` or `kenlm_model`; got "
                                        f"reference={'given' if self.reference is not None else None}, "
                                        f"kenlm_model={self.kenlm_model!r}.")
        # fitted once per scorer object, so scoring batch by batch (out of core) fits once
        key = (self.order, self.kenlm_model, id(self.reference))
        cache = self.__dict__.setdefault("_fitted_", {})
        if key not in cache:
            cache.clear()
            if self.kenlm_model is not None:
                cache[key] = KenLMModel(self.kenlm_model)
            else:
                cache[key] = NgramLM(order=self.order).fit(load_corpus(self.reference, "reference", owner))
        return cache[key]

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.ngram import perplexity

        return perplexity(self._model(), _texts(table), executor=_executor(self.executor))

    @classmethod
    def make_example(cls) -> Perplexity:
        return cls(reference=_EXAMPLE_TARGET, order=3)


@register_scorer("moore_lewis")
class MooreLewis(BaseScorer):
    """Score documents by the Moore-Lewis cross-entropy difference H_target(x) - H_general(x).

    Moore & Lewis, "Intelligent Selection of Language Model Training Data" (ACL 2010):
    per-token cross-entropy under an n-gram model of the target domain minus that under a
    model of general text; lower means more target-like. When ``general`` is ``None`` the
    table's own documents are the general corpus, cross-fitted: each document is scored
    by a general model trained on the other ``n_folds - 1`` folds, because a model that
    has seen the document itself gives it an inflated likelihood (with order >= 2 this
    in-sample bias swamps the domain signal).

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> t = Table(columns={"text": np.array(["cats purr softly", "stocks fell"], dtype=object)})
    >>> s = MooreLewis(target=["cats purr", "cats meow softly"], general=["stocks fell", "cats"]).score(t)
    >>> bool(s[0] < s[1])
    True
    """

    name = "moore_lewis"
    higher_is_better = False
    requires = frozenset({"text"})

    def __init__(
        self, target: Corpus, general: Corpus | None = None, order: int = 3, n_folds: int = 5, executor: Any = None
    ) -> None:
        self.target = target
        self.general = general
        self.order = order
        self.n_folds = n_folds
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.likelihood import cross_entropy
        from thresher.text.ngram import NgramLM

        owner = type(self).__name__
        texts = _texts(table)
        ex = _executor(self.executor)
        h_target = cross_entropy(NgramLM(order=self.order).fit(load_corpus(self.target, "target", owner)), texts,
                                 executor=ex)
        if self.general is not None:
            general = NgramLM(order=self.order).fit(load_corpus(self.general, "general", owner))
            return h_target - cross_entropy(general, texts, executor=ex)
        k = min(check_int(self.n_folds, "n_folds", owner, low=2), len(texts))
        folds = rng.permutation(len(texts)) % k
        h_general = np.empty(len(texts))
        for f in range(k):
            test = np.flatnonzero(folds == f)
            train = [texts[i] for i in np.flatnonzero(folds != f)]
            if not any(t.strip() for t in train):
                train = texts  # every other document is empty: fall back to the in-sample model
            lm = NgramLM(order=self.order).fit(train)
            h_general[test] = cross_entropy(lm, [texts[i] for i in test], executor=ex)
        return h_target - h_general

    @classmethod
    def make_example(cls) -> MooreLewis:
        return cls(target=_EXAMPLE_TARGET, order=2, n_folds=3)


@register_scorer("dsir")
class DSIRWeight(BaseScorer):
    """Score documents by their DSIR log importance weight toward a target corpus (hashed n-grams).

    Xie et al., "Data Selection for Language Models via Importance Resampling" (2023).
    The raw distribution is fitted on the table's own documents unless ``raw`` is given.
    Documents with fewer than ``min_words`` words score ``-inf`` (zero weight).
    Resample with ``ImportanceResampling(by="score.dsir", log=True)``.

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> t = Table(columns={"text": np.array(["cats purr", "stocks fell", "cats meow"], dtype=object)})
    >>> w = DSIRWeight(target=["cats purr and meow"], num_buckets=256).score(t)
    >>> int(np.argmin(w))
    1
    """

    name = "dsir"
    higher_is_better = True
    requires = frozenset({"text"})

    def __init__(
        self,
        target: Corpus,
        raw: Corpus | None = None,
        n: int = 2,
        num_buckets: int = 10000,
        min_words: int = 1,
        executor: Any = None,
    ) -> None:
        self.target = target
        self.raw = raw
        self.n = n
        self.num_buckets = num_buckets
        self.min_words = min_words
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.dsir import DSIR

        owner = type(self).__name__
        texts = _texts(table)
        raw = texts if self.raw is None else load_corpus(self.raw, "raw", owner)
        ex = _executor(self.executor)
        model = DSIR(n=self.n, num_buckets=self.num_buckets, min_words=self.min_words)
        target = load_corpus(self.target, "target", owner)
        if self.raw is None:
            return model.fit_log_weights(target, texts, executor=ex)
        key = (self.n, self.num_buckets, self.min_words, id(self.target), id(self.raw))
        cache = self.__dict__.setdefault("_fitted_", {})  # fitted once per scorer object (see Perplexity)
        if key not in cache:
            cache.clear()
            cache[key] = model.fit(target, raw, executor=ex)
        return cache[key].log_importance_weights(texts, executor=ex)

    def is_rowwise(self) -> bool:
        """Row-wise only with a fixed ``raw`` corpus (else the raw distribution is fitted on the table)."""
        return self.raw is not None

    @classmethod
    def make_example(cls) -> DSIRWeight:
        return cls(target=_EXAMPLE_TARGET, num_buckets=512)


@register_scorer("likelihood_ratio")
class LikelihoodRatio(BaseScorer):
    """Score documents by log P_target(x) - log P_reference(x) between two language models.

    Each side is an n-gram model trained on a corpus (``target`` / ``reference``) or a
    local Hugging Face causal LM directory (``target_model`` / ``reference_model``;
    loaded with ``local_files_only``). Higher means more like the target: with a
    fine-tuned LLM against its base model this is the OOD score of Zhang et al. (2024),
    low values marking out-of-distribution text.

    Parameters
    ----------
    normalize
        ``"token"`` (per-token log-likelihoods) or ``"none"`` (total log-likelihoods).

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> t = Table(columns={"text": np.array(["cats purr softly", "bonds fell"], dtype=object)})
    >>> r = LikelihoodRatio(target=["cats purr", "cats meow softly"], reference=["stocks fell", "bonds rose"]).score(t)
    >>> bool(r[0] > 0 > r[1])
    True
    """

    name = "likelihood_ratio"
    higher_is_better = True
    requires = frozenset({"text"})
    rowwise = True

    def __init__(
        self,
        target: Corpus | None = None,
        reference: Corpus | None = None,
        target_model: str | None = None,
        reference_model: str | None = None,
        order: int = 3,
        normalize: str = "token",
        executor: Any = None,
    ) -> None:
        self.target = target
        self.reference = reference
        self.target_model = target_model
        self.reference_model = reference_model
        self.order = order
        self.normalize = normalize
        self.executor = executor

    def _side(self, corpus: Any, model: Any, which: str) -> Any:
        from thresher.text.likelihood import CausalLM
        from thresher.text.ngram import NgramLM

        owner = type(self).__name__
        if (corpus is None) == (model is None):
            raise InvalidParameterError(
                f"{owner} takes exactly one of `{which}` or `{which}_model`; got "
                f"{which}={'given' if corpus is not None else None}, {which}_model={model!r}."
            )
        key = (which, self.order, model, id(corpus))  # fitted once per scorer object (see Perplexity)
        cache = self.__dict__.setdefault("_fitted_", {})
        if key not in cache:
            cache[key] = CausalLM(model) if model is not None else NgramLM(order=self.order).fit(
                load_corpus(corpus, which, owner))
        return cache[key]

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.likelihood import likelihood_ratio

        check_choice(self.normalize, "normalize", type(self).__name__, ("token", "none"))
        a = self._side(self.target, self.target_model, "target")
        b = self._side(self.reference, self.reference_model, "reference")
        return likelihood_ratio(a, b, _texts(table), normalize=self.normalize, executor=_executor(self.executor))

    @classmethod
    def make_example(cls) -> LikelihoodRatio:
        return cls(target=_EXAMPLE_TARGET, reference=_EXAMPLE_GENERAL, order=2)


@register_scorer("text_quality")
class TextQuality(BaseScorer):
    """Score documents by the fraction of Gopher and C4 quality rules they pass.

    The individual signals and per-rule flags (``score.quality.*``, ``flag.quality.*``)
    come from :func:`thresher.text.quality.add_quality_columns`; this scorer summarises
    them in one number in [0, 1] (1 = passes every rule in ``rules``).

    Parameters
    ----------
    rules
        Names of the rules to count (``None``: all of :data:`thresher.text.quality.RULES`).

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> t = Table(columns={"text": np.array(["lorem ipsum {}", "ok"], dtype=object)})
    >>> TextQuality(rules=["lorem_ipsum", "curly_bracket"]).score(t).tolist()
    [0.0, 1.0]
    """

    name = "text_quality"
    higher_is_better = True
    requires = frozenset({"text"})
    rowwise = True

    def __init__(self, rules: Sequence[str] | None = None, executor: Any = None) -> None:
        self.rules = rules
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.quality import RULES, quality_flags, quality_signals

        known = {r.name: r for r in RULES}
        chosen = list(known.values()) if self.rules is None else [
            known[check_choice(r, "rules", type(self).__name__, tuple(known))] for r in self.rules
        ]
        if not chosen:
            raise fail("rules", type(self).__name__, "a non-empty list of rule names", self.rules)
        flags = quality_flags(quality_signals(_texts(table), executor=_executor(self.executor)), chosen)
        return 1.0 - np.mean(np.stack(list(flags.values())), axis=0)


@register_scorer("text_near_duplicates")
class NearDuplicateCount(BaseScorer):
    """Score documents by the size of their MinHash-LSH near-duplicate cluster (1 = unique).

    Lower is better. For the cluster ids and the keep-one flag use
    :func:`thresher.text.minhash.add_near_duplicate_columns`.

    Parameters
    ----------
    threshold
        Jaccard similarity of word-shingle sets above which documents are near-duplicates.
    num_perm, ngram, hash_seed
        Signature length, words per shingle, seed of the hash permutations.

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> docs = ["a b c d e f g h i j", "a b c d e f g h i j k", "z y x w v u t s r q"]
    >>> t = Table(columns={"text": np.array(docs, dtype=object)})
    >>> NearDuplicateCount(ngram=2).score(t).tolist()
    [2.0, 2.0, 1.0]
    """

    name = "text_near_duplicates"
    higher_is_better = False
    requires = frozenset({"text"})

    def __init__(
        self, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5, hash_seed: int = 1, executor: Any = None
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.ngram = ngram
        self.hash_seed = hash_seed
        self.executor = executor

    def _score(self, table: Table, rng: np.random.Generator) -> np.ndarray:
        from thresher.text.minhash import near_duplicates

        owner = type(self).__name__
        check_float(self.threshold, "threshold", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int(self.hash_seed, "hash_seed", owner, low=0)
        nd = near_duplicates(
            _texts(table),
            threshold=self.threshold,
            num_perm=self.num_perm,
            ngram=self.ngram,
            seed=self.hash_seed,
            executor=_executor(self.executor),
        )
        return nd.cluster_size.astype(np.float64)
