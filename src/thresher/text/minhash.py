"""Near-duplicate documents by MinHash and locality-sensitive hashing (LSH).

Broder, "On the resemblance and containment of documents" (1997): the probability that
two sets have the same minimum under a random hash equals their Jaccard similarity, so
``num_perm`` such minima (a *signature*) estimate it. LSH (Indyk & Motwani 1998;
Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3) cuts signatures into
``bands`` of ``rows`` values; documents sharing one whole band become candidates, which
happens with probability ``1 - (1 - J^rows)^bands``, a steep S-curve around the
threshold. Candidates are verified (estimated Jaccard >= threshold) before they are
joined, and connected components of verified pairs are the clusters. One document per
cluster (the first in row order) is kept; the others get the duplicate flag.

Why an own implementation rather than datasketch: datasketch builds one ``MinHash``
object per document and inserts documents into its LSH index one at a time in Python.
Here a shard's shingle hashes are concatenated and all permutations are applied as
one NumPy array operation, minima are taken per document with ``np.minimum.reduceat``,
and the bands are bucketed with ``np.unique`` on whole columns, so signatures are
computed in shards through any Executor with identical results. Permutations are the
universal family ``(a x + b) mod p`` with the prime ``p = 2^32 + 15`` and ``a, b < 2^32``
on 32-bit shingle hashes, so every product fits in 64 bits (datasketch lets the same
product overflow and wrap). Shingles are word ``ngram``-grams of lower-cased text
hashed with CRC-32; a document shorter than ``ngram`` words is one shingle; a document
with no words is never a duplicate.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from thresher._typing import Seed, as_generator
from thresher._validation import check_choice, check_float, check_int
from thresher.execute.base import Executor, Shard, get_executor, make_shards

__all__ = [
    "shingle_hashes",
    "minhash_signatures",
    "lsh_params",
    "near_duplicates",
    "NearDuplicates",
    "add_near_duplicate_columns",
]

_PRIME = np.uint64((1 << 32) + 15)
_EMPTY = np.uint64(np.iinfo(np.uint64).max)
_ALL_PAIRS = 16  # LSH buckets up to this size have all their pairs verified


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """Return the distinct 32-bit hashes of the word ``ngram``-shingles of ``text``.

    Examples
    --------
    >>> len(shingle_hashes("a b c d", ngram=2)), len(shingle_hashes("a b a b", ngram=2))
    (3, 2)
    """
    words = text.lower().split()
    if not words:
        return np.zeros(0, dtype=np.uint64)
    if len(words) <= ngram:
        grams = [" ".join(words)]
    else:
        grams = [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    return np.unique(np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams)))


def _permutations(num_perm: int, seed: Seed) -> tuple[np.ndarray, np.ndarray]:
    rng = as_generator(seed)
    a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a, b


def _signatures(texts: Sequence[str], ngram: int, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 13) -> np.ndarray:
    hashes = [shingle_hashes(t, ngram) for t in texts]
    sizes = np.array([len(h) for h in hashes], dtype=np.int64)
    sig = np.full((len(texts), len(a)), _EMPTY, dtype=np.uint64)
    nonempty = np.flatnonzero(sizes > 0)
    if nonempty.size == 0:
        return sig
    flat = np.concatenate([hashes[i] for i in nonempty])
    starts = np.concatenate([[0], np.cumsum(sizes[nonempty])[:-1]])
    # process documents in groups whose shingles fit in `chunk` columns, to bound memory
    doc_lo = 0
    while doc_lo < len(nonempty):
        doc_hi = int(np.searchsorted(starts, starts[doc_lo] + chunk, side="left"))
        doc_hi = max(doc_hi, doc_lo + 1)
        lo = starts[doc_lo]
        hi = starts[doc_hi] if doc_hi < len(nonempty) else len(flat)
        # (num_perm, shingles) in place; blocks of ~8k shingles keep the temporaries cache-sized
        vals = np.multiply(a[:, None], flat[None, lo:hi])
        vals += b[:, None]
        np.remainder(vals, _PRIME, out=vals)
        sig[nonempty[doc_lo:doc_hi]] = np.minimum.reduceat(vals, starts[doc_lo:doc_hi] - lo, axis=1).T
        doc_lo = doc_hi
    return sig


def minhash_signatures(
    texts: Sequence[str],
    *,
    num_perm: int = 128,
    ngram: int = 5,
    seed: Seed = 1,
    shard_size: int = 5000,
    executor: Executor | None = None,
) -> np.ndarray:
    """Return MinHash signatures, a uint64 (n_docs, num_perm) array (all-max rows for empty documents).

    The fraction of equal entries of two rows estimates the Jaccard similarity of the
    documents' shingle sets.

    Examples
    --------
    >>> s = minhash_signatures(["the quick brown fox jumps", "the quick brown fox leaps"], ngram=2)
    >>> float((s[0] == s[1]).mean()) > 0.4
    True
    """
    owner = "minhash_signatures"
    check_int(num_perm, "num_perm", owner, low=1)
    check_int(ngram, "ngram", owner, low=1)
    check_int(shard_size, "shard_size", owner, low=1)
    texts = [str(t) for t in texts]
    a, b = _permutations(num_perm, seed)
    shards = make_shards(len(texts), shard_size=shard_size, seed=0)

    def run(shard: Shard) -> np.ndarray:
        return _signatures(texts[shard.start : shard.stop], ngram, a, b)

    parts = list(get_executor(executor).map(run, shards))
    return np.concatenate(parts) if parts else np.zeros((0, num_perm), dtype=np.uint64)


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fn_weight: float = 0.5) -> tuple[int, int]:
    """Return (bands, rows) minimising weighted false positive + false negative probability mass at ``threshold``.

    Same criterion as datasketch's ``MinHashLSH``: ``(1 - fn_weight)`` times the integral
    of the candidate probability ``1 - (1 - s^r)^b`` below the threshold plus
    ``fn_weight`` times that of its complement above it.

    Examples
    --------
    >>> lsh_params(0.8, 128), lsh_params(0.8, 128, fn_weight=0.9)
    ((9, 13), (14, 9))
    """
    check_float(threshold, "threshold", "lsh_params", low=0.0, high=1.0, low_open=True, high_open=True)
    check_int(num_perm, "num_perm", "lsh_params", low=1)
    check_float(fn_weight, "fn_weight", "lsh_params", low=0.0, high=1.0)
    grid = np.linspace(0.0, 1.0, 2001)
    best, best_err = (1, num_perm), np.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = 1.0 - (1.0 - grid**rows) ** bands
            fp = np.trapezoid(np.where(grid < threshold, p, 0.0), grid)
            fn = np.trapezoid(np.where(grid >= threshold, 1.0 - p, 0.0), grid)
            err = float((1.0 - fn_weight) * fp + fn_weight * fn)
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


@dataclass(frozen=True)
class NearDuplicates:
    """Near-duplicate clusters: ``cluster[i]`` is the position of the kept member of row ``i``'s cluster.

    ``keep`` is True for one row per cluster (the first in row order) and for every
    singleton; ``cluster_size`` counts the rows in each row's cluster.
    """

    cluster: np.ndarray
    keep: np.ndarray
    cluster_size: np.ndarray
    n_candidate_pairs: int

    @property
    def n_duplicates(self) -> int:
        return int((~self.keep).sum())


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: Seed = 1,
    bands: int | None = None,
    fn_weight: float = 0.9,
    verify: str = "exact",
    executor: Executor | None = None,
) -> NearDuplicates:
    """Cluster near-duplicate documents (estimated Jaccard of shingle sets >= ``threshold``).

    Parameters
    ----------
    threshold
        Jaccard similarity above which two documents are near-duplicates.
    num_perm
        Signature length (more: better estimates, slower).
    ngram
        Words per shingle.
    bands
        LSH bands; ``None`` chooses bands and rows with :func:`lsh_params`.
    fn_weight
        Weight of missed pairs against spurious candidates when choosing bands and rows.
        Candidates are verified, so spurious ones only cost time: the default 0.9 gives,
        at 128 permutations, 14 bands of 9 rows, which makes pairs at Jaccard 0.85 / 0.9
        candidates with probability 0.975 / 0.999 (0.69 / 0.93 with equal weights).
    verify
        How a candidate pair is confirmed: ``"exact"`` Jaccard of the two shingle sets
        (recomputed for candidate documents only) or ``"estimate"`` (agreement of the
        signatures, cheaper but noisy near the threshold).

    Examples
    --------
    >>> docs = ["a b c d e f g h i j", "a b c d e f g h i j k", "z y x w v u t s r q"]
    >>> nd = near_duplicates(docs, threshold=0.8, ngram=2)
    >>> nd.cluster.tolist(), nd.keep.tolist()
    ([0, 0, 2], [True, False, True])
    """
    owner = "near_duplicates"
    check_choice(verify, "verify", owner, ("exact", "estimate"))
    check_float(threshold, "threshold", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    num_perm = check_int(num_perm, "num_perm", owner, low=2)
    if bands is None:
        n_bands, rows = lsh_params(threshold, num_perm, fn_weight)
    else:
        n_bands = check_int(bands, "bands", owner, low=1, high=num_perm)
        rows = num_perm // n_bands
    sig = minhash_signatures(texts, num_perm=num_perm, ngram=ngram, seed=seed, executor=executor)
    n = sig.shape[0]
    valid = ~np.all(sig == _EMPTY, axis=1)
    idx = np.flatnonzero(valid)
    shingles: dict[int, np.ndarray] = {}
    texts_list = texts if isinstance(texts, list) else list(texts)

    def _exact_jaccard(x: int, y: int) -> float:
        for i in (x, y):
            if i not in shingles:
                shingles[i] = shingle_hashes(str(texts_list[i]), ngram)
        inter = len(np.intersect1d(shingles[x], shingles[y], assume_unique=True))
        return inter / (len(shingles[x]) + len(shingles[y]) - inter)

    keys: list[np.ndarray] = []
    for band in range(n_bands):
        block = np.ascontiguousarray(sig[idx, band * rows : (band + 1) * rows])
        _, inverse, counts = np.unique(block, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        shared = counts[inverse] > 1
        if not shared.any():
            continue
        members = idx[shared]
        buckets = inverse[shared]
        order = np.lexsort((members, buckets))
        members, buckets = members[order], buckets[order]
        size = counts[buckets]
        # candidate pairs: every pair in buckets of at most _ALL_PAIRS members; in larger
        # buckets (boilerplate) each member with the bucket's first member and its predecessor
        first = np.r_[True, buckets[1:] != buckets[:-1]]
        head = members[first][np.cumsum(first) - 1]
        pa = [head[head != members], members[head != members]]
        for d in range(1, _ALL_PAIRS):
            same = (buckets[d:] == buckets[:-d]) & ((size[d:] <= _ALL_PAIRS) | (d == 1))
            pa[0] = np.r_[pa[0], members[:-d][same]]
            pa[1] = np.r_[pa[1], members[d:][same]]
        keys.append(pa[0].astype(np.int64) * n + pa[1])
    cand = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    cand_a, cand_b = cand // max(n, 1), cand % max(n, 1)
    n_cand = len(cand)
    if verify == "estimate":
        sim = (sig[cand_a] == sig[cand_b]).mean(axis=1) if n_cand else np.zeros(0)
    else:
        sim = np.array([_exact_jaccard(int(x), int(y)) for x, y in zip(cand_a, cand_b)])
    ok = sim >= threshold
    s, d = cand_a[ok], cand_b[ok]
    graph = sp.coo_matrix((np.ones(len(s)), (s, d)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    # representative: the smallest position in each component
    rep = np.full(comp.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(rep, comp, np.arange(n))
    cluster = rep[comp]
    size = np.bincount(comp)[comp]
    keep = cluster == np.arange(n)
    return NearDuplicates(cluster=cluster, keep=keep, cluster_size=size.astype(np.int64), n_candidate_pairs=int(n_cand))


def add_near_duplicate_columns(
    table: Any,
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: Seed = 1,
    executor: Executor | None = None,
) -> Any:
    """Return ``table`` with near-duplicate clusters and the keep-one flag.

    Adds ``text_near_dup.cluster`` (row id of the cluster's kept row), ``score.text_near_duplicates``
    (cluster size) and ``flag.text_near_duplicate`` (True for every row but the kept one).
    Rows are taken in canonical ``row_id`` order, so the kept row is the one with the
    smallest id whatever the order of the table.

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.table import Table
    >>> docs = ["a b c d e f g h i j k", "a b c d e f g h i j", "z y x w v u t s r q"]
    >>> t = Table([7, 3, 5], columns={"text": np.array(docs, dtype=object)})
    >>> u = add_near_duplicate_columns(t, ngram=2)
    >>> u.column("text_near_dup.cluster").tolist(), u.column("flag.text_near_duplicate").tolist()
    ([3, 3, 5], [True, False, False])
    """
    from thresher.select.base import canonical_order

    table.require(["text"], "add_near_duplicate_columns")
    order = canonical_order(table)
    pos = np.arange(table.n_rows) if order is None else order
    texts = ["" if x is None else str(x) for x in np.asarray(table.text)[pos]]
    nd = near_duplicates(texts, threshold=threshold, num_perm=num_perm, ngram=ngram, seed=seed, executor=executor)
    cluster = np.empty(table.n_rows, dtype=table.row_id.dtype)
    size = np.empty(table.n_rows)
    flag = np.empty(table.n_rows, dtype=bool)
    cluster[pos] = table.row_id[pos][nd.cluster]
    size[pos] = nd.cluster_size
    flag[pos] = ~nd.keep
    return table.with_columns({"text_near_dup.cluster": cluster, "score.text_near_duplicates": size, "flag.text_near_duplicate": flag})
