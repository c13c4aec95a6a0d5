"""Text data: n-gram language models, DSIR importance weights, quality rules, MinHash near-duplicates.

The scorers that put these signals into a table live in :mod:`thresher.scores.text`;
reading text tables is :mod:`thresher.data.text`; sentence embeddings are
:mod:`thresher.signals.embedders`.
"""

from thresher.text.ngram import NgramLM, perplexity, tokenize

__all__ = ["NgramLM", "perplexity", "tokenize"]
