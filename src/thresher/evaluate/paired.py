"""Paired comparison of every arm against a baseline arm (random, RS2 or full data).

For each (arm, fraction) the runs of the arm and of the baseline that share a seed are
paired row by row on the test set; :func:`compare` returns the mean difference, its 95%
interval counting seed and test-sample variance (:mod:`thresher.evaluate.stats`), a
p-value, the Holm-adjusted p-value across the arms compared at that fraction, and a
verdict. Verdicts need at least five seeds; with fewer the table says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._validation import check_choice, fail
from thresher.evaluate.classification import balanced_accuracy_batch, macro_f1_batch, row_log_loss
from thresher.evaluate.predictions import Predictions
from thresher.evaluate.stats import MIN_SEEDS_FOR_VERDICT, holm, paired_bootstrap, paired_difference, verdict

__all__ = ["compare", "METRICS", "LOWER_IS_BETTER"]

METRICS = ("accuracy", "log_loss", "macro_f1", "balanced_accuracy")
LOWER_IS_BETTER = frozenset({"log_loss"})
COLUMNS = [
    "arm", "fraction", "baseline", "metric", "n_seeds", "n_test", "mean_diff", "ci_low", "ci_high",
    "p_value", "p_holm", "verdict",
]


def _predictions(records: Any, predictions: Predictions | None, run_dir: Any) -> Predictions:
    if predictions is not None:
        return predictions
    if run_dir is not None:
        from thresher.evaluate.harness import PREDICTIONS_DIR

        p = Predictions.load(run_dir.path / PREDICTIONS_DIR)
        if p is not None:
            return p
    p = records.attrs.get("predictions") if hasattr(records, "attrs") else None
    if p is None:
        raise fail("predictions", "compare", "stored per-test-row predictions (a model with fit_predict_proba)", None)
    return p  # type: ignore[no-any-return]


def _one(
    preds: Predictions, arm: str, base: str, frac: float, base_frac: float, seeds: list[int], model: str,
    metric: str, confidence: float, test_variance: bool,
) -> tuple[float, float, float, float]:
    if metric == "accuracy":
        D = preds.correct(arm, frac, seeds, model).astype(np.float64) - preds.correct(base, base_frac, seeds, model)
    elif metric == "log_loss":
        D = row_log_loss(preds.p_true(arm, frac, seeds, model)) - row_log_loss(preds.p_true(base, base_frac, seeds, model))
    else:
        fn = macro_f1_batch if metric == "macro_f1" else balanced_accuracy_batch
        y, C = preds.y, preds.n_classes

        def stat(pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return fn(y, pred, idx, C)

        A, B = preds.predicted(arm, frac, seeds, model), preds.predicted(base, base_frac, seeds, model)
        return paired_bootstrap(stat, A, B, n_boot=400, confidence=confidence, seed=0)
    r = paired_difference(D, confidence, test_variance=test_variance)
    return r.mean, r.low, r.high, r.p_value


def compare(
    records: Any,
    baseline: str = "random",
    *,
    metric: str = "accuracy",
    confidence: float = 0.95,
    alpha: float = 0.05,
    test_variance: bool = True,
    predictions: Predictions | None = None,
    run_dir: Any = None,
    min_seeds: int = MIN_SEEDS_FOR_VERDICT,
) -> Any:
    """Return paired differences ``arm - baseline`` per (arm, fraction) with intervals and verdicts.

    Parameters
    ----------
    records
        Evaluation records (from :func:`~thresher.evaluate.harness.evaluate` or a run
        directory's ``read_evaluation()``).
    baseline
        Arm to compare with: ``"random"``, ``"rs2"``, or ``"full"`` (paired by seed with
        the full-data run, whatever the fraction).
    metric
        ``accuracy`` or ``log_loss`` (analytic crossed-design interval), ``macro_f1`` or
        ``balanced_accuracy`` (two-way bootstrap, percentile interval and bootstrap p-value).
    test_variance
        Count test-sample variance (off: the classical paired-t interval over seeds).

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> from thresher.evaluate.harness import SelectorArm, evaluate
    >>> from thresher.select.kcenter import KCenterGreedy
    >>> tr, te = split_table(load_digits().take(range(300)))
    >>> df = evaluate(tr, te, [SelectorArm("kc", KCenterGreedy())], [0.3], seeds=[0, 1], model="knn")
    >>> c = compare(df)
    >>> c[["arm", "n_seeds", "verdict"]].values.tolist()
    [['kc', 2, 'too few seeds (2 < 5)']]
    >>> bool(c["ci_high"][0] > c["ci_low"][0])
    True
    """
    import pandas as pd

    check_choice(metric, "metric", "compare", METRICS)
    preds = _predictions(records, predictions, run_dir)
    rows: list[dict[str, Any]] = []
    models = sorted({str(m) for m in records["model"]}) if "model" in records.columns else []
    from thresher.evaluate.harness import FULL

    for model in models:
        rec = records[records["model"] == model]
        base_rec = rec[rec["arm"] == baseline]
        if len(base_rec) == 0:
            continue
        for (arm, frac), g in rec.groupby(["arm", "fraction"], sort=True):
            if arm in (baseline, FULL):
                continue
            base_frac = 1.0 if baseline == FULL else float(frac)
            base_seeds = {int(s) for s in base_rec[np.isclose(base_rec["fraction"], base_frac)]["seed"]}
            seeds = sorted(int(s) for s in g["seed"] if int(s) in base_seeds)
            seeds = [s for s in seeds if preds.has(arm, frac, s, model) and preds.has(baseline, base_frac, s, model)]
            if not seeds:
                continue
            m, lo, hi, p = _one(preds, str(arm), baseline, float(frac), base_frac, seeds, model, metric, confidence, test_variance)
            rows.append({
                "arm": str(arm), "fraction": float(frac), "baseline": baseline, "metric": metric, "model": model,
                "n_seeds": len(seeds), "n_test": len(preds.y), "mean_diff": m, "ci_low": lo, "ci_high": hi, "p_value": p,
            })
    out = pd.DataFrame(rows, columns=[*COLUMNS[:-2], "model"])
    out["p_holm"] = np.nan
    out["verdict"] = ""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    for _, idx in out.groupby(["model", "fraction"]).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p_value"].to_numpy(dtype=np.float64))
    out["verdict"] = [
        verdict(sign * m, ph, n, alpha, min_seeds=min_seeds) for m, ph, n in zip(out["mean_diff"], out["p_holm"], out["n_seeds"])
    ]
    return out[[*COLUMNS, "model"]].reset_index(drop=True)
