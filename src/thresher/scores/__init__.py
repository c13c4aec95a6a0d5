"""Per-example scores, one module per family; each scorer writes ``score.<name>``."""

from thresher.scores.base import BaseScorer

__all__ = ["BaseScorer"]
