"""Modified Kneser-Ney n-gram model: normalisation, a hand-computed bigram model, perplexity ordering, KenLM."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.errors import DataError, MissingDependencyError
from thresher.execute.base import LocalExecutor
from thresher.text.ngram import BOS, EOS, UNK, KenLMModel, NgramLM, document_log_probs, perplexity, tokenize

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog sat together",
    "the mat was on the floor",
    "the dog chased the cat off the mat",
]


def _contexts(lm: NgramLM, texts: list[str]) -> set[tuple[str, ...]]:
    n = lm.order
    out = set()
    for t in texts:
        seq = [BOS] * (n - 1) + tokenize(t) + [EOS]
        for i in range(n - 1, len(seq)):
            out.add(tuple(seq[i - n + 1 : i]))
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_for_every_context_seen(order: int) -> None:
    lm = NgramLM(order=order).fit(CORPUS)
    test_docs = ["the cat sat on the log", "zebra sat on the mat", "on the the the"]
    contexts = _contexts(lm, CORPUS + test_docs) | {("never", "seen", "words")[: order - 1]}
    assert len(contexts) > 5 or order == 1
    for ctx in contexts:
        total = math.fsum(lm.prob(w, ctx) for w in lm.vocab_)
        assert total == pytest.approx(1.0, abs=1e-12), ctx
        assert all(lm.prob(w, ctx) > 0 for w in lm.vocab_)


@settings(max_examples=25, deadline=None)
@given(
    docs=st.lists(st.lists(st.sampled_from("abcde"), min_size=0, max_size=12).map(" ".join), min_size=1, max_size=8),
    order=st.integers(1, 4),
)
def test_normalisation_property(docs: list[str], order: int) -> None:
    if not any(d.strip() for d in docs):
        docs = docs + ["a"]
    lm = NgramLM(order=order).fit(docs)
    for ctx in itertools.islice(_contexts(lm, docs + ["e d c b a"]), 40):
        assert math.fsum(lm.prob(w, ctx) for w in lm.vocab_) == pytest.approx(1.0, abs=1e-12)


def test_bigram_model_matches_hand_computation() -> None:
    # corpus "a b", "a a b": bigram counts (<s> a)=2, (a b)=2, (b </s>)=2, (a a)=1.
    # order 2: n1=1, n2=3 -> Y=1/7, D1=1/7; D2 estimate is 2 (not < 2) -> default 1.0.
    # order 1 continuation counts a=2 ({<s>, a}), b=1, </s>=1: n1=2, n2=1 -> D1=0.5, D2 -> default 1.0.
    # unigram: total 4, gamma=(1.0+0.5+0.5)/4=0.5, |V|=4 -> P(a)=1/4+1/8, P(b)=P(</s>)=1/4, P(<unk>)=1/8.
    # context a: total 3, gamma=(1.0+1/7)/3=8/21 -> P(b|a)=1/3+8/21*1/4=3/7, P(a|a)=(6/7)/3+8/21*3/8=3/7,
    # P(</s>|a)=8/21*1/4=2/21, P(<unk>|a)=8/21*1/8=1/21.
    lm = NgramLM(order=2).fit(["a b", "a a b"])
    assert lm.discounts_[2][0] == pytest.approx(1 / 7)
    assert lm.discounts_[1][:2] == pytest.approx((0.5, 1.0))
    # an unseen context (<unk>) backs off to the unigram level
    assert lm.prob("a", ("zebra",)) == pytest.approx(0.375)
    assert lm.prob(UNK, ("zebra",)) == pytest.approx(0.125)
    assert lm.prob("a") == pytest.approx(0.6875)  # the empty context is <s>
    assert lm.prob("b", ("a",)) == pytest.approx(3 / 7)
    assert lm.prob("a", ("a",)) == pytest.approx(3 / 7)
    assert lm.prob(EOS, ("a",)) == pytest.approx(2 / 21)
    assert lm.prob("zebra", ("a",)) == pytest.approx(1 / 21)  # OOV maps to <unk>
    lp, nt = lm.log_probs(["a b"])
    # P(a|<s>)=(2-1)/2+gamma(<s>)*P(a), gamma(<s>)=1.0/2 -> 0.5+0.1875; P(b|a)=3/7; P(</s>|b)=(2-1)/2+0.5*1/4
    assert nt.tolist() == [3]
    assert lp[0] == pytest.approx(math.log(0.6875) + math.log(3 / 7) + math.log(0.625))


def _grammar_corpus(rng: np.random.Generator, n: int) -> list[str]:
    subj = ["the cat", "a dog", "the old man", "my sister", "the teacher"]
    verb = ["reads", "sees", "likes", "finds", "writes"]
    obj = ["a book", "the letter", "an apple", "the red ball", "a long story"]
    tail = ["in the morning", "at home", "every day", "with care", "quickly"]
    return [
        " ".join([subj[rng.integers(5)], verb[rng.integers(5)], obj[rng.integers(5)], tail[rng.integers(5)]])
        for _ in range(n)
    ]


def test_held_out_in_domain_perplexity_below_shuffled_words() -> None:
    rng = np.random.default_rng(0)
    train, held = _grammar_corpus(rng, 400), _grammar_corpus(rng, 100)
    shuffled = [" ".join(rng.permutation(t.split())) for t in held]
    lm = NgramLM(order=3).fit(train)
    p_in, p_shuf = lm.perplexity(held), lm.perplexity(shuffled)
    assert np.median(p_in) < np.median(p_shuf)
    assert np.mean(p_in < p_shuf) > 0.95


LICENSES = Path("/usr/share/common-licenses")


@pytest.mark.skipif(not LICENSES.is_dir(), reason="needs Debian's base-files license texts")
def test_real_text_held_out_perplexity_below_shuffled() -> None:
    from thresher.data.text import load_debian_text_mixture

    docs = list(load_debian_text_mixture(200, domains=("license",), seed=0).text)
    train, held = docs[:150], docs[150:]
    rng = np.random.default_rng(1)
    shuffled = [" ".join(rng.permutation(t.split())) for t in held]
    lm = NgramLM(order=3).fit(train)
    assert np.mean(lm.perplexity(held) < lm.perplexity(shuffled)) > 0.95


def test_document_log_probs_shards_agree_with_direct() -> None:
    lm = NgramLM(order=3).fit(CORPUS)
    texts = CORPUS + ["the cat", "unknown words here", ""]
    lp, nt = document_log_probs(lm, texts, shard_size=2, executor=LocalExecutor())
    lp2, nt2 = lm.log_probs(texts)
    np.testing.assert_array_equal(nt, nt2)
    np.testing.assert_allclose(lp, lp2, rtol=0, atol=0)
    assert nt[-1] == 1  # an empty document still predicts </s>
    np.testing.assert_allclose(perplexity(lm, texts), np.exp(-lp / nt))


def test_errors() -> None:
    with pytest.raises(DataError, match="fitted"):
        NgramLM().perplexity(["a"])
    with pytest.raises(DataError, match="at least one word"):
        NgramLM().fit(["", "  "])
    with pytest.raises(ValueError, match="`order` of NgramLM must be an integer >= 1; got 0."):
        NgramLM(order=0).fit(["a"])


@pytest.mark.ray
def test_ray_executor_gives_identical_log_probs(ray_local) -> None:
    from thresher.execute import get_executor

    lm = NgramLM(order=3).fit(CORPUS)
    texts = CORPUS * 3
    a = document_log_probs(lm, texts, shard_size=4)
    b = document_log_probs(lm, texts, shard_size=4, executor=get_executor("ray"))
    np.testing.assert_array_equal(a[0], b[0])


ARPA = """\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-1.0\t</s>
-99\t<s>\t-0.3
-0.5\ta\t-0.2
-0.7\tb
-2.0\t<unk>

\\2-grams:
-0.1\t<s> a
-0.2\ta b

\\end\\
"""


def test_kenlm_backend_matches_hand_computed_arpa(tmp_path: Path) -> None:
    pytest.importorskip("kenlm")
    p = tmp_path / "tiny.arpa"
    p.write_text(ARPA)
    lp, nt = KenLMModel(p).log_probs(["a b", "b a"])
    # "a b": P(a|<s>)=-0.1, P(b|a)=-0.2, P(</s>|b)=bow(b)=0 + P(</s>)=-1.0 -> -1.3 (log10)
    # "b a": bow(<s>)-0.3+P(b)-0.7, bow(b)0+P(a)-0.5, bow(a)-0.2+P(</s>)-1.0 -> -2.7
    np.testing.assert_allclose(lp, np.array([-1.3, -2.7]) * math.log(10.0), rtol=1e-6)
    assert nt.tolist() == [3, 3]


def test_kenlm_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "kenlm", None)
    with pytest.raises(MissingDependencyError, match="pip install kenlm"):
        KenLMModel(tmp_path / "x.arpa").log_probs(["a"])
