"""The run directory (score store): atomic writes, result keys, a writers' lock, manifests, resume."""

from thresher.store.atomic import atomic_path, write_json, write_text
from thresher.store.keys import component_key, fingerprint, inputs_fingerprint, metric_slot, result_key, selection_key
from thresher.store.lock import run_lock
from thresher.store.rundir import RunDir

__all__ = [
    "RunDir",
    "atomic_path",
    "component_key",
    "fingerprint",
    "inputs_fingerprint",
    "metric_slot",
    "result_key",
    "run_lock",
    "selection_key",
    "write_json",
    "write_text",
]
