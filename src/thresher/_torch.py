"""Import PyTorch on demand, with the install hint when it is missing (the layer below every torch user)."""

from __future__ import annotations

from typing import Any

from thresher.errors import MissingDependencyError

__all__ = ["import_torch"]


def import_torch() -> Any:
    """Return the ``torch`` module or raise MissingDependencyError with the install hint.

    Examples
    --------
    >>> import_torch().__name__
    'torch'
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed in the dev environment
        raise MissingDependencyError(
            "PyTorch is required for training dynamics and gradient scores; install it with "
            "`pip install thresher[torch]`."
        ) from None
    return torch
