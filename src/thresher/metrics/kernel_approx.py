"""Low-rank kernel features accumulated shard by shard: Nystrom and random Fourier features.

* Nystrom (Williams & Seeger, "Using the Nystrom Method to Speed Up Kernel Machines",
  NIPS 2001): ``r`` landmark rows give features Phi = K_nL K_LL^{-1/2} with
  Phi Phi^T ~= K, for any kernel.
* Random Fourier features (Rahimi & Recht, "Random Features for Large-Scale Kernel
  Machines", NIPS 2007) for the RBF kernel: z(x) = sqrt(2/D) cos(W x + b).

The non-zero spectrum of Phi Phi^T equals that of the r x r matrix Phi^T Phi, which
:func:`feature_gram` sums over shards of an :class:`~thresher.execute.Executor`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.metrics.kernels import Kernel, cross_kernel
from thresher.metrics.row_sources import read_rows, take_rows

__all__ = ["feature_gram", "gram_spectrum", "approx_feature_map"]


def feature_gram(
    X: Any,
    feature_map: Callable[[np.ndarray], np.ndarray],
    n: int,
    owner: str,
    executor: Executor | None,
    shard_size: int,
) -> tuple[np.ndarray, float]:
    """Return (sum of Phi_b^T Phi_b over shards, sum of squared feature norms)."""

    def run(shard: Shard) -> tuple[np.ndarray, float]:
        F = feature_map(read_rows(X, shard.start, shard.stop, owner))
        return F.T @ F, float(np.einsum("ij,ij->", F, F))

    shards = make_shards(n, shard_size=shard_size)
    G: np.ndarray | None = None
    diag = 0.0
    for g, s in (executor or LocalExecutor()).map(run, shards):  # summed in shard order: executor-independent
        G = g if G is None else G + g
        diag += s
    assert G is not None
    return G, diag


def gram_spectrum(G: np.ndarray) -> np.ndarray:
    """Return the eigenvalues of a symmetrised Gram matrix, clipped at zero.

    Examples
    --------
    >>> gram_spectrum(np.array([[2.0, 0.0], [0.0, -1e-12]])).tolist()
    [0.0, 2.0]
    """
    return np.clip(np.linalg.eigvalsh((G + G.T) / 2.0), 0.0, None)


def approx_feature_map(
    X: Any, n: int, d: int, route: str, kernel: Kernel, gamma: float | None, rank: int, rng: np.random.Generator, owner: str
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """Return the Nystrom (``route="nystrom"``) or RFF (``"rff"``) feature map of rank ``rank``, with its facts.

    Nystrom landmarks are ``rank`` rows drawn from ``rng`` (for any kernel); RFF draws
    ``rank`` random frequencies for the RBF kernel ``exp(-gamma |x - y|^2)`` (gamma
    default ``1/d``).
    """
    g = 1.0 / d if gamma is None else float(gamma)
    if route == "rff":
        # k(x, y) = exp(-g |x - y|^2) = E[2 cos(w.x + b) cos(w.y + b)], w ~ N(0, 2g I), b ~ U(0, 2 pi)
        W = rng.normal(scale=np.sqrt(2.0 * g), size=(d, rank))
        b = rng.uniform(0.0, 2.0 * np.pi, size=rank)
        scale = np.sqrt(2.0 / rank)

        def rff(B: np.ndarray) -> np.ndarray:
            return scale * np.cos(B @ W + b)

        return rff, {"n_features": rank}
    # Nystrom: landmarks are the first r rows of one random permutation, so the landmark
    # sets of increasing ranks are nested (the approximation can only improve with r).
    r = min(rank, n)
    idx = np.sort(rng.permutation(n)[:r])
    L = take_rows(X, idx, owner)
    K_LL = cross_kernel(L, L, kernel, g)
    w, V = np.linalg.eigh((K_LL + K_LL.T) / 2.0)
    keep = w > 1e-10 * max(float(w.max()), 1e-300)
    inv_sqrt = V[:, keep] / np.sqrt(w[keep])  # K_LL^{-1/2} restricted to its numerical range

    def nystrom(B: np.ndarray) -> np.ndarray:
        return cross_kernel(B, L, kernel, g) @ inv_sqrt

    return nystrom, {"n_landmarks": int(r), "landmark_rank": int(keep.sum())}

