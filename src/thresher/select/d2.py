"""D2 pruning: message passing of difficulty over the kNN graph, then graph-based sampling.

Maharana, Yadav & Bansal, "D2 Pruning: Message Passing for Balancing Diversity and
Difficulty in Data Pruning", ICLR 2024 (arXiv 2310.07931). Rows are nodes of the
k-nearest-neighbour graph (:mod:`thresher.select.graph`) carrying a difficulty score.

1. **Forward message passing**: each node receives its neighbours' difficulty, weighted
   by an RBF of the distance, ``s'_i = s_i + sum_{j in N(i)} exp(-gamma_f d_ij) s_j``,
   so a row's score also reflects how difficult its neighbourhood is.
2. **Reverse message passing** (sampling): repeatedly keep the row with the largest
   current score ``s'_i``, then lower the score of every row ``j`` that has it as a
   neighbour or is its neighbour: ``s'_j -= exp(-gamma_r d_ij) s'_i``. Neighbours of kept
   rows become less attractive, which spreads the budget across the space.

Ties go to the lowest position (rows are in canonical ``row_id`` order).
"""

from __future__ import annotations

import heapq

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget
from thresher.select.graph import KNNGraph, build_graph

__all__ = ["D2Pruning", "d2_forward", "d2_reverse"]


def d2_forward(graph: KNNGraph, scores: np.ndarray, gamma: float) -> np.ndarray:
    """Return ``s_i + sum_{j in N(i)} exp(-gamma d_ij) s_j`` for every node (one forward pass).

    Examples
    --------
    >>> import numpy as np
    >>> g = build_graph(np.array([[0.0], [1.0], [5.0]]), 1)
    >>> d2_forward(g, np.array([1.0, 2.0, 3.0]), gamma=0.0).tolist()
    [3.0, 3.0, 5.0]
    """
    s = np.asarray(scores, dtype=np.float64)
    w = np.exp(-gamma * graph.distances)
    return s + np.sum(w * s[graph.indices], axis=1)


def d2_reverse(graph: KNNGraph, scores: np.ndarray, k: int, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``k`` nodes by reverse message passing; return (positions, score of each when picked).

    Neighbourhoods are symmetrised: when ``i`` is kept, every ``j`` with ``j in N(i)`` or
    ``i in N(j)`` loses ``exp(-gamma d_ij) * s_i`` (``s_i`` being ``i``'s score when kept).

    Examples
    --------
    >>> import numpy as np
    >>> g = build_graph(np.array([[0.0], [0.1], [5.0]]), 1)
    >>> d2_reverse(g, np.array([3.0, 2.9, 1.0]), 2, gamma=0.0)[0].tolist()
    [0, 2]
    """
    n, kk = graph.indices.shape
    k = check_int(k, "k", "d2_reverse", low=0, high=n)
    s = np.array(scores, dtype=np.float64)
    # symmetric adjacency as lists of (neighbour, distance): forward edges plus reverse edges
    src = np.repeat(np.arange(n), kk)
    dst = graph.indices.ravel()
    dist = graph.distances.ravel()
    all_src = np.concatenate([src, dst])
    all_dst = np.concatenate([dst, src])
    all_d = np.concatenate([dist, dist])
    order = np.lexsort((all_dst, all_src))
    all_src, all_dst, all_d = all_src[order], all_dst[order], all_d[order]
    # an edge present in both directions appears twice: keep one
    keep = np.ones(len(all_src), dtype=bool)
    keep[1:] = (all_src[1:] != all_src[:-1]) | (all_dst[1:] != all_dst[:-1])
    all_src, all_dst, all_d = all_src[keep], all_dst[keep], all_d[keep]
    ptr = np.searchsorted(all_src, np.arange(n + 1))
    weight = np.exp(-gamma * all_d)

    heap = [(-v, i) for i, v in enumerate(s.tolist())]
    heapq.heapify(heap)
    taken = np.zeros(n, dtype=bool)
    picked: list[int] = []
    picked_scores: list[float] = []
    while len(picked) < k:
        negv, i = heapq.heappop(heap)
        if taken[i] or -negv != s[i]:
            continue  # stale entry: the node's score dropped after this was pushed
        taken[i] = True
        picked.append(i)
        picked_scores.append(s[i])
        a, b = ptr[i], ptr[i + 1]
        nb = all_dst[a:b]
        live = ~taken[nb]
        nb, wt = nb[live], weight[a:b][live]
        s[nb] -= wt * s[i]
        for j, v in zip(nb.tolist(), s[nb].tolist()):
            heapq.heappush(heap, (-v, j))
    return np.asarray(picked, dtype=np.int64), np.asarray(picked_scores, dtype=np.float64)


@register_selector("d2")
class D2Pruning(BaseSelector):
    """Select rows balancing difficulty and diversity by message passing on the kNN graph (D2 pruning).

    Parameters
    ----------
    by
        Difficulty column (e.g. ``"score.el2n"``); with ``higher_is_harder=False`` it is
        reflected as ``max - value``. Scores are shifted to be non-negative.
    n_neighbors
        Neighbours per row in the graph (clipped to n - 1).
    gamma_forward, gamma_reverse
        RBF rates of the forward and reverse passes; larger means more local.
    metric
        ``"euclidean"`` or ``"cosine"``.
    higher_is_harder
        Whether larger values of ``by`` mean harder rows.
    graph
        Optional prebuilt :class:`~thresher.select.graph.KNNGraph` over the same rows.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> t = Table(columns={"score.d": np.array([1.0, 0.9, 0.8, 0.5, 0.4, 0.1])}, matrices={"embeddings": X})
    >>> D2Pruning(by="score.d", n_neighbors=2, gamma_forward=1.0, gamma_reverse=0.0).select(t, Budget(n=3)).row_ids.tolist()
    [1, 3, 4]
    """

    name = "d2"
    requires = frozenset({"embeddings"})

    def __init__(
        self,
        by: str = "score",
        n_neighbors: int = 10,
        gamma_forward: float = 1.0,
        gamma_reverse: float = 1.0,
        metric: str = "euclidean",
        higher_is_harder: bool = True,
        graph: KNNGraph | None = None,
    ) -> None:
        self.by = by
        self.n_neighbors = n_neighbors
        self.gamma_forward = gamma_forward
        self.gamma_reverse = gamma_reverse
        self.metric = metric
        self.higher_is_harder = higher_is_harder
        self.graph = graph

    def required_columns(self) -> frozenset[str]:
        return self.requires | {self.by}

    def get_params(self) -> dict[str, object]:
        p = super().get_params()
        if self.graph is not None:
            p["graph"] = f"KNNGraph(n_rows={self.graph.n_rows}, n_neighbors={self.graph.n_neighbors})"
        return p

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        check_int(self.n_neighbors, "n_neighbors", owner, low=1)
        gf = check_float(self.gamma_forward, "gamma_forward", owner, low=0.0)
        gr = check_float(self.gamma_reverse, "gamma_reverse", owner, low=0.0)
        check_choice(self.metric, "metric", owner, ("euclidean", "cosine"))
        check_choice(self.higher_is_harder, "higher_is_harder", owner, (True, False))
        v = np.asarray(table.column(self.by), dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise fail(self.by, owner, "finite", "NaN or inf values")
        s = v if self.higher_is_harder else v.max() - v
        s = s - min(0.0, float(s.min()))  # messages assume non-negative difficulty
        if self.graph is not None:
            if not isinstance(self.graph, KNNGraph):
                raise fail("graph", owner, "a KNNGraph or None", self.graph)
            g = self.graph.aligned(table.row_id, owner)
        else:
            g = build_graph(table.embeddings, self.n_neighbors, metric=self.metric)
        forward = d2_forward(g, s, gf)
        return (*d2_reverse(g, forward, k, gr), None)

    @classmethod
    def make_example(cls) -> D2Pruning:
        return cls(by="score.example", n_neighbors=5)
