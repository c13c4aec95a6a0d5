"""DSIR: ranking on a two-domain mixture, agreement with the reference package, Gumbel top-k frequencies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from thresher.select.sampling import gumbel_topk
from thresher.text.dsir import DSIR, dsir_resample, hashed_ngram_features

COMMON = "the a of and to in is it that for".split()
SPORT = "match goal team player score season coach league win stadium referee striker".split()
FINANCE = "market stock price bond investor bank rate profit share fund yield trader".split()


def _docs(vocab: list[str], n: int, rng: np.random.Generator) -> list[str]:
    out = []
    for _ in range(n):
        length = int(rng.integers(15, 40))
        words = [rng.choice(vocab) if rng.random() < 0.6 else rng.choice(COMMON) for _ in range(length)]
        out.append(" ".join(words))
    return out


def _mixture(seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    raw = _docs(SPORT, 150, rng) + _docs(FINANCE, 350, rng)
    is_target = np.r_[np.ones(150, bool), np.zeros(350, bool)]
    target = _docs(SPORT, 60, rng)
    return raw, is_target, target


def test_weights_rank_target_domain_first() -> None:
    raw, is_target, target = _mixture()
    lw = DSIR().fit(target, raw).log_importance_weights(raw)
    assert roc_auc_score(is_target, lw) >= 0.95
    pos, _ = dsir_resample(raw, target, 100, seed=0)
    assert is_target[pos].mean() > 0.9


def test_features_count_unigrams_and_bigrams() -> None:
    X = hashed_ngram_features(["x y x", ""], n=2, num_buckets=1)
    assert X.toarray().tolist() == [[5.0], [0.0]]  # 3 unigrams + 2 bigrams, all in one bucket
    X3 = hashed_ngram_features(["x y x"], n=3, num_buckets=1)
    assert X3.sum() == 6


def test_agrees_with_reference_package() -> None:
    hd = pytest.importorskip("data_selection.hashed_ngram_dsir")
    raw, _, target = _mixture(1)
    raw = raw[:60] + ["Hello, World! It's 3pm... ok?", "ÜNïCODE wörds"]
    ours = hashed_ngram_features(raw, num_buckets=1000).toarray()
    ref = np.stack([hd.get_ngram_counts(t, n=2, num_buckets=1000) for t in raw])
    np.testing.assert_array_equal(ours, ref)
    # log weights: the reference's formula on the reference's features
    pt = sum(hd.get_ngram_counts(t, n=2, num_buckets=1000) for t in target)
    pr = ref.sum(axis=0)
    log_diff = np.log(pt / pt.sum() + 1e-8) - np.log(pr / pr.sum() + 1e-8)
    lw = DSIR(num_buckets=1000).fit(target, raw).log_importance_weights(raw)
    np.testing.assert_allclose(lw, ref @ log_diff, rtol=1e-10, atol=1e-8)


def test_gumbel_topk_first_draw_frequencies_match_weights() -> None:
    w = np.array([1.0, 2.0, 3.0, 4.0])
    rng = np.random.default_rng(0)
    n = 20000
    firsts = np.array([gumbel_topk(np.log(w), 1, rng)[0] for _ in range(n)])
    counts = np.bincount(firsts, minlength=4)
    assert stats.chisquare(counts, n * w / w.sum()).pvalue > 1e-3


def test_gumbel_topk_ordered_pairs_match_successive_sampling() -> None:
    # P(i then j) = w_i / W * w_j / (W - w_i), enumerated exactly
    w = np.array([0.5, 1.0, 2.5])
    W = w.sum()
    pairs = list(itertools.permutations(range(3), 2))
    expected = np.array([w[i] / W * w[j] / (W - w[i]) for i, j in pairs])
    rng = np.random.default_rng(1)
    n = 20000
    index = {p: k for k, p in enumerate(pairs)}
    counts = np.zeros(len(pairs))
    for _ in range(n):
        i, j = gumbel_topk(np.log(w), 2, rng)
        counts[index[(int(i), int(j))]] += 1
    assert stats.chisquare(counts, n * expected).pvalue > 1e-3


def test_short_documents_get_zero_weight() -> None:
    d = DSIR(num_buckets=64, min_words=3).fit(["a b c d"], ["a b", "a b c", "", "c d e f"])
    lw = d.log_importance_weights(["a b", "a b c", "", "c d e f"])
    assert np.isneginf(lw[[0, 2]]).all() and np.isfinite(lw[[1, 3]]).all()
    assert np.isneginf(DSIR(num_buckets=64).fit(["a"], ["a", ""]).log_importance_weights([""])).all()
    lw1 = DSIR(n=1, num_buckets=64, min_words=2).fit(["a"], ["a"]).log_importance_weights(["a", "a a"])
    assert np.isneginf(lw1[0]) and np.isfinite(lw1[1])


def test_fit_errors() -> None:
    with pytest.raises(ValueError, match="`target` of DSIR must contain at least one word"):
        DSIR().fit(["", " "], ["a b"])
    with pytest.raises(ValueError, match="fitted"):
        DSIR().log_importance_weights(["a"])


@pytest.mark.ray
def test_ray_features_identical(ray_local) -> None:
    from thresher.execute import get_executor

    raw, _, _ = _mixture(2)
    a = hashed_ngram_features(raw, shard_size=100)
    b = hashed_ngram_features(raw, shard_size=100, executor=get_executor("ray"))
    assert (a != b).nnz == 0
