"""Kernels between rows: linear, cosine, RBF, or any callable ``k(A, B)``.

Shared by the set metrics that compare rows through a kernel (Vendi, intra-set
diversity).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

import numpy as np

from thresher.errors import DataError

__all__ = ["Kernel", "KernelFn", "KERNELS", "unit_rows", "cross_kernel", "kernel_matrix", "kernel_name"]

KernelFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Kernel = Union[str, KernelFn]
KERNELS = ("linear", "cosine", "rbf")


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Return the rows of ``X`` scaled to unit length (zero rows stay zero).

    Examples
    --------
    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def _rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    a = np.einsum("ij,ij->i", A, A)
    b = np.einsum("ij,ij->i", B, B)
    d = np.maximum(a[:, None] - 2.0 * (A @ B.T) + b[None, :], 0.0)
    return np.exp(-gamma * d)


def cross_kernel(A: np.ndarray, B: np.ndarray, kernel: Kernel, gamma: float | None) -> np.ndarray:
    """Return k(A, B) as an (len(A), len(B)) matrix for a named or callable kernel."""
    if callable(kernel):
        K = np.asarray(kernel(A, B), dtype=np.float64)
        if K.shape != (A.shape[0], B.shape[0]):
            raise DataError(
                f"`kernel` callable must return an array of shape {(A.shape[0], B.shape[0])}; got {K.shape}."
            )
        return K
    if kernel == "linear":
        return A @ B.T
    if kernel == "cosine":
        return unit_rows(A) @ unit_rows(B).T
    return _rbf(A, B, 1.0 / A.shape[1] if gamma is None else float(gamma))


def kernel_matrix(X: np.ndarray, kernel: Kernel = "cosine", gamma: float | None = None) -> np.ndarray:
    """Return the n x n kernel matrix of the rows of ``X``.

    ``kernel`` is ``"linear"``, ``"cosine"``, ``"rbf"`` (``exp(-gamma |x - y|^2)``, gamma
    default 1/d) or a callable ``k(A, B) -> (len(A), len(B))`` array.

    Examples
    --------
    >>> import numpy as np
    >>> kernel_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]), "linear").tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    >>> kernel_matrix(np.array([[0.0], [1.0]]), lambda a, b: np.exp(-abs(a - b.T))).round(4).tolist()
    [[1.0, 0.3679], [0.3679, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    return cross_kernel(X, X, kernel, gamma)



def kernel_name(kernel: Kernel) -> str:
    """Return a kernel's name for result parameters: the string itself, or the callable's ``__name__``.

    Examples
    --------
    >>> kernel_name("rbf"), kernel_name(lambda a, b: a @ b.T)
    ('rbf', '<lambda>')
    """
    return kernel if isinstance(kernel, str) else getattr(kernel, "__name__", "callable")
