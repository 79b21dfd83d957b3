"""Metrics worked out from their definitions, apart from the library calls the code under test makes."""

from __future__ import annotations

from collections.abc import Sequence


def pairwise_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC-AUC from its definition: the share of (acceptable, unacceptable) pairs scored in the right order,
    ties counting half."""
    pos = [s for y, s in zip(labels, scores, strict=True) if y]
    neg = [s for y, s in zip(labels, scores, strict=True) if not y]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
