"""MinHash LSH near-duplicates: planted duplicates found, distinct documents untouched, exact signatures."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.text.minhash import (
    add_near_duplicate_columns,
    lsh_params,
    minhash_signatures,
    near_duplicates,
    shingle_hashes,
)


def _vocab(rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return np.array(["".join(rng.choice(letters, size=6)) for _ in range(n)])


def _jaccard(a: str, b: str, ngram: int = 5) -> float:
    def sh(t: str) -> set[str]:
        w = t.lower().split()
        return {" ".join(w[i : i + ngram]) for i in range(len(w) - ngram + 1)}

    A, B = sh(a), sh(b)
    return len(A & B) / len(A | B)


def _planted(seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng)
    base = [" ".join(rng.choice(vocab, size=200)) for _ in range(150)]
    docs = list(base)
    pairs = []
    for i in range(0, 150, 5):  # 30 near-duplicates: change 2 of 200 words
        w = base[i].split()
        for j in rng.choice(200, size=2, replace=False):
            w[j] = "changed"
        docs.append(" ".join(w))
        pairs.append((i, len(docs) - 1))
    return docs, pairs


def test_finds_planted_near_duplicates_and_no_false_clusters() -> None:
    docs, pairs = _planted()
    for i, j in pairs:
        assert _jaccard(docs[i], docs[j]) >= 0.8
    nd = near_duplicates(docs, threshold=0.8)
    for i, j in pairs:
        assert nd.cluster[i] == nd.cluster[j] == i
        assert nd.keep[i] and not nd.keep[j]
    planted = {j for _, j in pairs} | {i for i, _ in pairs}
    others = [k for k in range(len(docs)) if k not in planted]
    assert all(nd.cluster_size[k] == 1 for k in others)
    assert nd.n_duplicates == len(pairs)


def test_distinct_documents_are_never_clustered() -> None:
    rng = np.random.default_rng(3)
    vocab = _vocab(rng, 300)  # a small vocabulary: documents share many words but not 5-grams
    docs = [" ".join(rng.choice(vocab, size=80)) for _ in range(300)]
    nd = near_duplicates(docs, threshold=0.8)
    assert nd.n_duplicates == 0 and bool(np.all(nd.cluster_size == 1))


def test_signatures_equal_brute_force_minimum() -> None:
    from thresher.text.minhash import _permutations

    texts = ["the quick brown fox jumps over the lazy dog", "a b", ""]
    sig = minhash_signatures(texts, num_perm=16, ngram=3, seed=5)
    a, b = _permutations(16, 5)
    p = (1 << 32) + 15
    for row, t in zip(sig, texts):
        hs = [int(h) for h in shingle_hashes(t, 3)]
        if not hs:
            assert np.all(row == np.iinfo(np.uint64).max)
            continue
        expected = [min((int(ai) * h + int(bi)) % p for h in hs) for ai, bi in zip(a, b)]
        assert row.tolist() == expected


def test_signature_agreement_estimates_jaccard() -> None:
    rng = np.random.default_rng(1)
    vocab = _vocab(rng)
    base = list(rng.choice(vocab, size=300))
    other = base[:200] + list(rng.choice(vocab, size=100))
    a, b = " ".join(base), " ".join(other)
    J = _jaccard(a, b)
    sig = minhash_signatures([a, b], num_perm=512)
    est = float((sig[0] == sig[1]).mean())
    assert abs(est - J) < 4 * np.sqrt(J * (1 - J) / 512)


def test_lsh_params_match_datasketch() -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in [(0.8, 128), (0.5, 64), (0.9, 256), (0.3, 32)]:
        assert lsh_params(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
        assert lsh_params(threshold, num_perm, 0.9) == lsh._optimal_param(threshold, num_perm, 0.1, 0.9)


def test_keep_one_flag_uses_row_ids_not_positions() -> None:
    docs, pairs = _planted(2)
    i, j = pairs[0]
    ids = np.arange(len(docs))[::-1] * 10  # reversed ids: the duplicate j has the smaller id
    t = Table(ids, columns={"text": np.array(docs, dtype=object)})
    u = add_near_duplicate_columns(t)
    assert u.column("flag.text_near_duplicate")[i] and not u.column("flag.text_near_duplicate")[j]
    assert u.column("text_near_dup.cluster")[i] == ids[j]
    assert u.column("score.text_near_duplicates")[i] == 2
    assert int(u.column("flag.text_near_duplicate").sum()) == len(pairs)


@pytest.mark.ray
def test_ray_signatures_identical(ray_local) -> None:
    from thresher.execute import get_executor

    docs, _ = _planted(4)
    a = minhash_signatures(docs, shard_size=40)
    b = minhash_signatures(docs, shard_size=40, executor=get_executor("ray"))
    np.testing.assert_array_equal(a, b)
