"""Precision-recall curve, cutoffs per recall level and per minimum precision, metrics and the PNG plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.models.calibration import (
    at_cutoff,
    cutoff_for_precision,
    cutoff_for_recall,
    metrics,
    plot_pr_curve,
    pr_curve,
    recall_levels,
    thin_curve,
)

# ten triples, scores high to low; 1 = acceptable. Five positives.
LABELS = [1, 1, 0, 1, 1, 0, 0, 1, 0, 0]
SCORES = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]


def test_curve_runs_from_the_highest_cutoff_and_counts_precision_and_recall() -> None:
    points = pr_curve(LABELS, SCORES)
    assert points[0] == (0.95, 1.0, 0.2)
    # at 0.6 the top five are kept: four of them acceptable, four of five positives found
    assert (0.6, 0.8, 0.8) in points
    assert points[-1] == (0.1, 0.5, 1.0)
    cutoffs = [p[0] for p in points]
    assert cutoffs == sorted(cutoffs, reverse=True)


def test_cutoff_for_recall_is_the_highest_cutoff_reaching_the_level() -> None:
    points = pr_curve(LABELS, SCORES)
    assert cutoff_for_recall(points, 0.8) == (0.6, 0.8, 0.8)
    assert cutoff_for_recall(points, 0.5) == (0.7, 0.75, 0.6)
    assert cutoff_for_recall(points, 0.9) == (0.3, 5 / 8, 1.0)
    levels = recall_levels(points)
    assert list(levels) == ["0.5", "0.6", "0.7", "0.8", "0.9"]
    # a higher recall level never needs a higher cutoff
    cuts = [v["cutoff"] for v in levels.values()]
    assert cuts == sorted(cuts, reverse=True)
    for key, row in levels.items():
        assert row["recall"] >= float(key)
        assert at_cutoff(LABELS, SCORES, row["cutoff"])["precision"] == pytest.approx(row["precision"])


def test_cutoff_for_precision_takes_the_most_recall_that_keeps_the_precision() -> None:
    points = pr_curve(LABELS, SCORES)
    assert cutoff_for_precision(points, 0.8) == (0.6, 0.8, 0.8)
    assert cutoff_for_precision(points, 1.0) == (0.9, 1.0, 0.4)
    with pytest.raises(InputError, match="precision"):
        cutoff_for_precision(pr_curve([0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2]), 0.99)


def test_metrics_and_bad_inputs() -> None:
    m = metrics(LABELS, SCORES)
    assert m["n"] == 10 and m["positives"] == 5
    # 25 positive-negative pairs, 20 ordered correctly (5 + 5 + 4 + 4 + 2)
    assert m["roc_auc"] == pytest.approx(20 / 25)
    # known rankings: every acceptable one above every unacceptable one, the reverse, and all tied
    assert metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])["roc_auc"] == 1.0
    assert metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])["roc_auc"] == 0.0
    assert metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])["roc_auc"] == 0.5
    with pytest.raises(InputError, match="both"):
        metrics([1, 1], [0.2, 0.3])
    with pytest.raises(InputError, match="labels but"):
        pr_curve([1, 0], [0.3])
    with pytest.raises(InputError, match="recall level"):
        cutoff_for_recall(pr_curve(LABELS, SCORES), 1.5)


def test_thin_curve_keeps_both_ends() -> None:
    points = [(1 - i / 1000, 1.0, i / 1000) for i in range(1000)]
    thin = thin_curve(points, keep=50)
    assert len(thin) == 50
    assert thin[0] == list(points[0]) and thin[-1] == list(points[-1])


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_pr_curve(LABELS, SCORES, tmp_path / "pr" / "curve.png", cutoffs={"r0.8": 0.6})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
