"""Grounding metrics (spec 5.2), torch-free: the engine's evaluation and the app's grounding benchmark
score boxes the same way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def iou_inclusive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of x, y, w, h boxes with the REFER toolkit's inclusive '+1 pixel' convention (spec 5.2)."""
    ax1, ay1 = a[:, 0] + a[:, 2] - 1, a[:, 1] + a[:, 3] - 1
    bx1, by1 = b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(a[:, 0], b[:, 0]) + 1, 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(a[:, 1], b[:, 1]) + 1, 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return inter / union


# Referent size buckets (share of the image area) for the grounding breakdown: small referents are
# where a coarse patch grid fails first, so the headline accuracy alone hides where the errors are.
AREA_BUCKETS = ((0.0, 0.05, "<5%"), (0.05, 0.15, "5-15%"), (0.15, float("inf"), ">=15%"))


def accuracy_by_area(iou: np.ndarray, area_share: np.ndarray) -> dict[str, dict[str, float]]:
    """Accuracy (%) at IoU >= 0.5 and count per referent-size bucket; empty buckets are left out."""
    out = {}
    for lo, hi, name in AREA_BUCKETS:
        sel = (area_share >= lo) & (area_share < hi)
        if sel.any():
            out[name] = {"grounding_acc": 100.0 * float(np.mean(iou[sel] >= 0.5)), "count": int(sel.sum())}
    return out


def grounding_metrics(
    preds: Sequence[Sequence[float]], truths: Sequence[Sequence[float]], area_share: Sequence[float]
) -> dict:
    """Accuracy (%) at IoU >= 0.5, mean IoU, count and accuracy by referent size of x, y, w, h boxes."""
    iou = iou_inclusive(np.array(preds, dtype=np.float64), np.array(truths, dtype=np.float64))
    return {
        "grounding_acc": 100.0 * float(np.mean(iou >= 0.5)),
        "mean_iou": float(iou.mean()),
        "count": len(truths),
        "by_referent_area": accuracy_by_area(iou, np.array(area_share)),
    }
