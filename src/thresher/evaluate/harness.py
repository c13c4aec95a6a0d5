"""Train on each selection and on random selections of the same size; record test predictions.

The harness answers the question every selector must face: at the same budget, does
training on this selection beat training on a random subset? For each arm (a selector,
random, or a custom strategy such as RS2), each keep fraction and each seed it trains the
reference model on the arm's rows. The design is paired: within a seed every arm is
trained with the same model seed and scored on the same test rows, and each run's
per-test-row predictions are kept (:class:`~thresher.evaluate.predictions.Predictions`)
so :func:`thresher.evaluate.paired.compare` can report paired differences with intervals
that count seed and test-sample variance. Labels are turned into class codes
``0..C-1`` (over train and test) before any arm sees them.

With a run directory every finished training run is stored at once (atomically), and
runs already stored are skipped, so an interrupted evaluation resumes where it stopped.
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
from thresher.evaluate.classification import run_metrics
from thresher.evaluate.models import ReferenceModel, get_model
from thresher.evaluate.predictions import Predictions
from thresher.evaluate.stats import mean_ci
from thresher.select.base import BaseSelector, Budget, Selection
from thresher.select.random import RandomSelector
from thresher.store.atomic import write_json
from thresher.store.keys import component_key, fingerprint
from thresher.store.records import dedupe_records
from thresher.store.rundir import RunDir, selection_key

__all__ = ["Arm", "SelectorArm", "FullArm", "evaluate", "summarize", "fit_arm", "make_arm", "RANDOM", "FULL", "PREDICTIONS_DIR"]

log = logging.getLogger(__name__)

RANDOM = "random"
FULL = "full"
PREDICTIONS_DIR = "predictions"


@runtime_checkable
class Arm(Protocol):
    """One training strategy at a budget.

    ``run`` returns ``n_train`` and either ``proba`` (test probabilities, ``(n_test,
    n_classes)``; preferred, it gives the paired statistics) or ``accuracy``. Labels of
    ``train`` and ``test`` are class codes.
    """

    name: str

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]: ...


def fit_arm(
    model: Any,
    train: Table,
    test: Table,
    pos: np.ndarray | None,
    seed: int,
    *,
    sample_weight: np.ndarray | None = None,
    epoch_indices: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on the training rows ``pos`` (all when ``None``); return ``proba`` or ``accuracy``.

    ``epoch_indices`` (RS2) are positions into the training table, one array per epoch;
    only PyTorch reference models accept them.
    """
    X = train.embeddings if pos is None else train.embeddings[pos]
    y = train.labels if pos is None else train.labels[pos]
    n_classes = int(train.meta.get("n_classes", int(max(train.labels.max(), test.labels.max())) + 1))
    if hasattr(model, "fit_predict_proba"):
        kw: dict[str, Any] = {"n_classes": n_classes, "seed": seed, "sample_weight": sample_weight}
        if epoch_indices is not None:
            kw["epoch_indices"] = epoch_indices
        return {"proba": model.fit_predict_proba(X, y, test.embeddings, **kw)}
    if epoch_indices is not None:
        return {"accuracy": float(model.fit_score_epochs(X, y, test.embeddings, test.labels, seed=seed, epoch_indices=epoch_indices))}
    return {"accuracy": float(model.fit_score(X, y, test.embeddings, test.labels, seed=seed, sample_weight=sample_weight))}


class SelectorArm:
    """Train the reference model on a selector's rows (weighted when the selection has weights).

    With ``run_dir`` the selection is stored under ``selections/`` and reused on resume;
    a selector that leaves evidence of its choice (``evidence_``, e.g. ``auto``) has it
    written to ``auto/<selection key>.json``.
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
            evidence = getattr(self.selector, "evidence_", None)
            if evidence is not None:
                write_json(self.run_dir.path / "auto" / f"{name}.json", {"arm": self.name, "seed": seed, **evidence})
            self.run_dir.write_selection(name, sel, key=key, provenance={**provenance, "origin": "evaluate"})
        return sel

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]:
        sel = self.select(train, fraction, seed)
        pos = train.positions(sel.row_ids)
        return {**fit_arm(model, train, test, pos, seed, sample_weight=sel.weights), "n_train": len(pos)}


class FullArm:
    """Train on every training row (the full-data reference line)."""

    name = FULL

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: ReferenceModel) -> dict[str, Any]:
        return {**fit_arm(model, train, test, None, seed), "n_train": train.n_rows}


def make_arm(name: str, params: dict[str, Any] | None = None, label: str | None = None, run_dir: RunDir | None = None) -> Arm:
    """Return the evaluation arm for a registry name: a registered arm (``rs2``) or a selector.

    Examples
    --------
    >>> make_arm("rs2").name, make_arm("kcenter", label="kc").name
    ('rs2', 'kc')
    """
    from thresher._registry import ARMS, SELECTORS

    params = dict(params or {})
    registry = ARMS if name in ARMS else SELECTORS
    cls = registry.get(name)
    try:
        if registry is ARMS:
            return cls(name=label or name, **params)  # type: ignore[no-any-return]
        return SelectorArm(label or name, cls(**params), run_dir)
    except TypeError as exc:
        raise InvalidParameterError(
            f"parameters of {registry.kind} {name!r} must match its signature; got {params}: {exc}."
        ) from None


def _encode(train: Table, test: Table) -> tuple[Table, Table, np.ndarray]:
    """Return train/test with label codes 0..C-1 (classes over both) and the class values."""
    classes, codes = np.unique(np.concatenate([np.asarray(train.labels), np.asarray(test.labels)]), return_inverse=True)
    codes = codes.astype(np.int64)
    tr = train.with_column("label", codes[: train.n_rows])
    te = test.with_column("label", codes[train.n_rows :])
    tr.meta["n_classes"] = te.meta["n_classes"] = len(classes)
    return tr, te, classes


def evaluate(
    train: Table,
    test: Table,
    arms: Sequence[Arm],
    fractions: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    model: str | ReferenceModel = "logreg",
    *,
    run_dir: RunDir | None = None,
    include_random: bool = True,
    include_full: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Train every arm at every keep fraction and seed; return the records as a DataFrame.

    A random arm (``"random"``) at the same budgets and the full-data arm are added unless
    turned off. Records have columns ``arm, fraction, seed, model, accuracy, n_train,
    seconds`` and, for models with ``fit_predict_proba``, ``macro_f1, balanced_accuracy,
    log_loss`` (and ``worst_group_accuracy`` when the test table has a ``group`` column).
    The per-test-row predictions are in ``records.attrs["predictions"]`` (and in
    ``<run_dir>/predictions/``); :func:`thresher.evaluate.paired.compare` reads them.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> from thresher.select.topk import TopK
    >>> tr, te = split_table(load_digits().take(range(400)))
    >>> tr = tr.with_column("score.x", tr.embeddings[:, 20])
    >>> df = evaluate(tr, te, [SelectorArm("top", TopK(by="score.x"))], [0.5], seeds=[0])
    >>> sorted(df["arm"])
    ['full', 'random', 'top']
    >>> df.attrs["predictions"].correct("top", 0.5, [0], "logreg").shape
    (1, 90)
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
    train, test, classes = _encode(train, test)
    group = test.column("group") if test.has("group") else None
    preds = Predictions(
        test.labels, len(classes), row_id=test.row_id, group=group,
        path=None if run_dir is None else run_dir.path / PREDICTIONS_DIR,
    )
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
        out = dict(arm.run(train, test, frac, seed, ref_model))
        seconds = time.perf_counter() - t0
        rec: dict[str, Any] = {"arm": arm.name, "fraction": frac, "seed": seed, "model": ref_model.name, "key": key}
        if "proba" in out:
            pred, p_true = preds.add(arm.name, frac, seed, ref_model.name, out.pop("proba"))
            rec.update(run_metrics(test.labels, pred, p_true, len(classes), group))
        rec.update(out)
        rec["seconds"] = seconds
        log.info("evaluated %s at %.2f seed %d: accuracy %.4f", arm.name, frac, seed, rec["accuracy"])
        records.append(rec)
        if run_dir is not None:
            run_dir.append_evaluation([rec], provenance=provenance)
        if on_progress:
            on_progress(i + 1, len(jobs))
    if run_dir is not None:
        stored = run_dir.read_evaluation()  # this call's records only (other models' stay stored beside)
        df = stored[stored["key"].isin(keys)].reset_index(drop=True)
    else:
        df = pd.DataFrame(records)
    df.attrs["predictions"] = preds
    return df


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


def summarize(records: Any, confidence: float = 0.95, predictions: Predictions | None = None) -> Any:
    """Return mean accuracy and its interval per (arm, fraction), inside [0, 1].

    With stored per-test-row predictions (``records.attrs["predictions"]`` or
    ``predictions``) the interval counts seed and test-sample variance
    (:func:`~thresher.evaluate.stats.accuracy_interval`, a Wilson interval); without them
    it is a Student-t interval over seeds, clipped to [0, 1].
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

    from thresher.evaluate.stats import accuracy_interval

    preds = predictions if predictions is not None else records.attrs.get("predictions")
    records = dedupe_records(records)  # each training run counted once (warns when it drops any)
    several_models = "model" in records.columns and records["model"].nunique() > 1
    rows = []
    group_cols = ["arm", "fraction", "model"] if "model" in records.columns else ["arm", "fraction"]
    for key, g in records.groupby(group_cols, sort=True):
        arm, frac = key[0], key[1]
        model = key[2] if len(key) > 2 else None
        seeds = sorted(int(s) for s in g["seed"])
        if preds is not None and model is not None and all(preds.has(arm, frac, s, model) for s in seeds):
            m, lo, hi = accuracy_interval(preds.correct(arm, frac, seeds, model), confidence)
        else:
            m, lo, hi = mean_ci(g["accuracy"].to_numpy(dtype=np.float64), confidence)
            lo, hi = max(0.0, lo), min(1.0, hi)
        # results of several reference models are stored beside each other: never pooled, named apart
        label = f"{arm} [{model}]" if several_models else arm
        rows.append({"arm": label, "fraction": float(frac), "n_seeds": len(g), "mean": m, "ci_low": lo, "ci_high": hi})
    out = pd.DataFrame(rows, columns=["arm", "fraction", "n_seeds", "mean", "ci_low", "ci_high"])
    out.attrs["n_duplicates_dropped"] = records.attrs.get("n_duplicates_dropped", 0)
    return out
