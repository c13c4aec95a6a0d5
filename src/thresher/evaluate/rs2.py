"""RS2: repeated random sampling, a fresh random subset every epoch.

Okanovic et al., "Repeated Random Sampling for Minimizing the Time-to-Accuracy of
Learning" (ICLR 2024) show that, at the same per-epoch budget, drawing a new random
subset of the training rows each epoch (without replacement across epochs until every
row has been used once) beats every static pruning method they tried. The arm trains
the same number of steps as a static subset of the same keep fraction, so it is a fair
baseline for any selector in the evaluation harness. It is a *fixed-compute* baseline, not
a subset: over its epochs it sees many more distinct rows than the keep fraction, so
the report labels it as such. Registered as the evaluation arm ``rs2`` (``thresher list``;
in a recipe or on the CLI name it like a selector).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_arm
from thresher._validation import check_float, check_int, fail
from thresher.data.table import Table

__all__ = ["rs2_schedule", "RS2Arm"]


def rs2_schedule(n: int, fraction: float, n_epochs: int, seed: Any = 0, *, replace: bool = False) -> list[np.ndarray]:
    """Return one array of row positions per epoch, each of ``round(fraction * n)`` rows.

    Without ``replace`` (RS2 w/o replacement, the paper's default) rows are taken from a
    random permutation in consecutive slices, and a new permutation is drawn once every
    row has been used, so each row is seen once before any is seen twice.

    Examples
    --------
    >>> s = rs2_schedule(10, 0.3, 4, seed=0)
    >>> [len(e) for e in s], len(np.unique(np.concatenate(s[:3])))
    ([3, 3, 3, 3], 9)
    """
    owner = "rs2_schedule"
    check_int(n, "n", owner, low=1)
    check_float(fraction, "fraction", owner, low=0.0, high=1.0, low_open=True)
    check_int(n_epochs, "n_epochs", owner, low=1)
    rng = np.random.default_rng(seed)
    k = max(1, int(round(fraction * n)))
    if replace:
        return [np.sort(rng.choice(n, size=k, replace=False)) for _ in range(n_epochs)]
    out: list[np.ndarray] = []
    pool = rng.permutation(n)
    at = 0
    for _ in range(n_epochs):
        if at + k <= n:
            out.append(np.sort(pool[at : at + k]))
            at += k
        else:
            rest = pool[at:]
            pool = rng.permutation(n)
            # take the remainder of the old permutation, then fill from the new one
            # without repeating a row within the epoch
            fill = pool[~np.isin(pool, rest)][: k - len(rest)]
            out.append(np.sort(np.concatenate([rest, fill])))
            pool = np.concatenate([fill, pool[~np.isin(pool, fill)]])
            at = len(fill)
    return out


@register_arm("rs2")
class RS2Arm:
    """Train a PyTorch reference model on a new random subset each epoch (fixed-compute baseline).

    Parameters
    ----------
    name
        Arm name in the evaluation records.
    replace
        Sample each epoch independently (RS2 with replacement) instead of cycling
        through a permutation.

    Examples
    --------
    >>> from thresher.data.datasets import load_digits, split_table
    >>> from thresher.evaluate.torch_models import MLPModel
    >>> tr, te = split_table(load_digits())
    >>> out = RS2Arm().run(tr, te, 0.5, 0, MLPModel(epochs=6, lr=3e-3))
    >>> out["n_train"] == round(0.5 * tr.n_rows), bool((out["proba"].argmax(1) == te.labels).mean() > 0.8)
    (True, True)
    """

    is_fixed_compute = True

    def __init__(self, name: str = "rs2", replace: bool = False) -> None:
        self.name = name
        self.replace = replace

    @classmethod
    def make_example(cls) -> RS2Arm:
        return cls()

    def run(self, train: Table, test: Table, fraction: float, seed: int, model: Any) -> dict[str, Any]:
        """Train ``model`` for its ``epochs`` with per-epoch random subsets; return test probabilities."""
        owner = "RS2Arm"
        if not hasattr(model, "fit_score_epochs") or not hasattr(model, "epochs"):
            raise fail("model", owner, "a PyTorch reference model (e.g. 'mlp' or 'cnn')", getattr(model, "name", model))
        train.require(["embeddings", "label"], owner)
        sched = rs2_schedule(train.n_rows, fraction, int(model.epochs), np.random.SeedSequence([int(seed), 2]), replace=self.replace)
        from thresher.evaluate.harness import fit_arm

        return {**fit_arm(model, train, test, None, seed, epoch_indices=sched), "n_train": len(sched[0])}
