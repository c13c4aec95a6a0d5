"""Selectors: turn scores and geometry into a subset under a budget."""

from thresher.select.base import BaseSelector, Budget, Selection

__all__ = ["BaseSelector", "Budget", "Selection"]
