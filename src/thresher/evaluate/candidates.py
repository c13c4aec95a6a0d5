"""The candidate strategies ``auto`` chooses among, built from what the table holds.

A :class:`Candidate` is a selector by registry name with parameters and a label; it may
also name a scorer whose column it needs (a fused score, prototypicality) so that column
is computed once, from the same training rows, before the search. Plug-ins registered
by other modules (``fuse``, ``prototypicality``, ``odis``, ``deita``) are looked up in
the registries, never imported, so ``auto`` works whether or not they are installed.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from thresher._registry import SCORERS, SELECTORS
from thresher.data.table import Table

__all__ = ["Candidate", "default_candidates", "fused_columns", "GEOMETRIC"]

# selectors that read the embedding geometry (run on the PCA-reduced embeddings in auto)
GEOMETRIC = frozenset({
    "facility_location", "kcenter", "cluster_balanced", "d2", "herding", "graph_cut", "saturated_coverage",
    "log_determinant", "dpp_map", "kdpp", "deita",
})


@dataclass(frozen=True)
class Candidate:
    """One strategy: ``SELECTORS[name](**params)``, labelled; ``derive`` = (column, scorer, params) it needs."""

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    derive: tuple[str, str, dict[str, Any]] | None = None

    @property
    def geometric(self) -> bool:
        return self.name in GEOMETRIC

    def build(self) -> Any:
        return SELECTORS.get(self.name)(**self.params)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"label": self.label, "name": self.name, "params": dict(self.params)}
        if self.derive is not None:
            d["derive"] = {"column": self.derive[0], "scorer": self.derive[1], "params": dict(self.derive[2])}
        return d


def _accepts(name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Return the params the selector's constructor accepts, or None when a required one is missing."""
    cls = SELECTORS.get(name)
    sig = inspect.signature(cls.__init__)
    ok = {k: v for k, v in params.items() if k in sig.parameters}
    missing = [
        p.name for p in list(sig.parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ok
    ]
    return None if missing else ok


def _orientation(cols: list[str]) -> list[bool]:
    """Each column's scorer's ``higher_is_better`` (True for a column no registered scorer writes)."""
    out = []
    for c in cols:
        name = c.removeprefix("score.")
        out.append(bool(getattr(SCORERS.get(name), "higher_is_better", True)) if name in SCORERS else True)
    return out


def _short(col: str) -> str:
    return col.removeprefix("score.")


def default_candidates(
    table: Table,
    *,
    betas: tuple[float, ...] = (0.0, 0.1, 0.3),
    max_score_columns: int = 6,
    geometric: bool = True,
    exclude: tuple[str, ...] = (),
    score_columns: tuple[str, ...] | None = None,
) -> list[Candidate]:
    """Return the default candidate grid for ``table``.

    Random; for each ``score.*`` column (up to ``max_score_columns``, by name): top-k of
    the highest and of the lowest values, CCS with each ``beta`` (pruning the highest or,
    for ``beta > 0``, the lowest values first); D2 on the first score column; with two or
    more score columns and the ``fuse`` scorer registered, the z-score and rank (Borda) fusions
    (top-k both ways and CCS); prototypicality (easy and hard) when registered; ODiS and
    DEITA when registered; facility location, k-center and cluster-balanced. Candidates
    whose selector name or label is in ``exclude`` are left out; ``score_columns`` names
    the score columns to use instead of every ``score.*`` column.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"label": np.arange(6) % 2, "score.a": np.arange(6.0)}, matrices={"embeddings": np.eye(6)})
    >>> [c.label for c in default_candidates(t, geometric=False)][:8]
    ['random', 'top-high:a', 'top-low:a', 'ccs(b=0):a', 'ccs-high(b=0.1):a', 'ccs-low(b=0.1):a', 'ccs-high(b=0.3):a', 'ccs-low(b=0.3):a']
    """
    if score_columns is not None:
        cols = [c for c in score_columns if table.has(c)]
    else:
        cols = sorted(c for c in table.column_names if c.startswith("score."))[:max_score_columns]
    out = [Candidate("random", "random")]

    Derive = tuple[str, str, dict[str, Any]] | None

    def by_column(col: str, short: str, derive: Derive = None) -> list[Candidate]:
        c = [
            Candidate(f"top-high:{short}", "topk", {"by": col, "largest": True}, derive),
            Candidate(f"top-low:{short}", "topk", {"by": col, "largest": False}, derive),
        ]
        for b in betas:
            if b == 0:
                c.append(Candidate(f"ccs(b=0):{short}", "ccs", {"by": col, "beta": 0.0}, derive))
            else:
                c.append(Candidate(f"ccs-high(b={b:g}):{short}", "ccs", {"by": col, "beta": b, "hardest": "high"}, derive))
                c.append(Candidate(f"ccs-low(b={b:g}):{short}", "ccs", {"by": col, "beta": b, "hardest": "low"}, derive))
        return c

    for col in cols:
        out += by_column(col, _short(col))
    if len(cols) >= 2 and "fuse" in SCORERS:
        for method in ("zscore", "rank"):  # rank = Borda count
            col = f"score.fuse_{method}"
            fused: Derive = (col, "fuse", {"columns": cols, "method": method, "orientations": _orientation(cols)})
            out += [c for c in by_column(col, f"fuse_{method}", fused) if "(b=0.3)" not in c.label]
    if "prototypicality" in SCORERS and "score.prototypicality" not in cols:
        proto: Derive = ("score.prototypicality", "prototypicality", {})
        out += [
            Candidate("proto-easy", "topk", {"by": "score.prototypicality", "largest": False}, proto),
            Candidate("proto-hard", "topk", {"by": "score.prototypicality", "largest": True}, proto),
        ]
    if geometric:
        if cols and "d2" in SELECTORS:
            out.append(Candidate(f"d2:{_short(cols[0])}", "d2", {"by": cols[0]}))
        out += [
            Candidate("facility_location", "facility_location"),
            Candidate("kcenter", "kcenter"),
            Candidate("cluster_balanced", "cluster_balanced"),
        ]
    fuse_col = "score.fuse_zscore" if len(cols) >= 2 and "fuse" in SCORERS else (cols[0] if cols else None)
    for name, params in (("odis", {"by": cols, "orientations": _orientation(cols)}), ("deita", {"by": fuse_col})):
        if name in SELECTORS and cols and fuse_col is not None:
            ok = _accepts(name, params)
            if ok is not None:
                need: tuple[str, str, dict[str, Any]] | None = None
                if name == "deita" and fuse_col == "score.fuse_zscore":
                    need = ("score.fuse_zscore", "fuse", {"columns": cols, "method": "zscore", "orientations": _orientation(cols)})
                out.append(Candidate(name, name, ok, need))
    return [c for c in out if c.name not in exclude and c.label not in exclude]


def fused_columns(table: Table, cands: list[Candidate]) -> tuple[Table, list[str]]:
    """Compute each derived column the candidates need (once) and add it to ``table``."""
    done: list[str] = []
    for c in cands:
        if c.derive is None or c.derive[0] in done or table.has(c.derive[0]):
            continue
        column, scorer, params = c.derive
        values = SCORERS.get(scorer)(**params).score(table, seed=0)
        table = table.with_column(column, values)
        done.append(column)
    return table, done
