"""One-pass facility location over a stored kNN graph: Sieve-Streaming++.

Kazemi, Mitrovic, Zadimoghaddam, Lattanzi & Karbasi, "Submodular Streaming in All Its
Glory: Tight Approximation, Minimum Memory and Low Adaptive Complexity" (ICML 2019),
refining Badanidiyuru, Mirzasoleiman, Karbasi & Krause, "Streaming Submodular
Maximization: Massive Data Summarization on the Fly" (KDD 2014). For a monotone
submodular ``f`` and ``k`` picks it returns ``f(S) >= (1/2 - epsilon) OPT`` after one pass.

How it works: each *sieve* holds a threshold ``tau = (1 + epsilon)^i`` and adds an arriving
row when the row's marginal gain is at least ``tau`` and the sieve has fewer than ``k``
picks. Thresholds live in ``[max(LB, Delta) / (2k), Delta]``, where ``Delta`` is the
largest single-row value seen so far and ``LB`` the best value reached by any sieve (or
by the first rows of the stream, a feasible set computed up front, which keeps the
low thresholds from ever being created); sieves that fall below the range are dropped.
A sieve with ``tau`` within a factor ``1 + epsilon`` of ``OPT / (2k)`` always stays, and
that sieve alone carries the guarantee.

The objective is the in-memory facility-location selector's on the same graph,
``f(S) = sum_i max_{j in S} W[i, j]`` with ``W`` the kernel similarity of
:meth:`~thresher.select.graph.KNNGraph.similarity` (row ``i`` is represented by a pick
among its own neighbours). A candidate ``j`` therefore has to arrive with the rows that
list it as a neighbour, its column of ``W``:
:func:`~thresher.stream.reverse_graph.transpose_graph` writes that reverse graph first
(one external shuffle of the stored graph, in passes of bounded memory), and the sieve
then makes its one pass over it.

Work per batch is vectorised: a row whose gain against a sieve's state at the start of
the batch is already below ``tau`` can never pass later (gains only fall, ``tau`` is
fixed), so only the rows that pass that filter are checked one by one. Thresholds are
updated and sieves dropped at batch boundaries, so the selection depends on
``batch_size`` (deterministic for a given one). Memory is one float32 coverage vector of
``n`` per live sieve (about ``log(4) / log(1 + epsilon)`` of them after the first batch).

Why our own code: apricot's streaming facility location (``partial_fit``) needs each
arriving row's similarity to the whole ground set in memory; none of faiss, scikit-learn
or apricot runs a sieve over a partitioned sparse graph.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thresher._validation import check_choice, check_float, check_int
from thresher.data.table import ROW_ID
from thresher.select.base import Budget, Selection
from thresher.select.objectives import gather_segments
from thresher.stream.partitions import PartitionStore
from thresher.stream.reverse_graph import Batch, RowPositions, prepare_reverse_graph, reverse_batches

__all__ = ["SieveResult", "fixed_width", "sieve_stream", "stream_facility_location"]


@dataclass
class _Sieve:
    tau: float
    cur: np.ndarray  # best similarity of each row to this sieve's picks (float32)
    picks: list[int] = field(default_factory=list)
    gains: list[float] = field(default_factory=list)
    value: float = 0.0


@dataclass(frozen=True)
class SieveResult:
    """The best sieve's picks (positions, in the order picked) and what the pass did."""

    positions: np.ndarray
    gains: np.ndarray
    value: float
    tau: float
    n_sieves_max: int
    n_sieves_end: int
    n_seen: int


def fixed_width(positions: np.ndarray, cover: np.ndarray, sims: np.ndarray) -> Batch:
    """Return a batch in the CSR form :func:`sieve_stream` takes from ``(B, m)`` cover and similarity arrays."""
    b, m = np.shape(cover)
    return (np.asarray(positions), np.arange(0, b * m + 1, m, dtype=np.int64), np.asarray(cover).ravel(),
            np.asarray(sims).ravel())


def _gain(cur: np.ndarray, idx: np.ndarray, s: np.ndarray) -> float:
    return float(np.maximum(s - cur[idx], 0.0).sum(dtype=np.float64))


def _prefix(indptr: np.ndarray, cover: np.ndarray, sims: np.ndarray, n: int, k: int) -> list[float]:
    """Return the gains, in order, of the first ``min(k, B)`` rows of a batch.

    That set is feasible, so its value (the sum) is a lower bound on OPT.
    """
    best = np.zeros(n, dtype=np.float32)
    gains = []
    for c in range(min(k, len(indptr) - 1)):
        idx, s = cover[indptr[c] : indptr[c + 1]], sims[indptr[c] : indptr[c + 1]]
        gains.append(_gain(best, idx, s))
        best[idx] = np.maximum(best[idx], s)
    return gains


def _feed(sv: _Sieve, batch: Batch, singles: np.ndarray, k: int) -> None:
    """Offer one batch to one sieve, in stream order."""
    pos, indptr, cover, sims = batch
    cand = np.flatnonzero(singles >= sv.tau)
    if cand.size == 0:
        return
    at, seg = gather_segments(indptr[cand], indptr[cand + 1] - indptr[cand])
    g0 = np.bincount(seg, weights=np.maximum(sims[at] - sv.cur[cover[at]], 0.0), minlength=len(cand))
    cur = sv.cur
    # a row below tau now stays below: gains only fall and tau is fixed (the margin covers
    # the different summation order of the exact check below)
    for c in cand[g0 >= sv.tau * (1.0 - 1e-9)].tolist():  # sequential: an accepted row lowers later gains
        idx, s = cover[indptr[c] : indptr[c + 1]], sims[indptr[c] : indptr[c + 1]]
        g = _gain(cur, idx, s)
        if g >= sv.tau:
            cur[idx] = np.maximum(cur[idx], s)
            sv.picks.append(int(pos[c]))
            sv.gains.append(g)
            sv.value += g
            if len(sv.picks) == k:
                return


def _level(x: float, base: float, up: bool) -> int:
    t = math.log(x) / base
    return math.floor(t + 1e-9) if up else math.ceil(t - 1e-9)


def sieve_stream(batches: Iterable[Batch], n: int, k: int, *, epsilon: float = 0.1) -> SieveResult:
    """Run Sieve-Streaming++ for facility location over ``batches`` of arriving rows.

    Each batch is ``(positions, indptr, cover, sims)``: the arriving rows' positions in
    ``0..n-1`` and, CSR-style, the positions each row would represent (distinct within a
    row) with the matching non-negative similarities (:func:`fixed_width` builds it from
    ``(B, m)`` arrays).

    Examples
    --------
    >>> import numpy as np
    >>> cover = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    >>> sims = np.array([[1.0, 0.9], [1.0, 0.9], [1.0, 0.1], [1.0, 0.1]])
    >>> r = sieve_stream([fixed_width(np.arange(4), cover, sims)], 4, 2)
    >>> sorted(r.positions.tolist()), round(r.value, 3)
    ([0, 2], 3.0)
    """
    owner = "sieve_stream"
    check_int(n, "n", owner, low=1)
    check_int(k, "k", owner, low=1)
    check_float(epsilon, "epsilon", owner, low=0.0, low_open=True, high=1.0)
    base = math.log1p(epsilon)
    sieves: dict[int, _Sieve] = {}
    delta = lb = 0.0
    best: tuple[float, list[int], list[float], float] = (0.0, [], [], 0.0)  # value, picks, gains, tau
    most = n_seen = 0
    floor_i = -(10**9)  # thresholds below (1+eps)^floor_i were dropped and are never created again
    for pos, indptr, cover, sims in batches:
        batch = (np.asarray(pos, dtype=np.int64), np.asarray(indptr, dtype=np.int64),
                 np.asarray(cover, dtype=np.int64), np.asarray(sims, dtype=np.float32))
        b = len(batch[0])
        if b == 0:
            continue
        n_seen += b
        singles = np.add.reduceat(batch[3].astype(np.float64), batch[1][:-1])
        if n_seen == b:  # the first batch: its first k rows are a feasible set
            g = _prefix(batch[1], batch[2], batch[3], n, k)
            lb = float(sum(g))
            best = (lb, batch[0][: len(g)].tolist(), g, 0.0)
        delta = max(delta, float(singles.max()))
        if delta <= 0.0:
            continue
        floor_i = max(floor_i, _level(max(lb, delta) / (2 * k), base, up=False))
        for i in range(floor_i, _level(delta, base, up=True) + 1):
            if i not in sieves:
                sieves[i] = _Sieve(math.exp(i * base), np.zeros(n, dtype=np.float32))
        most = max(most, len(sieves))
        for i in sorted(sieves):
            if len(sieves[i].picks) < k:
                _feed(sieves[i], batch, singles, k)
        for sv in sieves.values():
            if sv.value > best[0]:
                best = (sv.value, list(sv.picks), list(sv.gains), sv.tau)
        lb = max(lb, best[0])
        floor_i = max(floor_i, _level(max(lb, delta) / (2 * k), base, up=False))
        for i in [i for i in sieves if i < floor_i]:
            del sieves[i]
    value, picks, gains, tau = best  # tau 0: the first rows of the stream were best
    return SieveResult(np.asarray(picks, dtype=np.int64), np.asarray(gains, dtype=np.float64), float(value),
                       float(tau), most, len(sieves), n_seen)


def stream_facility_location(graph_out: str | Path, budget: Budget, *, kernel: str = "gaussian",
                             bandwidth: float | None = None, metric: str = "euclidean", epsilon: float = 0.1,
                             batch_size: int = 65_536, max_entries: int = 25_000_000) -> tuple[Selection, SieveResult]:
    """Select ``budget`` rows in one pass over the kNN graph that :func:`~thresher.stream.ann.knn_graph` wrote.

    The reverse graph is written first when missing
    (:func:`~thresher.stream.reverse_graph.transpose_graph`).
    ``bandwidth`` of the Gaussian kernel defaults to the median positive neighbour
    distance of the first stored partition (the in-memory default is the median over
    the whole graph). Returns the :class:`~thresher.select.base.Selection` (ranked in
    the order the best sieve picked) and the :class:`SieveResult`.
    """
    owner = "stream_facility_location"
    check_choice(kernel, "kernel", owner, ("gaussian", "cosine"))  # before anything is read
    check_choice(metric, "metric", owner, ("euclidean", "cosine"))
    ids = PartitionStore(graph_out, "knn").read(columns=[ROW_ID]).column(ROW_ID).to_numpy()
    n = len(ids)
    k = budget.resolve(n, owner)
    bandwidth = prepare_reverse_graph(graph_out, kernel, bandwidth, max_entries=max_entries, batch_size=batch_size)
    res = sieve_stream(reverse_batches(graph_out, RowPositions(ids), kernel, bandwidth, metric, batch_size,
                                       owner=owner), n, k, epsilon=epsilon)
    sel = Selection(ids[res.positions], "facility_location_stream", budget, None, gains=res.gains,
                    params={"kernel": kernel, "bandwidth": bandwidth, "epsilon": epsilon, "batch_size": batch_size,
                            "method": "sieve-streaming++", "value": res.value})
    return sel, res
