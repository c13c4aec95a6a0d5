"""EL2N and GraNd from short training runs (Paul et al., "Deep Learning on a Data Diet", NeurIPS 2021).

torch is imported inside the functions (``pip install thresher[torch]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed, seed_int
from thresher._validation import check_int
from thresher.data.table import Table
from thresher.execute.base import Executor
from thresher.signals.gradients import per_example_grad_norms
from thresher.signals.oof import SignalResult, label_codes

__all__ = ["data_diet_signals", "DataDiet"]


@follows_threads(torch=True)
def data_diet_signals(
    X: Any,
    y: Any,
    *,
    n_seeds: int = 3,
    epochs: int = 2,
    model: str = "mlp",
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: Seed = 0,
    last_layer: bool = False,
    image_shape: Any = None,
    n_classes: int | None = None,
) -> dict[str, np.ndarray]:
    """Train ``n_seeds`` short runs and return EL2N and GraNd at their last epoch.

    Paul et al., "Deep Learning on a Data Diet" (NeurIPS 2021): both scores are taken
    early in training (the paper: epoch 20 of 200) and averaged over independent
    initialisations; each column here is one seed. EL2N uses the model's softmax
    output, GraNd the norm of the per-example loss gradient (vmap).

    Returns ``{"diet.el2n": (n, n_seeds), "diet.grand": (n, n_seeds)}``.
    """
    from thresher.evaluate.torch_models import predict_logits, train_classifier

    owner = "data_diet_signals"
    check_int(n_seeds, "n_seeds", owner, low=1)
    yn = np.asarray(y, dtype=np.int64)
    C = int(yn.max()) + 1 if n_classes is None else int(n_classes)
    seeds = np.random.SeedSequence(seed_int(seed) or 0).generate_state(n_seeds)
    el2n = np.empty((len(yn), n_seeds))
    grand = np.empty((len(yn), n_seeds))
    for j, s in enumerate(seeds.tolist()):
        net = train_classifier(
            X, yn, model=model, epochs=epochs, batch_size=batch_size, lr=lr, seed=int(s), n_classes=C,
            image_shape=image_shape,
        )
        z = predict_logits(net, X)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yn)), yn] -= 1.0
        el2n[:, j] = np.linalg.norm(p, axis=1)
        grand[:, j] = per_example_grad_norms(net, X, yn, last_layer=last_layer)
    return {"diet.el2n": el2n, "diet.grand": grand}


@register_signal("data_diet")
class DataDiet:
    """Compute EL2N and GraNd matrices (``diet.el2n``, ``diet.grand``) from short training runs.

    Parameters
    ----------
    n_seeds, epochs
        Number of independent runs and the (early) epoch at which scores are taken.
    model
        ``"mlp"`` or ``"cnn"``.
    last_layer
        GraNd on last-layer gradients only.
    """

    name = "data_diet"
    produces = ("diet.el2n", "diet.grand")
    requires = frozenset({"embeddings", "label"})

    def __init__(self, n_seeds: int = 3, epochs: int = 2, model: str = "mlp", last_layer: bool = False) -> None:
        self.n_seeds = n_seeds
        self.epochs = epochs
        self.model = model
        self.last_layer = last_layer

    @follows_threads(torch=True)
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Train the runs on every row of ``table`` and return the two matrices."""
        owner = "DataDiet"
        table.check_not_empty(owner)
        table.require(self.requires, owner)
        codes, classes = label_codes(table, owner)
        mats = data_diet_signals(
            table.embeddings, codes, n_seeds=self.n_seeds, epochs=self.epochs, model=self.model, seed=seed,
            last_layer=self.last_layer, image_shape=table.meta.get("image_shape"), n_classes=len(classes),
        )
        return SignalResult(mats, {"classes": classes.tolist()})
