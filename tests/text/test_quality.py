"""Gopher and C4 quality rules, each on documents crafted to sit on either side of its threshold."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.text.quality import RULES, SIGNALS, add_quality_columns, document_signals, quality_flags, quality_signals

GOOD = (
    "The committee met on Tuesday to discuss the budget for the coming year. "
    "Members agreed that the library should have longer opening hours and with more staff. "
    "The treasurer presented a report on spending and noted that costs had risen. "
    "After a long debate the proposal was approved by a clear majority of those present. "
    "A summary of the decisions will be sent to every household in the town next week."
)


def _flags(text: str) -> dict[str, bool]:
    return {k: bool(v[0]) for k, v in quality_flags(quality_signals([text])).items()}


def test_clean_document_passes_every_rule() -> None:
    flags = _flags(GOOD)
    assert not any(flags.values()), [k for k, v in flags.items() if v]
    assert set(flags) == {r.name for r in RULES}


def test_word_count_bounds() -> None:
    s = document_signals("one two three , four -")  # punctuation-only tokens do not count
    assert s["word_count"] == 4
    assert _flags(" ".join(["word"] * 49))["word_count"]
    assert not _flags(" ".join(["word"] * 50))["word_count"]


def test_mean_word_length() -> None:
    assert document_signals("ab abcd")["mean_word_length"] == 3.0
    assert _flags("a b c d ab")["mean_word_length"]  # mean 1.2 < 3
    assert _flags("x" * 11 + " " + "y" * 11)["mean_word_length"]  # 11 > 10
    assert not _flags("abc defghij")["mean_word_length"]


def test_symbol_ratio() -> None:
    # 10 words, one '#' and one '...': ratio 0.2 > 0.1
    text = "#tag one two three four five six seven eight nine..."
    assert document_signals(text)["symbol_word_ratio"] == pytest.approx(0.2)
    assert _flags(text)["symbol_ratio"]
    assert not _flags("#tag one two three four five six seven eight nine ten")["symbol_ratio"]


def test_bullet_and_ellipsis_lines() -> None:
    bullets = "\n".join(["- item one"] * 9 + ["plain line here"])
    assert document_signals(bullets)["bullet_line_fraction"] == pytest.approx(0.9)
    assert not _flags(bullets)["bullet_lines"]  # 0.9 is allowed, more is not
    assert _flags("\n".join(["* item"] * 10))["bullet_lines"]
    ell = "first line...\nsecond line…\nthird line.\nfourth line."
    assert document_signals(ell)["ellipsis_line_fraction"] == 0.5
    assert _flags(ell)["ellipsis_lines"]


def test_alpha_words_and_stop_words() -> None:
    assert document_signals("abc 123 4.5 x1")["alpha_word_fraction"] == 0.5
    assert _flags("abc 123 4.5 x1")["alpha_words"]
    assert document_signals("The cat and THE dog.")["stop_word_count"] == 2  # distinct: the, and
    assert _flags("cats dogs the")["stop_words"]
    assert not _flags("the cats and dogs")["stop_words"]


def test_duplicate_lines_and_paragraphs() -> None:
    text = "same line\nsame line\nsame line\nother line"
    s = document_signals(text)
    assert s["dup_line_fraction"] == 0.5  # 2 of 4 lines repeat an earlier one
    assert s["dup_line_char_fraction"] == pytest.approx(18 / 37)
    assert _flags(text)["dup_lines"] and _flags(text)["dup_line_chars"]
    para = "para one text\n\npara one text\n\npara two"
    s = document_signals(para)
    assert s["dup_paragraph_fraction"] == pytest.approx(1 / 3)
    assert _flags(para)["dup_paragraphs"]


def test_top_ngram_fraction() -> None:
    # words: "aa bb" x3 + "cc dd": top 2-gram (aa,bb) occurs 3 times: 4 chars * 3 / 16 chars
    text = "aa bb aa bb aa bb cc dd"
    s = document_signals(text)
    assert s["top_2gram_char_fraction"] == pytest.approx(12 / 16)
    assert _flags(text)["top_2gram"]
    assert document_signals("aa bb cc dd")["top_2gram_char_fraction"] == 0.0  # nothing repeats


def test_duplicate_ngram_fraction() -> None:
    # a 5-gram repeated twice covers 10 of 12 words (each 2 chars)
    text = "w1 w2 w3 w4 w5 w1 w2 w3 w4 w5 xx yy"
    s = document_signals(text)
    assert s["dup_5gram_char_fraction"] == pytest.approx(20 / 24)
    assert s["dup_6gram_char_fraction"] == 0.0
    assert _flags(text)["dup_5gram"] and not _flags(text)["dup_6gram"]


def test_c4_rules() -> None:
    assert _flags("Lorem ipsum dolor sit amet.")["lorem_ipsum"]
    assert _flags("function f() { return 1; }")["curly_bracket"]
    assert document_signals("One. Two! Three? Four. Five.")["sentence_count"] == 5
    assert not _flags("One. Two! Three? Four. Five.")["sentences"]
    assert _flags("One. Two! Three? Four.")["sentences"]
    lines = "This line ends well.\nthis one does not\nok."
    assert document_signals(lines)["c4_line_keep_fraction"] == pytest.approx(1 / 3)  # "ok." has < 3 words
    assert _flags("no terminal punctuation here\nnor here")["terminal_lines"]


def test_empty_document_is_safe_and_flagged() -> None:
    s = document_signals("")
    assert all(np.isfinite(v) for v in s.values())
    assert _flags("")["word_count"]


def test_add_quality_columns_writes_every_signal_and_flag() -> None:
    t = Table(columns={"text": np.array([GOOD, "short"], dtype=object)})
    u = add_quality_columns(t)
    assert {f"score.quality.{s}" for s in SIGNALS} <= set(u.column_names)
    assert {f"flag.quality.{r.name}" for r in RULES} <= set(u.column_names)
    assert u.column("flag.quality.word_count").tolist() == [False, True]
