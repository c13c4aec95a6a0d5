"""Evaluation: train on each selection against random at the same budget, over seeds."""

from thresher.evaluate.harness import Arm, FullArm, SelectorArm, evaluate, summarize
from thresher.evaluate.models import ReferenceModel, get_model

__all__ = ["Arm", "FullArm", "ReferenceModel", "SelectorArm", "evaluate", "get_model", "summarize"]
