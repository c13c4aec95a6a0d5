"""``auto``: choose the selection strategy for a budget by validation on the training rows.

No selector wins everywhere: which one beats random depends on the data, the model and
the budget (easy rows when data is scarce, hard ones when it is abundant: Sorscher et al.,
"Beyond neural scaling laws", NeurIPS 2022; random is a strong baseline: Guo et al.,
DeepCore, 2022). ``Auto`` carves a stratified inner validation split out of the rows it is
given (the outer training set: it never sees test rows), runs every candidate strategy on
the remaining pool at the same keep fraction, trains a proxy model on each candidate's
rows and scores it on the inner validation rows. Successive halving (Jamieson &
Talwalkar, AISTATS 2016; Li et al., Hyperband, JMLR 2018) spends little on losing
candidates: rung ``r`` of ``R`` trains with ``epochs / eta**(R - 1 - r)`` epochs and only the
best ``ceil(n / eta)`` go on (random is always carried to the last rung as the reference);
a proxy without epochs (scikit-learn) is trained once per candidate. The winner is re-run on all rows at the requested budget.

Every candidate's inner-validation accuracy per rung, the choice, and the proxy cost (in
row-epochs, as a multiple of one full-data training run of the proxy) are left in
``evidence_``; the evaluation harness writes them to ``<run>/auto/<selection key>.json``
and the report's *auto* section shows them.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thresher._registry import register_selector
from thresher._typing import Seed, as_generator, seed_int
from thresher._validation import check_float, check_int, fail
from thresher.data.table import Table
from thresher.evaluate.candidates import Candidate, default_candidates, fused_columns
from thresher.evaluate.models import get_model
from thresher.select.base import BaseSelector, Budget, Selection, canonical_order

__all__ = ["Auto", "Candidate", "inner_split"]

log = logging.getLogger(__name__)


def inner_split(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (pool, validation) positions, stratified by label (each class split alike).

    Examples
    --------
    >>> pool, val = inner_split(np.array([0] * 10 + [1] * 10), 0.2, np.random.default_rng(0))
    >>> len(pool), len(val), int(np.sum(np.array([0] * 10 + [1] * 10)[val]))
    (16, 4, 2)
    """
    y = np.asarray(labels)
    val: list[np.ndarray] = []
    for c in np.unique(y):
        pos = np.flatnonzero(y == c)
        n_val = int(round(val_fraction * len(pos)))
        if len(pos) > 1:
            n_val = min(max(n_val, 1), len(pos) - 1)
        else:
            n_val = 0
        val.append(rng.permutation(pos)[:n_val])
    v = np.sort(np.concatenate(val)) if val else np.array([], dtype=np.int64)
    pool = np.setdiff1d(np.arange(len(y)), v)
    return pool, v


@dataclass
class _Trial:
    cand: Candidate
    rows: np.ndarray | None = None  # pool positions the candidate kept
    weights: np.ndarray | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    select_seconds: float = 0.0
    error: str | None = None

    @property
    def score(self) -> float:
        return float(np.mean([r["val_accuracy"] for r in self.results])) if self.results else -np.inf


@register_selector("auto")
class Auto(BaseSelector):
    """Choose among candidate strategies by proxy training on an inner validation split (successive halving).

    Parameters
    ----------
    candidates
        Strategies to choose from, each a :class:`Candidate` or ``(label, selector
        name, params)``; by default :func:`~thresher.evaluate.candidates.default_candidates`
        builds them from the table's ``score.*`` columns (top-k both ways, CCS over a beta
        grid, D2, fused scores) plus random, facility location, k-center and
        cluster-balanced.
    proxy
        Proxy model (registry name or instance): the reference model to be trained
        later is the natural choice; ``"logreg"`` by default.
    proxy_params
        Constructor parameters of a proxy given by name.
    val_fraction
        Share of the rows held out (stratified) as inner validation.
    eta
        Successive-halving rate: each rung keeps the best ``ceil(n / eta)`` candidates.
    n_rungs
        Number of rungs (PyTorch proxies; one rung for proxies without ``epochs``).
    geometry_dims
        Geometric candidates (facility location, k-center, cluster-balanced, D2) run on
        the first ``geometry_dims`` principal components of the embeddings (fit on these
        rows only), to keep their cost down on wide inputs; ``None`` keeps the embeddings.
    grid
        Keyword arguments of :func:`~thresher.evaluate.candidates.default_candidates`
        (``betas``, ``max_score_columns``, ``geometric``, ``exclude``) when ``candidates`` is None.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits
    >>> t = load_digits().take(range(300))
    >>> t = t.with_column("score.x", t.embeddings[:, 20])
    >>> auto = Auto(candidates=[("random", "random", {}), ("top-x", "topk", {"by": "score.x"})])
    >>> sel = auto.select(t, Budget(fraction=0.3), seed=0)
    >>> len(sel), auto.evidence_["chosen"] in {"random", "top-x"}
    (90, True)
    """

    name = "auto"
    requires = frozenset({"embeddings", "label"})
    is_stochastic = True

    def __init__(
        self,
        candidates: list[Any] | None = None,
        proxy: Any = "logreg",
        proxy_params: dict[str, Any] | None = None,
        val_fraction: float = 0.2,
        eta: int = 3,
        n_rungs: int = 3,
        geometry_dims: int | None = 64,
        grid: dict[str, Any] | None = None,
    ) -> None:
        self.candidates = candidates
        self.proxy = proxy
        self.proxy_params = proxy_params
        self.val_fraction = val_fraction
        self.eta = eta
        self.n_rungs = n_rungs
        self.geometry_dims = geometry_dims
        self.grid = grid

    @classmethod
    def make_example(cls) -> Auto:
        return cls(
            candidates=[("random", "random", {}), ("top", "topk", {"by": "score.example"}), ("kc", "kcenter", {})],
            proxy="knn",
            n_rungs=2,
        )

    # ------------------------------------------------------------------ helpers
    def _candidates(self, table: Table) -> list[Candidate]:
        if self.candidates is None:
            return default_candidates(table, **(self.grid or {}))
        out = [c if isinstance(c, Candidate) else Candidate(*c) for c in self.candidates]
        labels = [c.label for c in out]
        if not out or len(set(labels)) != len(labels):
            raise fail("candidates", "Auto", "a non-empty list with distinct labels", labels)
        return out

    def _geometry_table(self, table: Table) -> Table:
        d = self.geometry_dims
        X = table.embeddings
        if d is None or X.shape[1] <= d:
            return table
        from sklearn.decomposition import PCA

        Z = PCA(n_components=int(d), random_state=0, svd_solver="randomized").fit_transform(np.asarray(X, dtype=np.float64))
        return table.with_matrix("embeddings", Z)

    def _run_candidate(self, c: Candidate, table: Table, geo: Table, k: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the candidate's selector on ``table`` (``geo`` for geometric ones); return positions, weights."""
        src = geo if c.geometric else table
        sel = c.build().select(src, Budget(n=k), seed=seed)
        return src.positions(sel.row_ids), sel.weights

    def _proxy_model(self) -> Any:
        return get_model(self.proxy, **(self.proxy_params or {})) if isinstance(self.proxy, str) else self.proxy

    # --------------------------------------------------------------------- core
    def select(self, table: Table, budget: Budget, *, seed: Seed = None) -> Selection:
        """Search the candidates on an inner split of ``table``; return the winner's selection of ``table``.

        The winner is re-run on all rows with the same ``seed``, so with one candidate
        the result is that candidate's own selection.
        """
        owner = "Auto"
        if not isinstance(budget, Budget):
            raise fail("budget", owner, "a Budget", budget)
        check_float(self.val_fraction, "val_fraction", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int(self.eta, "eta", owner, low=2)
        check_int(self.n_rungs, "n_rungs", owner, low=1)
        table.check_not_empty(owner)
        table.require(self.required_columns(), owner)
        order = canonical_order(table)
        t = table if order is None else table.take(order)
        k = budget.resolve(t.n_rows, owner)
        rng = as_generator(seed)
        t_start = time.perf_counter()
        cands = self._candidates(t)
        fraction = k / t.n_rows
        t, fused = fused_columns(t, cands)
        geo = self._geometry_table(t) if any(c.geometric for c in cands) else t
        evidence: dict[str, Any] = {
            "budget": budget.to_dict(), "fraction": fraction, "n_rows": t.n_rows, "k": k,
            "proxy": getattr(self._proxy_model(), "name", str(self.proxy)), "eta": self.eta, "n_rungs": self.n_rungs,
            "val_fraction": self.val_fraction, "fused_columns": fused,
        }
        if len(cands) == 1:
            chosen = cands[0]
            evidence.update(chosen=chosen.label, candidates=[chosen.to_dict()], note="one candidate: no search")
        else:
            chosen = self._search(t, geo, cands, fraction, rng, evidence)
        src = geo if chosen.geometric else t
        sel = chosen.build().select(src, budget, seed=seed)
        evidence["seconds"] = time.perf_counter() - t_start
        evidence["chosen_params"] = chosen.to_dict()
        self.evidence_ = evidence
        log.info("auto chose %s at fraction %.3f", chosen.label, fraction)
        return Selection(
            row_ids=sel.row_ids, selector=self.name, budget=budget, seed=seed_int(seed), gains=sel.gains,
            weights=sel.weights, params={**self.get_params(), "chosen": chosen.label},
        )

    def _search(
        self, table: Table, geo: Table, cands: list[Candidate], fraction: float, rng: np.random.Generator,
        evidence: dict[str, Any],
    ) -> Candidate:
        model = self._proxy_model()
        pool, val = inner_split(table.labels, float(self.val_fraction), rng)
        if len(val) == 0:
            raise fail("val_fraction", "Auto", "a split that leaves validation rows", self.val_fraction)
        pool_t, pool_geo = table.take(pool), geo.take(pool)
        classes, codes = np.unique(table.labels, return_inverse=True)
        y_pool, y_val = codes[pool], codes[val]
        X_pool, X_val = pool_t.embeddings, table.embeddings[val]
        k_pool = max(1, min(len(pool), int(round(fraction * len(pool)))))
        cand_seed = int(rng.integers(2**31))
        trials = [_Trial(c) for c in cands]
        for tr in trials:
            t0 = time.perf_counter()
            try:
                tr.rows, tr.weights = self._run_candidate(tr.cand, pool_t, pool_geo, k_pool, cand_seed)
            except (ValueError, KeyError, RuntimeError) as exc:  # a candidate that cannot run here is dropped
                tr.error = f"{type(exc).__name__}: {exc}"
                log.info("auto: candidate %s dropped: %s", tr.cand.label, tr.error)
            tr.select_seconds = time.perf_counter() - t0
        alive = [t for t in trials if t.error is None]
        if not alive:
            raise fail("candidates", "Auto", "at least one candidate that runs on this table", [t.error for t in trials])
        full_epochs = int(getattr(model, "epochs", 1))
        row_epochs = 0.0
        # the rung resource is training epochs; a proxy without epochs is trained once per candidate
        R = int(self.n_rungs) if hasattr(model, "epochs") else 1
        for r in range(R):
            epochs = max(1, int(round(full_epochs / self.eta ** (R - 1 - r)))) if hasattr(model, "epochs") else None
            m = model
            if epochs is not None:
                m = copy.copy(model)
                m.epochs = epochs
            proxy_seed = int(rng.integers(2**31))
            for tr in alive:
                assert tr.rows is not None
                t0 = time.perf_counter()
                P = m.fit_predict_proba(
                    X_pool[tr.rows], y_pool[tr.rows], X_val, n_classes=len(classes), seed=proxy_seed, sample_weight=tr.weights
                )
                acc = float(np.mean(P.argmax(axis=1) == y_val))
                row_epochs += len(tr.rows) * (epochs or 1)
                tr.results.append({"rung": r, "epochs": epochs, "seed": proxy_seed, "val_accuracy": acc,
                                   "seconds": time.perf_counter() - t0})
            if r < R - 1:
                n_keep = max(1, int(np.ceil(len(alive) / self.eta)))
                # the latest rung decides (more epochs are more telling); ties keep the earlier candidate
                order = sorted(range(len(alive)), key=lambda i: (-alive[i].results[-1]["val_accuracy"], i))
                keep = {i for i in order[:n_keep]} | {i for i, t in enumerate(alive) if t.cand.name == "random"}
                alive = [t for i, t in enumerate(alive) if i in keep]
        best = max(range(len(alive)), key=lambda i: (alive[i].results[-1]["val_accuracy"], -i))
        chosen = alive[best].cand
        full_cost = float(table.n_rows * full_epochs)
        evidence.update(
            chosen=chosen.label,
            n_pool=int(len(pool)), n_val=int(len(val)), k_pool=k_pool,
            candidates=[
                {**t.cand.to_dict(), "select_seconds": t.select_seconds, "error": t.error, "results": t.results,
                 "final_rung": max((x["rung"] for x in t.results), default=-1)}
                for t in trials
            ],
            proxy_row_epochs=row_epochs,
            proxy_cost_vs_full_run=row_epochs / full_cost,
            select_seconds=float(sum(t.select_seconds for t in trials)),
        )
        return chosen

