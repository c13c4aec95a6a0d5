"""Train on each selection and on random selections of the same size; record accuracy.

The harness answers the question every selector must face: at the same budget, does
training on this selection beat training on a random subset? For each arm (a selector,
random, or a custom strategy such as RS2), each keep fraction and each seed it trains the
reference model on the arm's rows and records test accuracy. With a run directory every
finished training run is stored at once (atomically), and runs already stored are
skipped, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from thresher._validation import check_float, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.evaluate.models import ReferenceModel, get_model
from thresher.evaluate.stats import mean_ci
from thresher.select.base import BaseSelector, Budget, Selection
from thresher.select.random import RandomSelector
from thresher.store.keys import component_key, fingerprint
from thresher.store.records import dedupe_records
from thresher.store.rundir import RunDir, selection_key

__all__ = ["Arm", "SelectorArm", "FullArm", "evaluate", "summarize", "RANDOM", "FULL"]

log = logging.getLogger(__name__)

RANDOM = "random"
FULL = "full"


@runtime_checkable
class Arm(Protocol):
    """One training strategy at a budget: returns at least ``accuracy`` and ``n_train``."""

    name: str

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]: ...


class SelectorArm:
    """Train the reference model on a selector's rows (weighted when the selection has weights).

    With ``run_dir`` the selection is stored under ``selections/`` and reused on resume.
    """

    def __init__(self, name: str, selector: BaseSelector, run_dir: RunDir | None = None) -> None:
        self.name = name
        self.selector = selector
        self.run_dir = run_dir

    def result_key(self, train: Table, fraction: float, seed: int) -> tuple[str, dict[str, Any]]:
        """Return the selection's result key (selector, parameters, budget, seed, rows read) and provenance."""
        if getattr(self.selector, "reads_stored", False) and self.run_dir is not None:
            # a stand-in for a selection stored earlier (``thresher select``): it is what it was stored as
            name = selection_key(self.name, Budget(fraction=fraction), seed)
            return self.run_dir.selection_digest(name), {"kind": "stored selection", "name": name}
        return component_key(
            "selection", self.selector, seed=seed, table=train, budget=Budget(fraction=fraction).to_dict()
        )

    def select(self, train: Table, fraction: float, seed: int) -> Selection:
        budget = Budget(fraction=fraction)
        name = selection_key(self.name, budget, seed)
        key, provenance = self.result_key(train, fraction, seed)
        if self.run_dir is not None and self.run_dir.has_selection(name, key):
            return self.run_dir.read_selection(name)
        sel = self.selector.select(train, budget, seed=seed)
        if self.run_dir is not None:
            self.run_dir.write_selection(name, sel, key=key, provenance={**provenance, "origin": "evaluate"})
        return sel

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]:
        sel = self.select(train, fraction, seed)
        pos = train.positions(sel.row_ids)
        acc = model.fit_score(
            train.embeddings[pos], train.labels[pos], test.embeddings, test.labels, seed=seed, sample_weight=sel.weights
        )
        return {"accuracy": acc, "n_train": len(pos)}


class FullArm:
    """Train on every training row (the full-data reference line)."""

    name = FULL

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]:
        acc = model.fit_score(train.embeddings, train.labels, test.embeddings, test.labels, seed=seed)
        return {"accuracy": acc, "n_train": train.n_rows}


def evaluate(
    train: Table,
    test: Table,
    arms: Sequence[Arm],
    fractions: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    model: str | ReferenceModel = "logreg",
    *,
    run_dir: RunDir | None = None,
    include_random: bool = True,
    include_full: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Train every arm at every keep fraction and seed; return the records as a DataFrame.

    A random arm (``"random"``) at the same budgets and the full-data arm are added unless
    turned off. Records have columns ``arm, fraction, seed, accuracy, n_train, seconds``.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> from thresher.select.topk import TopK
    >>> tr, te = split_table(load_digits().take(range(400)))
    >>> tr = tr.with_column("score.x", tr.embeddings[:, 20])
    >>> df = evaluate(tr, te, [SelectorArm("top", TopK(by="score.x"))], [0.5], seeds=[0])
    >>> sorted(df["arm"])
    ['full', 'random', 'top']
    """
    import pandas as pd

    owner = "evaluate"
    train.require(["embeddings", "label"], owner)
    test.require(["embeddings", "label"], owner)
    test.check_not_empty(owner)
    if not fractions:
        raise fail("fractions", owner, "a non-empty list of keep fractions", list(fractions))
    for f in fractions:
        check_float(f, "fractions", owner, low=0.0, high=1.0, low_open=True)
    if not seeds:
        raise fail("seeds", owner, "a non-empty list of seeds", list(seeds))
    ref_model = get_model(model)
    all_arms: list[Arm] = list(arms)
    names = [a.name for a in all_arms]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"`arms` of evaluate must have distinct names; got {names}.")
    if include_random and RANDOM not in names:
        all_arms.append(SelectorArm(RANDOM, RandomSelector(), run_dir))
    jobs: list[tuple[Arm, float, int]] = [(a, float(f), int(s)) for a in all_arms for f in fractions for s in seeds]
    if include_full:
        jobs += [(FullArm(), 1.0, int(s)) for s in seeds]
    done = run_dir.evaluation_keys() if run_dir is not None else set()
    records: list[dict[str, Any]] = []
    keys: list[str] = []
    for i, (arm, frac, seed) in enumerate(jobs):
        key, provenance = _record_key(arm, train, test, frac, seed, ref_model)
        keys.append(key)
        if key in done:
            if on_progress:
                on_progress(i + 1, len(jobs))
            continue
        t0 = time.perf_counter()
        out = arm.run(train, test, frac, seed, ref_model)
        rec = {"arm": arm.name, "fraction": frac, "seed": seed, "model": ref_model.name, **out, "key": key}
        rec["seconds"] = time.perf_counter() - t0
        log.info("evaluated %s at %.2f seed %d: accuracy %.4f", arm.name, frac, seed, rec["accuracy"])
        records.append(rec)
        if run_dir is not None:
            run_dir.append_evaluation([rec], provenance=provenance)
        if on_progress:
            on_progress(i + 1, len(jobs))
    if run_dir is not None:
        stored = run_dir.read_evaluation()  # this call's records only (other models' stay stored beside)
        return stored[stored["key"].isin(keys)].reset_index(drop=True)
    return pd.DataFrame(records)


def _record_key(
    arm: Arm, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel
) -> tuple[str, dict[str, Any]]:
    """Return the result key of one training run: the arm's rows, the model and its parameters, the test rows."""
    if isinstance(arm, SelectorArm):
        arm_key = arm.result_key(train, fraction, seed)[0]
    else:
        arm_key = component_key("arm", arm, arm.name, seed=seed, table=train)[0]
    return component_key(
        "evaluation", model, getattr(model, "name", None), seed=seed, arm=arm.name, arm_key=arm_key,
        fraction=fraction, test=fingerprint(test),
    )


def summarize(records: Any, confidence: float = 0.95) -> Any:
    """Return mean accuracy and a Student-t confidence interval per (arm, fraction).

    Duplicated records (same result key) are counted once, with a logged warning;
    ``attrs["n_duplicates_dropped"]`` of the result says how many were dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["a", "a"], "fraction": [0.5, 0.5], "seed": [0, 1], "accuracy": [0.8, 0.9]})
    >>> s = summarize(df)
    >>> round(float(s["mean"][0]), 3), int(s["n_seeds"][0])
    (0.85, 2)
    """
    import pandas as pd

    records = dedupe_records(records)  # each training run counted once (warns when it drops any)
    if "model" in records.columns and records["model"].nunique() > 1:
        # results of several reference models are stored beside each other: never pool them
        records = records.assign(arm=[f"{a} [{m}]" for a, m in zip(records["arm"], records["model"])])
    rows = []
    for (arm, frac), g in records.groupby(["arm", "fraction"], sort=True):
        m, lo, hi = mean_ci(g["accuracy"].to_numpy(dtype=np.float64), confidence)
        rows.append({"arm": arm, "fraction": float(frac), "n_seeds": len(g), "mean": m, "ci_low": lo, "ci_high": hi})
    out = pd.DataFrame(rows, columns=["arm", "fraction", "n_seeds", "mean", "ci_low", "ci_high"])
    out.attrs["n_duplicates_dropped"] = records.attrs.get("n_duplicates_dropped", 0)
    return out
