"""Signals: what models tell us about rows (out-of-fold probabilities, training runs, embeddings)."""

from thresher.signals.oof import out_of_fold_probs

__all__ = ["out_of_fold_probs"]
