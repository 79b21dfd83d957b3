"""Turning critic scores on labelled triples into a precision-recall curve, cutoffs per recall level, and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skd.core.errors import InputError

#: The paper's filtering levels: keep the triples above the cutoff that retains this share of the good ones.
RECALL_LEVELS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Points kept of the curve saved with a model (enough for `min_precision` look-ups, small in JSON).
CURVE_POINTS = 200


def _arrays(labels: Sequence[int | bool], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise InputError(f"{len(y)} labels but {len(s)} scores")
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise InputError(
            f"calibration needs both acceptable and unacceptable labels (got {positives} acceptable of {len(y)})"
        )
    return y, s


def pr_curve(labels: Sequence[int | bool], scores: Sequence[float]) -> list[tuple[float, float, float]]:
    """(cutoff, precision, recall) for every distinct score, from the highest cutoff to the lowest.

    A triple is accepted when its score is >= the cutoff, so lowering the cutoff only raises recall.
    """
    from sklearn.metrics import precision_recall_curve

    y, s = _arrays(labels, scores)
    precision, recall, thresholds = precision_recall_curve(y, s)
    # sklearn orders thresholds ascending and appends a (precision 1, recall 0) point with no threshold
    points = [(float(t), float(p), float(r)) for t, p, r in zip(thresholds, precision[:-1], recall[:-1], strict=True)]
    return points[::-1]


def thin_curve(points: list[tuple[float, float, float]], keep: int = CURVE_POINTS) -> list[list[float]]:
    """At most `keep` points of a curve, evenly spread in recall, always keeping the two ends."""
    if len(points) <= keep:
        return [list(p) for p in points]
    idx = sorted(set(np.linspace(0, len(points) - 1, keep).round().astype(int).tolist()))
    return [list(points[i]) for i in idx]


def cutoff_for_recall(points: Sequence[Sequence[float]], recall_level: float) -> tuple[float, float, float]:
    """The highest cutoff whose recall reaches `recall_level`: (cutoff, precision, recall)."""
    if not 0.0 < recall_level <= 1.0:
        raise InputError(f"recall level must be in (0, 1], got {recall_level}")
    for cutoff, precision, recall in points:  # highest cutoff first
        if recall >= recall_level - 1e-12:
            return float(cutoff), float(precision), float(recall)
    cutoff, precision, recall = points[-1]
    return float(cutoff), float(precision), float(recall)


def cutoff_for_precision(points: Sequence[Sequence[float]], min_precision: float) -> tuple[float, float, float]:
    """The lowest cutoff (so the most recall) whose precision is at least `min_precision`."""
    if not 0.0 < min_precision <= 1.0:
        raise InputError(f"minimum precision must be in (0, 1], got {min_precision}")
    best: tuple[float, float, float] | None = None
    for cutoff, precision, recall in points:
        if precision >= min_precision - 1e-12 and (best is None or recall > best[2]):
            best = (float(cutoff), float(precision), float(recall))
    if best is None:
        top = max(p[1] for p in points)
        raise InputError(f"no cutoff reaches precision {min_precision}; the best on the validation split is {top:.3f}")
    return best


def recall_levels(
    points: Sequence[Sequence[float]], levels: Sequence[float] = RECALL_LEVELS
) -> dict[str, dict[str, float]]:
    """For each recall level, the cutoff that reaches it and the precision there (keys like "0.8")."""
    out: dict[str, dict[str, float]] = {}
    for level in levels:
        cutoff, precision, recall = cutoff_for_recall(points, level)
        out[level_key(level)] = {"cutoff": cutoff, "precision": precision, "recall": recall}
    return out


def level_key(level: float) -> str:
    """The JSON key of a recall level: 0.8 -> "0.8"."""
    return f"{float(level):g}"


def metrics(labels: Sequence[int | bool], scores: Sequence[float]) -> dict[str, float]:
    """ROC-AUC, average precision and counts of a scored, labelled set."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = _arrays(labels, scores)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
        "n": len(y),
        "positives": int(y.sum()),
    }


def at_cutoff(labels: Sequence[int | bool], scores: Sequence[float], cutoff: float) -> dict[str, float]:
    """Precision, recall and accepted share when keeping the triples scored >= `cutoff`."""
    y, s = _arrays(labels, scores)
    keep = s >= cutoff
    tp = int((keep & (y == 1)).sum())
    accepted = int(keep.sum())
    return {
        "cutoff": float(cutoff),
        "precision": tp / accepted if accepted else 1.0,
        "recall": tp / int(y.sum()),
        "accepted": accepted / len(y),
    }


def plot_pr_curve(
    labels: Sequence[int | bool],
    scores: Sequence[float],
    path: Path,
    cutoffs: dict[str, float] | None = None,
    title: str = "critic precision-recall",
) -> Path:
    """Draw the precision-recall curve (and the given cutoffs as points) to a PNG file."""
    import matplotlib

    matplotlib.use("Agg")  # no display here or on servers
    import matplotlib.pyplot as plt

    points = pr_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.plot([p[2] for p in points], [p[1] for p in points], lw=1.5, label="critic")
    base = float(np.mean(np.asarray(labels, dtype=np.float64)))
    ax.axhline(base, color="grey", ls="--", lw=0.8, label=f"no filter ({base:.2f})")
    for name, cutoff in (cutoffs or {}).items():
        m = at_cutoff(labels, scores, cutoff)
        ax.plot([m["recall"]], [m["precision"]], "o", ms=4)
        ax.annotate(name, (m["recall"], m["precision"]), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def as_records(rows: dict[str, Any]) -> list[dict[str, Any]]:
    """A levels dict as a list of rows (level first), for tables."""
    return [{"level": k, **v} for k, v in rows.items()]
