"""Exceptions raised by thresher.

Every exception subclasses :class:`ThresherError` and the builtin it refines, so callers
can catch either. Messages share one shape: what was expected, then what was given.
"""

from __future__ import annotations

__all__ = [
    "ThresherError",
    "InvalidParameterError",
    "DataError",
    "LengthMismatchError",
    "DuplicateIdError",
    "NonFiniteError",
    "EmptyTableError",
    "MissingColumnError",
    "UnknownNameError",
    "MissingDependencyError",
    "DatasetUnavailableError",
    "RunDirError",
    "RunDirLockedError",
    "ShardError",
]


class ThresherError(Exception):
    """Base class of every error thresher raises on purpose."""


class InvalidParameterError(ThresherError, ValueError):
    """A parameter has a value outside what the callee accepts."""


class DataError(ThresherError, ValueError):
    """The data handed in cannot be used as it is."""


class LengthMismatchError(DataError):
    """Columns of one table have different numbers of rows."""


class DuplicateIdError(DataError):
    """Row ids are not unique."""


class NonFiniteError(DataError):
    """A numeric array holds NaN or infinite values."""


class EmptyTableError(DataError):
    """A table has no rows (or a selection made one empty)."""


class MissingColumnError(ThresherError, KeyError):
    """A column a step needs is absent from the table.

    ``KeyError`` quotes its argument when printed; ``__str__`` is overridden so the
    message reads like every other thresher error.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownNameError(ThresherError, KeyError):
    """A registry or column name is not known; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(ThresherError, ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


class DatasetUnavailableError(ThresherError, FileNotFoundError):
    """A built-in dataset's files are not on this machine; the message says how to get them."""


class RunDirError(ThresherError, RuntimeError):
    """A run directory is inconsistent with the run asked for (e.g. another input)."""


class RunDirLockedError(RunDirError):
    """Another process is writing to the run directory (the message names it)."""


class ShardError(ThresherError, RuntimeError):
    """Work on one shard failed; the message names the shard."""
