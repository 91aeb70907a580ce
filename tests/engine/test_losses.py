"""Each loss against a small hand-computed example."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from batches import region_batch

from engine.data.masking import MaskingGenerator
from engine.losses import box_losses, generalized_iou, itc_loss, sample_hard_negatives
from engine.model.factory import create_model


def test_itc_two_pairs_by_hand() -> None:
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    temp = torch.tensor(0.5)
    # logits = img @ txt.T / 0.5 = [[2, 1.2], [0, 1.6]]
    i2t = (
        -(
            math.log(math.exp(2) / (math.exp(2) + math.exp(1.2)))
            + math.log(math.exp(1.6) / (1 + math.exp(1.6)))
        )
        / 2
    )
    # columns: [2, 0] for text 0, [1.2, 1.6] for text 1
    t2i = (
        -(
            math.log(math.exp(2) / (math.exp(2) + 1))
            + math.log(math.exp(1.6) / (math.exp(1.2) + math.exp(1.6)))
        )
        / 2
    )
    assert itc_loss(img, txt, temp).item() == pytest.approx((i2t + t2i) / 2, rel=1e-6)


def test_itc_multi_positive_targets_by_identity() -> None:
    img = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    idx = torch.tensor([7, 7, 9])
    temp = torch.tensor(1.0)
    # rows 0 and 1: logits [1, 1, 0], targets [.5, .5, 0]; row 2: logits [0, 0, 1], target [0, 0, 1]
    row01 = -math.log(math.e / (2 * math.e + 1))
    row2 = -math.log(math.e / (2 + math.e))
    expected = (2 * row01 + row2) / 3  # the matrix is symmetric: both directions are equal
    assert itc_loss(img, txt, temp, idx).item() == pytest.approx(expected, rel=1e-6)


def _soft_ce(logits: list[list[float]], targets: list[list[float]]) -> float:
    total = 0.0
    for row, target in zip(logits, targets, strict=True):
        norm = math.log(sum(math.exp(v) for v in row))
        total -= sum(t * (v - norm) for v, t in zip(row, target, strict=True))
    return total / len(logits)


def test_itc_multi_positive_on_unequal_logits() -> None:
    feats = [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]
    txt = [[0.8, 0.6], [1.0, 0.0], [0.0, 1.0]]
    logits = [[sum(a * b for a, b in zip(i, t, strict=True)) / 0.5 for t in txt] for i in feats]
    cols = [list(c) for c in zip(*logits, strict=True)]
    soft = [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]]
    hard = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    temp = torch.tensor(0.5)
    with_idx = itc_loss(torch.tensor(feats), torch.tensor(txt), temp, torch.tensor([3, 3, 4]))
    without = itc_loss(torch.tensor(feats), torch.tensor(txt), temp)
    assert with_idx.item() == pytest.approx((_soft_ce(logits, soft) + _soft_ce(cols, soft)) / 2, rel=1e-6)
    assert without.item() == pytest.approx((_soft_ce(logits, hard) + _soft_ce(cols, hard)) / 2, rel=1e-6)


def test_hard_negatives_never_pick_a_positive_and_prefer_similar_items() -> None:
    sim = torch.tensor(
        [[5.0, 4.0, -5.0, -5.0], [4.0, 5.0, -5.0, -5.0], [0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 5.0]]
    )
    positives = torch.eye(4, dtype=torch.bool)
    positives[0, 1] = positives[1, 0] = False
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_hard_negatives(sim, positives, g) for _ in range(300)])
    assert not (draws == torch.arange(4)).any(), "the diagonal is never drawn"
    assert (draws[:, 0] == 1).float().mean() > 0.9, "the most similar non-positive dominates"


def test_hard_negative_fallback_when_every_item_is_positive() -> None:
    sim = torch.zeros(3, 3)
    draws = sample_hard_negatives(sim, torch.ones(3, 3, dtype=torch.bool))
    assert (draws != torch.arange(3)).all()


def test_box_loss_by_hand() -> None:
    pred = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]])
    target = torch.tensor([[0.6, 0.5, 0.2, 0.2], [0.9, 0.9, 0.1, 0.1]])
    valid = torch.tensor([True, False])
    out = box_losses(pred, target, valid)
    assert out["box_l1_loss"].item() == pytest.approx(0.1)
    # boxes [0.4,0.4,0.6,0.6] and [0.5,0.4,0.7,0.6]: inter 0.02, union 0.06, hull 0.06 -> GIoU 1/3
    assert out["box_giou_loss"].item() == pytest.approx(1 - 1 / 3, rel=1e-5)


def test_box_giou_weight_scales_only_the_giou_term() -> None:
    torch.manual_seed(0)
    model = create_model("test-tiny").eval()
    batch = region_batch(model.cfg)
    off = {"itc": 0.0, "itm": 0.0, "mlm": 0.0}
    with torch.no_grad():
        xvlm = model(batch, {**off, "box": 1.0})
        l1_only = model(batch, {**off, "box": 1.0, "box_giou": 0.0})
        scaled = model(batch, {**off, "box": 2.0, "box_giou": 0.25})
    assert xvlm["box_giou_loss"].item() > 0
    assert l1_only["box_giou_loss"].item() == 0.0
    assert l1_only["box_l1_loss"].item() == pytest.approx(xvlm["box_l1_loss"].item())
    assert scaled["box_l1_loss"].item() == pytest.approx(2 * xvlm["box_l1_loss"].item())
    assert scaled["box_giou_loss"].item() == pytest.approx(0.5 * xvlm["box_giou_loss"].item())


def test_giou_of_disjoint_boxes_is_negative() -> None:
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0, 3.0, 1.0]])
    # iou 0, union 2, hull 3 -> -1/3
    assert generalized_iou(a, b).item() == pytest.approx(-1 / 3)


def test_masking_counts_spans_and_replacements() -> None:
    gen = MaskingGenerator(vocab_size=30522, mask_prob=0.25, max_masks=8)
    pieces = ["a", "small", "dog", "un", "##bel", "##iev", "##able", "car", "on", "the", "beach"]
    ids = [101, *range(2000, 2000 + len(pieces))]
    rng = np.random.default_rng(0)
    replaced = kept = 0
    for _ in range(400):
        out = gen(ids, pieces, rng, width=16)
        chosen = [int(p) for p in out.positions if p > 0]
        assert len(chosen) == min(8, max(1, round(12 * 0.25))) == 3
        assert 0 not in chosen
        assert list(out.labels[: len(chosen)]) == [ids[p] for p in chosen]
        assert (out.labels[len(chosen) :] == -100).all()
        for p in chosen:
            replaced += out.ids[p] == 103
            kept += out.ids[p] == ids[p]
    total = 400 * 3
    assert 0.74 < replaced / total < 0.86
    assert 0.05 < kept / total < 0.16


def test_whole_word_masking_widens_to_the_word() -> None:
    gen = MaskingGenerator(vocab_size=30522, mask_prob=0.25, max_masks=20, skipgram_prb=0.0)
    pieces = ["un", "##bel", "##iev", "##able"]
    # a single visited position inside the word pulls in the whole word (then trimmed to n_pred = 1)
    gen.max_masks = 1
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(50):
        seen.update(gen.choose_positions(pieces, rng))
    assert seen <= {1, 2, 3, 4}
    wide = MaskingGenerator(vocab_size=30522, mask_prob=1.0, max_masks=20, skipgram_prb=0.0)
    assert wide.choose_positions(["a", "un", "##bel"], np.random.default_rng(0)) == [1, 2, 3]
