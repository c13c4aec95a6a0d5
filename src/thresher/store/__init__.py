"""The run directory (score store): atomic writes, manifests, resume."""

from thresher.store.atomic import atomic_path, write_json, write_text
from thresher.store.rundir import RunDir, fingerprint, selection_key

__all__ = ["RunDir", "atomic_path", "fingerprint", "selection_key", "write_json", "write_text"]
