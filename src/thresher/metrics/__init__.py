"""Set metrics: diversity, fidelity/coverage, drift tests."""

from thresher.metrics.base import BaseMetric, MetricResult

__all__ = ["BaseMetric", "MetricResult"]
