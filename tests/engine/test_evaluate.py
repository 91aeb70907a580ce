"""Retrieval metrics and grounding IoU against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluate import accuracy_by_area, iou_inclusive, recall_metrics


def test_recall_by_hand() -> None:
    # 2 images, 3 captions: captions 0, 1 belong to image 0; caption 2 to image 1.
    img2txt = [[0, 1], [2]]
    txt2img = np.array([0, 0, 1])
    i2t = np.array(
        [[0.1, 0.9, 0.5], [0.8, 0.2, 0.7]]
    )  # image 0: best is caption 1 (rank 0); image 1: caption 2 at rank 1
    t2i = np.array(
        [[0.2, 0.9], [0.9, 0.1], [0.3, 0.4]]
    )  # caption 0 -> image 0 at rank 1; 1 -> rank 0; 2 -> rank 0
    m = recall_metrics(i2t, t2i, img2txt, txt2img)
    assert m["txt_r1"] == pytest.approx(50.0) and m["txt_r5"] == pytest.approx(100.0)
    assert m["img_r1"] == pytest.approx(200 / 3) and m["img_r5"] == pytest.approx(100.0)
    assert m["r_mean"] == pytest.approx((50 + 100 + 100 + 200 / 3 + 100 + 100) / 6)


def test_iou_uses_the_inclusive_pixel_convention() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0]])
    # inclusive: intersection columns 5..9 -> 5 x 10 = 50, union 150
    assert iou_inclusive(a, b)[0] == pytest.approx(50 / 150)
    assert iou_inclusive(a, a)[0] == pytest.approx(1.0)


def test_grounding_accuracy_is_broken_down_by_referent_size() -> None:
    iou = np.array([0.9, 0.2, 0.6, 0.7, 0.1])
    share = np.array([0.03, 0.04, 0.10, 0.5, 0.5])
    got = accuracy_by_area(iou, share)
    assert got == {
        "<5%": {"grounding_acc": 50.0, "count": 2},
        "5-15%": {"grounding_acc": 100.0, "count": 1},
        ">=15%": {"grounding_acc": 50.0, "count": 2},
    }
    assert "<5%" not in accuracy_by_area(iou[2:], share[2:])
