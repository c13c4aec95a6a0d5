"""Heuristic document-quality signals: the Gopher and C4 rules, each as a value and a flag.

Sources and thresholds:

* Gopher quality filter (Rae et al., "Scaling Language Models: Methods, Analysis &
  Insights from Training Gopher", 2021, appendix A.1.1): keep a document with 50 to
  100,000 words, mean word length 3 to 10 characters, a symbol-to-word ratio (``#`` and
  ellipses) of at most 0.1, at most 90% of lines starting with a bullet, at most 30% of
  lines ending in an ellipsis, at least 80% of words containing a letter, and at least
  two of the stop words *the, be, to, of, and, that, have, with*.
* Gopher repetition filter (same appendix, table A1): duplicate-line fraction <= 0.30,
  duplicate-paragraph fraction <= 0.30, characters in duplicate lines <= 0.20 and in
  duplicate paragraphs <= 0.20; characters in the most frequent 2-, 3-, 4-gram <= 0.20,
  0.18, 0.16; characters in duplicated 5..10-grams <= 0.15, 0.14, 0.13, 0.12, 0.11, 0.10.
* C4 (Raffel et al., "Exploring the Limits of Transfer Learning with a Unified
  Text-to-Text Transformer", JMLR 2020, section 2.2): drop pages containing "lorem
  ipsum" or a curly bracket and pages with fewer than 5 sentences; keep only lines that
  end in terminal punctuation and have at least 3 words (here: the fraction of lines
  that survive, flagged when none does).

Words are whitespace-separated tokens; "non-symbol" words (those with at least one
character that is not punctuation) are what word count and mean word length use, as
in datatrove's Gopher filter. Character fractions are over the characters of words
(spaces excluded). A document's duplicated n-gram characters are those of every word
covered by an occurrence of an n-gram occurring at least twice, each word counted once.

:func:`quality_signals` computes every signal; :func:`quality_flags` applies
:data:`RULES`; :func:`add_quality_columns` writes ``score.quality.<signal>`` and
``flag.quality.<rule>`` (True = the document fails the rule) onto a table.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thresher.data.table import Table
from thresher.errors import DataError
from thresher.execute.base import Executor, Shard, get_executor, make_shards

__all__ = ["Rule", "RULES", "STOP_WORDS", "document_signals", "quality_signals", "quality_flags", "add_quality_columns"]

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_PUNCT = frozenset(string.punctuation + "…‘’“”—–«»·")
_BULLETS = ("-", "*", "•", "‣", "◦", "⁃", "●", "▪")
_TERMINAL = (".", "!", "?", '"', "”", "'", "’")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_PARA_SPLIT = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Rule:
    """One threshold rule on one signal: the document fails when the value is outside [low, high]."""

    name: str
    signal: str
    low: float | None
    high: float | None
    source: str

    def fails(self, values: np.ndarray) -> np.ndarray:
        bad = np.zeros(values.shape, dtype=bool)
        if self.low is not None:
            bad |= values < self.low
        if self.high is not None:
            bad |= values > self.high
        return bad


RULES: tuple[Rule, ...] = (
    Rule("word_count", "word_count", 50, 100_000, "gopher"),
    Rule("mean_word_length", "mean_word_length", 3, 10, "gopher"),
    Rule("symbol_ratio", "symbol_word_ratio", None, 0.1, "gopher"),
    Rule("bullet_lines", "bullet_line_fraction", None, 0.9, "gopher"),
    Rule("ellipsis_lines", "ellipsis_line_fraction", None, 0.3, "gopher"),
    Rule("alpha_words", "alpha_word_fraction", 0.8, None, "gopher"),
    Rule("stop_words", "stop_word_count", 2, None, "gopher"),
    Rule("dup_lines", "dup_line_fraction", None, 0.30, "gopher"),
    Rule("dup_paragraphs", "dup_paragraph_fraction", None, 0.30, "gopher"),
    Rule("dup_line_chars", "dup_line_char_fraction", None, 0.20, "gopher"),
    Rule("dup_paragraph_chars", "dup_paragraph_char_fraction", None, 0.20, "gopher"),
    Rule("top_2gram", "top_2gram_char_fraction", None, 0.20, "gopher"),
    Rule("top_3gram", "top_3gram_char_fraction", None, 0.18, "gopher"),
    Rule("top_4gram", "top_4gram_char_fraction", None, 0.16, "gopher"),
    *(
        Rule(f"dup_{n}gram", f"dup_{n}gram_char_fraction", None, t, "gopher")
        for n, t in zip(range(5, 11), (0.15, 0.14, 0.13, 0.12, 0.11, 0.10))
    ),
    Rule("lorem_ipsum", "has_lorem_ipsum", None, 0, "c4"),
    Rule("curly_bracket", "has_curly_bracket", None, 0, "c4"),
    Rule("sentences", "sentence_count", 5, None, "c4"),
    Rule("terminal_lines", "c4_line_keep_fraction", 1e-12, None, "c4"),
)
"""The rules applied by :func:`quality_flags` (name, signal, bounds, source)."""

SIGNALS: tuple[str, ...] = tuple(dict.fromkeys(r.signal for r in RULES))


def _dup_fractions(units: list[str]) -> tuple[float, float]:
    """Return (fraction of units repeating an earlier one, fraction of their characters)."""
    if not units:
        return 0.0, 0.0
    seen: set[str] = set()
    n_dup = 0
    dup_chars = 0
    total = 0
    for u in units:
        total += len(u)
        if u in seen:
            n_dup += 1
            dup_chars += len(u)
        else:
            seen.add(u)
    return n_dup / len(units), (dup_chars / total if total else 0.0)


def _top_ngram_char_fraction(words: list[str], n: int, total_chars: int) -> float:
    if len(words) < n or total_chars == 0:
        return 0.0
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = max(grams.items(), key=lambda kv: (kv[1], -len("".join(kv[0]))))
    if count < 2:
        return 0.0
    return sum(len(w) for w in gram) * count / total_chars


def _dup_ngram_char_fraction(words: list[str], n: int, total_chars: int) -> float:
    if len(words) < n or total_chars == 0:
        return 0.0
    starts: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - n + 1):
        starts.setdefault(tuple(words[i : i + n]), []).append(i)
    covered = np.zeros(len(words), dtype=bool)
    for pos in starts.values():
        if len(pos) > 1:
            for i in pos:
                covered[i : i + n] = True
    lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    return float(lengths[covered].sum() / total_chars)


def document_signals(text: str) -> dict[str, float]:
    """Return every quality signal of one document.

    Examples
    --------
    >>> s = document_signals("The cat sat.\\nThe cat sat.\\n- and with a hat...")
    >>> s["word_count"], s["dup_line_fraction"], s["stop_word_count"]
    (10.0, 0.3333333333333333, 3.0)
    """
    if not isinstance(text, str):
        raise DataError(f"a document must be a string; got {type(text).__name__}.")
    words = text.split()
    n_words = len(words)
    content = [w for w in words if any(ch not in _PUNCT for ch in w)]
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    paragraphs = [p.strip() for p in _PARA_SPLIT.split(text) if p.strip()]
    lower_words = [w.lower() for w in words]
    total_chars = sum(len(w) for w in words)
    out: dict[str, float] = {}
    out["word_count"] = float(len(content))
    out["mean_word_length"] = float(np.mean([len(w) for w in content])) if content else 0.0
    n_symbols = text.count("#") + text.count("...") + text.count("…")
    out["symbol_word_ratio"] = n_symbols / n_words if n_words else 0.0
    out["bullet_line_fraction"] = sum(ln.startswith(_BULLETS) for ln in lines) / len(lines) if lines else 0.0
    out["ellipsis_line_fraction"] = (
        sum(ln.endswith(("...", "…")) for ln in lines) / len(lines) if lines else 0.0
    )
    out["alpha_word_fraction"] = sum(any(c.isalpha() for c in w) for w in words) / n_words if n_words else 0.0
    stripped = {w.strip(string.punctuation) for w in lower_words}
    out["stop_word_count"] = float(len(STOP_WORDS & stripped))
    out["dup_line_fraction"], out["dup_line_char_fraction"] = _dup_fractions(lines)
    out["dup_paragraph_fraction"], out["dup_paragraph_char_fraction"] = _dup_fractions(paragraphs)
    for n in (2, 3, 4):
        out[f"top_{n}gram_char_fraction"] = _top_ngram_char_fraction(lower_words, n, total_chars)
    for n in range(5, 11):
        out[f"dup_{n}gram_char_fraction"] = _dup_ngram_char_fraction(lower_words, n, total_chars)
    low = text.lower()
    out["has_lorem_ipsum"] = float("lorem ipsum" in low)
    out["has_curly_bracket"] = float("{" in text or "}" in text)
    out["sentence_count"] = float(len(_SENTENCE_END.findall(text)))
    kept = [ln for ln in lines if ln.endswith(_TERMINAL) and len(ln.split()) >= 3]
    out["c4_line_keep_fraction"] = len(kept) / len(lines) if lines else 0.0
    return out


def quality_signals(
    texts: Sequence[str], *, shard_size: int = 2000, executor: Executor | None = None
) -> dict[str, np.ndarray]:
    """Return every quality signal for every document, as float64 arrays keyed by signal name.

    Examples
    --------
    >>> sig = quality_signals(["one two three", "a b"])
    >>> sig["word_count"].tolist()
    [3.0, 2.0]
    """
    texts = list(texts)
    shards = make_shards(len(texts), shard_size=shard_size, seed=0)

    def run(shard: Shard) -> list[dict[str, float]]:
        return [document_signals(t) for t in texts[shard.start : shard.stop]]

    rows = [r for part in get_executor(executor).map(run, shards) for r in part]
    return {s: np.array([r[s] for r in rows], dtype=np.float64) for s in SIGNALS}


def quality_flags(signals: dict[str, np.ndarray], rules: Sequence[Rule] = RULES) -> dict[str, np.ndarray]:
    """Return, per rule, a boolean array that is True where the document fails it.

    Examples
    --------
    >>> flags = quality_flags(quality_signals(["too short"]))
    >>> bool(flags["word_count"][0]), bool(flags["lorem_ipsum"][0])
    (True, False)
    """
    return {r.name: r.fails(np.asarray(signals[r.signal], dtype=np.float64)) for r in rules}


def add_quality_columns(table: Table, *, executor: Executor | None = None) -> Table:
    """Return ``table`` with ``score.quality.<signal>`` and ``flag.quality.<rule>`` columns.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"text": np.array(["lorem ipsum dolor", "fine"], dtype=object)})
    >>> add_quality_columns(t).column("flag.quality.lorem_ipsum").tolist()
    [True, False]
    """
    table.require(["text"], "add_quality_columns")
    sig = quality_signals([str(t) for t in table.text], executor=executor)
    cols: dict[str, np.ndarray] = {f"score.quality.{k}": v for k, v in sig.items()}
    cols.update({f"flag.quality.{k}": v for k, v in quality_flags(sig).items()})
    return table.with_columns(cols)
