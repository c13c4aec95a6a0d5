"""Learning curves: fit ``acc(n) = c - a * n**(-b)``, extrapolate, and size a dataset.

The power law is the usual description of test accuracy against training-set size
(Hestness et al., "Deep Learning Scaling is Predictable, Empirically", 2017; Rosenfeld
et al., ICLR 2020); ``c`` is the accuracy the curve approaches. :func:`fit_power_law`
fits it by bounded least squares (SciPy) and, with several seeds, gives bootstrap
intervals by refitting on seeds resampled with replacement. :func:`nested_random_curve`
produces the points: for each seed one random permutation of the training rows, and
the reference model trained on its first ``n`` rows for each ``n`` (nested subsets).
:meth:`PowerLawFit.rows_for` answers "how many rows for X% of full-data accuracy".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from thresher._typing import Seed, as_generator
from thresher._validation import check_float, check_int, fail

__all__ = ["PowerLawFit", "power_law", "fit_power_law", "nested_random_curve", "fit_arm_curves"]


def power_law(n: Any, c: float, a: float, b: float) -> np.ndarray:
    """Return ``c - a * n**(-b)``."""
    return c - a * np.asarray(n, dtype=np.float64) ** (-b)


@dataclass(frozen=True)
class PowerLawFit:
    """Fitted ``c, a, b`` with bootstrap 95% intervals (NaN with one seed) and the data sizes."""

    c: float
    a: float
    b: float
    c_ci: tuple[float, float]
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    n_min: int
    n_max: int
    n_points: int
    boot: np.ndarray | None = None  # (n_boot, 3) refitted parameters

    def predict(self, n: Any) -> np.ndarray:
        return power_law(n, self.c, self.a, self.b)

    def predict_interval(self, n: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Return the pointwise bootstrap interval of the curve at ``n`` (the fit itself when no bootstrap)."""
        if self.boot is None or len(self.boot) == 0:
            v = self.predict(n)
            return v, v
        curves = np.stack([power_law(n, *p) for p in self.boot])
        lo, hi = np.quantile(curves, [0.5 - confidence / 2, 0.5 + confidence / 2], axis=0)
        return lo, hi

    def rows_for(self, target: float) -> float:
        """Return the ``n`` at which the curve reaches accuracy ``target`` (inf when it never does).

        Examples
        --------
        >>> f = PowerLawFit(0.9, 2.0, 0.5, (0, 0), (0, 0), (0, 0), 100, 1000, 5)
        >>> round(f.rows_for(0.8))
        400
        """
        gap = self.c - float(target)
        if gap <= 0:
            return float("inf")
        if self.a <= 0:
            return 1.0
        return float((self.a / gap) ** (1.0 / self.b))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("boot")
        return d


def _fit_once(n: np.ndarray, acc: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    order = np.argsort(n)
    n, acc = n[order], acc[order]
    c0 = min(1.0, float(acc.max()) + 0.01)
    b0 = 0.5
    a0 = max(1e-6, (c0 - float(acc[0])) * float(n[0]) ** b0)
    # fit log(a) so the three parameters have comparable scales
    def resid(p: np.ndarray) -> np.ndarray:
        return power_law(n, p[0], np.exp(p[1]), p[2]) - acc

    r = least_squares(resid, x0=[c0, np.log(a0), b0], bounds=([0.0, -30.0, 1e-3], [1.0, 30.0, 5.0]), method="trf",
                      x_scale="jac", max_nfev=2000)
    return np.array([r.x[0], float(np.exp(r.x[1])), r.x[2]])


def fit_power_law(
    n: Any, accuracy: Any, *, seeds: Any = None, n_boot: int = 200, confidence: float = 0.95, seed: Seed = 0
) -> PowerLawFit:
    """Fit ``acc(n) = c - a * n**(-b)`` to (size, accuracy) points; bootstrap over seeds when given.

    Parameters
    ----------
    n, accuracy
        Training-set sizes and the accuracies measured at them (one point per run).
    seeds
        Seed of each point: the bootstrap resamples whole seeds (a seed's points stay
        together, as they share a permutation), refits, and reports percentile intervals.

    Examples
    --------
    >>> n = np.array([100, 200, 400, 800, 1600, 3200])
    >>> f = fit_power_law(n, 0.9 - 2.0 * n ** -0.5)
    >>> round(f.c, 3), round(f.a, 3), round(f.b, 3)
    (0.9, 2.0, 0.5)
    """
    owner = "fit_power_law"
    nn = np.asarray(n, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if nn.shape != acc.shape or nn.ndim != 1:
        raise fail("accuracy", owner, f"one value per size ({nn.shape})", acc.shape)
    if len(np.unique(nn)) < 3:
        raise fail("n", owner, "at least 3 distinct sizes", sorted(set(nn.tolist())))
    if np.any(nn <= 0):
        raise fail("n", owner, "positive sizes", float(nn.min()))
    check_int(n_boot, "n_boot", owner, low=0)
    check_float(confidence, "confidence", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    p = _fit_once(nn, acc)
    boot = None
    nan = (float("nan"), float("nan"))
    cis = [nan, nan, nan]
    if seeds is not None and n_boot > 0:
        s = np.asarray(seeds)
        uniq = np.unique(s)
        if len(uniq) >= 2:
            rng = as_generator(seed)
            groups = [np.flatnonzero(s == u) for u in uniq]
            reps = []
            for _ in range(n_boot):
                take = np.concatenate([groups[i] for i in rng.integers(0, len(groups), size=len(groups))])
                if len(np.unique(nn[take])) >= 3:
                    reps.append(_fit_once(nn[take], acc[take]))
            boot = np.array(reps)
            q = [0.5 - confidence / 2, 0.5 + confidence / 2]
            cis = [tuple(float(v) for v in np.quantile(boot[:, j], q)) for j in range(3)]  # type: ignore[misc]
    return PowerLawFit(
        float(p[0]), float(p[1]), float(p[2]), cis[0], cis[1], cis[2],
        int(nn.min()), int(nn.max()), int(len(nn)), boot,
    )


def nested_random_curve(
    train: Any, test: Any, sizes: Sequence[int], seeds: Sequence[int] = (0, 1, 2), model: Any = "logreg"
) -> Any:
    """Train the reference model on nested random prefixes of the training rows; return records.

    For each seed one permutation of the training rows; for each size ``n`` the model is
    trained on its first ``n`` rows (with the same model seed), so larger subsets contain
    the smaller ones. Returns a DataFrame ``seed, n_train, accuracy``.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> tr, te = split_table(load_digits())
    >>> df = nested_random_curve(tr, te, [100, 300, 900], seeds=[0])
    >>> df["n_train"].tolist(), bool(df["accuracy"].is_monotonic_increasing)
    ([100, 300, 900], True)
    """
    import pandas as pd

    from thresher.evaluate.models import get_model

    owner = "nested_random_curve"
    m = get_model(model)
    classes, codes = np.unique(np.concatenate([np.asarray(train.labels), np.asarray(test.labels)]), return_inverse=True)
    ytr, yte = codes[: train.n_rows], codes[train.n_rows :]
    rows = []
    for s in seeds:
        perm = np.random.default_rng(np.random.SeedSequence([int(s), 5])).permutation(train.n_rows)
        for n in sorted(int(v) for v in sizes):
            check_int(n, "sizes", owner, low=1, high=train.n_rows)
            pos = perm[:n]
            if hasattr(m, "fit_predict_proba"):
                P = m.fit_predict_proba(train.embeddings[pos], ytr[pos], test.embeddings, n_classes=len(classes), seed=int(s))
                acc = float(np.mean(P.argmax(axis=1) == yte))
            else:
                acc = float(m.fit_score(train.embeddings[pos], ytr[pos], test.embeddings, yte, seed=int(s)))
            rows.append({"seed": int(s), "n_train": n, "accuracy": acc})
    return pd.DataFrame(rows)


def fit_arm_curves(records: Any, *, n_boot: int = 200, seed: Seed = 0) -> dict[str, PowerLawFit]:
    """Fit one learning curve per arm from evaluation records (``n_train``, ``accuracy``, ``seed``).

    Arms measured at fewer than three sizes are left out; the full-data runs are added
    to every arm as its largest size (the same rows whatever the selector).
    """
    import pandas as pd

    out: dict[str, PowerLawFit] = {}
    if len(records) == 0 or "n_train" not in records.columns:
        return out
    full = records[records["arm"] == "full"]
    for arm, g in records.groupby("arm", sort=True):
        if arm == "full":
            continue
        pts = g if len(full) == 0 else pd.concat([g, full], ignore_index=True)
        if pts["n_train"].nunique() < 3:
            continue
        out[str(arm)] = fit_power_law(pts["n_train"], pts["accuracy"], seeds=pts["seed"], n_boot=n_boot, seed=seed)
    return out
