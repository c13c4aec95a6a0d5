"""thresher: score, value and select training data.

Public API re-exports only; see the README for a tour.
"""

from __future__ import annotations

from thresher._registry import METRICS, SCORERS, SELECTORS
from thresher._threads import get_threads, set_threads, threads
from thresher._version import __version__
from thresher.data import Table, from_numpy, from_pandas, load_dataset, read_table, write_table
from thresher.errors import ThresherError
from thresher.execute import LocalExecutor, get_executor
from thresher.metrics import MetricResult
from thresher.select import Budget, Selection
from thresher.signals import out_of_fold_probs
from thresher.store import RunDir

__all__ = [
    "__version__",
    "METRICS",
    "SCORERS",
    "SELECTORS",
    "Budget",
    "LocalExecutor",
    "MetricResult",
    "RunDir",
    "Selection",
    "Table",
    "ThresherError",
    "from_numpy",
    "from_pandas",
    "get_executor",
    "get_threads",
    "load_dataset",
    "out_of_fold_probs",
    "read_table",
    "set_threads",
    "threads",
    "write_table",
]
