"""Sampling selectors: sensitivity sampling with unbiased weights, importance resampling.

Two ways to keep rows at random but not uniformly:

* **Sensitivity sampling** keeps rows with probability growing with an importance score
  (a "sensitivity", Feldman & Langberg 2011; Bachem, Lucic & Krause, "Practical Coreset
  Constructions for Machine Learning", 2017) and returns importance *weights* so that a
  weighted loss on the subset is an unbiased estimate of the loss on all rows. To keep
  exactly ``k`` distinct rows we use priority sampling (Duffield, Lund & Thorup,
  "Priority sampling for estimation of arbitrary subset sums", JACM 2007): row ``i`` gets
  priority ``p_i / u_i`` with ``u_i ~ U(0, 1]``, the ``k`` largest are kept, and with
  ``tau`` the ``(k+1)``-th largest priority each kept row's weight is
  ``max(p_i, tau) / p_i``; ``sum_{i in S} w_i f_i`` is then unbiased for ``sum_i f_i``
  for any ``f``.
* **Importance resampling** draws ``k`` rows without replacement with probabilities
  proportional to weights, in the successive-sampling (Plackett-Luce) sense, by the
  Gumbel top-k trick (Vieira 2014; Kool, van Hoof & Welling, ICML 2019): add independent
  Gumbel noise to the log-weights and keep the ``k`` largest. DSIR (Xie et al. 2023) uses
  it to resample a raw pool toward a target distribution.
"""

from __future__ import annotations

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_choice, check_float, check_int, fail
from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.select.base import BaseSelector, Budget

__all__ = ["gumbel_topk", "priority_sample", "SensitivitySampling", "ImportanceResampling"]


def gumbel_topk(log_weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``k`` distinct positions without replacement, with probabilities proportional to ``exp(log_weights)``.

    The first position is drawn with probability ``w_i / sum(w)``, the next from the
    remaining ones renormalised, and so on (successive sampling); the returned positions
    are in the order they were drawn. Implemented as the Gumbel top-k trick: the ``k``
    largest of ``log_weights + Gumbel(0, 1)`` noise (Kool et al., ICML 2019). Rows with
    ``log_weights == -inf`` (zero weight) are never drawn.

    Parameters
    ----------
    log_weights
        1-D array of log-weights (``-inf`` allowed for zero weight; ``nan``/``+inf`` not).
    k
        Number of positions to draw; at most the number of rows with positive weight.
    rng
        NumPy Generator supplying the noise.

    Returns
    -------
    numpy.ndarray
        int64 positions, length ``k``, in draw order.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pos = gumbel_topk(np.array([0.0, -np.inf, 1.6, 0.7]), 3, rng)
    >>> sorted(pos.tolist())
    [0, 2, 3]
    """
    owner = "gumbel_topk"
    lw = np.asarray(log_weights, dtype=np.float64)
    if lw.ndim != 1:
        raise fail("log_weights", owner, "a 1-D array", lw)
    if np.any(np.isnan(lw)) or np.any(lw == np.inf):
        raise fail("log_weights", owner, "finite or -inf (no NaN, no +inf)", lw)
    n_pos = int(np.count_nonzero(lw > -np.inf))
    check_int(k, "k", owner, low=0, high=n_pos)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    keys = lw + rng.gumbel(size=lw.shape[0])
    # stable sort on -keys: exact ties (probability zero with continuous noise) go to the lower position
    order = np.argsort(-keys, kind="stable")[:k]
    return order.astype(np.int64)


def priority_sample(weights: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``k`` rows by priority sampling; return ``(positions, importance_weights)``.

    Row ``i`` gets priority ``weights[i] / u_i`` with ``u_i ~ U(0, 1]``; the ``k`` largest
    priorities are kept (largest first). With ``tau`` the ``(k+1)``-th largest priority
    (0 when ``k`` equals the number of positive weights), a kept row's importance weight
    is ``max(weights[i], tau) / weights[i]``, so ``sum_{i in S} iw_i * f_i`` is an
    unbiased estimate of ``sum_i f_i`` (Duffield, Lund & Thorup 2007).

    Examples
    --------
    >>> import numpy as np
    >>> pos, iw = priority_sample(np.array([1.0, 1.0, 1.0, 1.0]), 4, np.random.default_rng(0))
    >>> sorted(pos.tolist()), iw.tolist()
    ([0, 1, 2, 3], [1.0, 1.0, 1.0, 1.0])
    """
    owner = "priority_sample"
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise fail("weights", owner, "a 1-D array of finite non-negative numbers", w)
    n_pos = int(np.count_nonzero(w > 0))
    check_int(k, "k", owner, low=0, high=n_pos)
    u = 1.0 - rng.random(w.shape[0])  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        prio = np.where(w > 0, w / u, -np.inf)
    order = np.argsort(-prio, kind="stable")
    pos = order[:k].astype(np.int64)
    tau = float(prio[order[k]]) if k < n_pos else 0.0
    iw = np.maximum(w[pos], tau) / w[pos]
    return pos, iw


def _importance(table: Table, by: str, owner: str) -> np.ndarray:
    v = np.asarray(table.column(by), dtype=np.float64)
    if np.any(~np.isfinite(v)) or np.any(v < 0):
        raise InvalidParameterError(
            f"`{by}` of {owner} must hold finite non-negative importances; got min {np.nanmin(v)!r}."
        )
    return v


@register_selector("sensitivity")
class SensitivitySampling(BaseSelector):
    """Sample rows with probability growing with an importance score and return unbiased weights.

    The sampling probabilities are ``q_i = mix / n + (1 - mix) * s_i / sum(s)`` for the
    importance column ``s`` (``mix > 0`` is the "lightweight coreset" mixture of Bachem
    et al. 2018, which bounds every weight). Exactly ``k`` distinct rows are drawn by
    priority sampling (Duffield et al. 2007); ``Selection.weights`` holds the importance
    weights ``max(q_i, tau) / q_i`` scaled by ``k / n`` so they average about 1 (multiply by
    ``n / k`` for the unbiased estimate of a total).

    Parameters
    ----------
    by
        Column with non-negative importances (e.g. a loss, a gradient norm, an EL2N score).
    mix
        Weight of the uniform component, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"score.s": np.array([0.0, 1.0, 1.0, 8.0])})
    >>> s = SensitivitySampling(by="score.s").select(t, Budget(n=3), seed=0)
    >>> sorted(s.row_ids.tolist())
    [1, 2, 3]
    """

    name = "sensitivity"
    is_stochastic = True

    def __init__(self, by: str = "score", mix: float = 0.0) -> None:
        self.by = by
        self.mix = mix

    def required_columns(self) -> frozenset[str]:
        return frozenset({self.by})

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, None, np.ndarray]:
        owner = type(self).__name__
        mix = check_float(self.mix, "mix", owner, low=0.0, high=1.0)
        s = _importance(table, self.by, owner)
        n = table.n_rows
        total = float(s.sum())
        if total == 0.0 and mix == 0.0:
            raise InvalidParameterError(f"`{self.by}` of {owner} must have a positive sum when mix=0; got all zeros.")
        q = mix / n + (1.0 - mix) * (s / total if total > 0 else np.zeros(n))
        n_pos = int(np.count_nonzero(q > 0))
        if k > n_pos:
            raise fail("budget", owner, f"at most the {n_pos} rows with positive importance (or use mix > 0)", k)
        pos, iw = priority_sample(q, k, rng)
        return pos, None, iw * (k / n)

    @classmethod
    def make_example(cls) -> SensitivitySampling:
        return cls(by="score.example", mix=0.1)


@register_selector("importance_resampling")
class ImportanceResampling(BaseSelector):
    """Draw rows without replacement with probabilities proportional to importance weights (Gumbel top-k).

    Parameters
    ----------
    by
        Column of weights (``log=False``) or log-weights (``log=True``, as DSIR produces).
    log
        Whether ``by`` holds log-weights.
    temperature
        Sharpen (< 1) or flatten (> 1) the distribution: log-weights are divided by it.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table(columns={"score.w": np.array([0.0, 2.0, 1.0, 3.0])})
    >>> s = ImportanceResampling(by="score.w").select(t, Budget(n=3), seed=0)
    >>> sorted(s.row_ids.tolist())
    [1, 2, 3]
    """

    name = "importance_resampling"
    is_stochastic = True

    def __init__(self, by: str = "score", log: bool = False, temperature: float = 1.0) -> None:
        self.by = by
        self.log = log
        self.temperature = temperature

    def required_columns(self) -> frozenset[str]:
        return frozenset({self.by})

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        owner = type(self).__name__
        temp = check_float(self.temperature, "temperature", owner, low=0.0, low_open=True)
        check_choice(self.log, "log", owner, (True, False))
        v = np.asarray(table.column(self.by), dtype=np.float64)
        if self.log:
            if np.any(np.isnan(v)) or np.any(v == np.inf):
                raise fail(self.by, owner, "log-weights without NaN or +inf", v)
            lw = v
        else:
            v = _importance(table, self.by, owner)
            with np.errstate(divide="ignore"):
                lw = np.log(v)
        lw = lw / temp
        n_pos = int(np.count_nonzero(lw > -np.inf))
        if k > n_pos:
            raise fail("budget", owner, f"at most the {n_pos} rows with positive weight", k)
        pos = gumbel_topk(lw, k, rng)
        return pos, v[pos], None

    @classmethod
    def make_example(cls) -> ImportanceResampling:
        return cls(by="score.example")
