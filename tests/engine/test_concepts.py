"""Box -> patch geometry (spec section 2), against hand-computed cases."""

from __future__ import annotations

import torch

from engine.model.concepts import boxes_to_patch_mask, pool_concepts


def patches_of(box: list[float], image_size: int = 224, stride: int = 32) -> set[tuple[int, int]]:
    mask = boxes_to_patch_mask(torch.tensor([box]), image_size, stride)[0]
    grid = image_size // stride
    assert mask[0] == 1, "position 0 ([CLS]) is always kept"
    return {(int(p) // grid, int(p) % grid) for p in (mask[1:].nonzero().flatten())}


def test_box_inside_one_patch_selects_that_patch() -> None:
    # x 40..50, y 70..80 lies in column 1 (32..64), row 2 (64..96)
    assert patches_of([40, 70, 10, 10]) == {(2, 1)}


def test_every_touched_patch_is_included() -> None:
    # x 30..70 touches columns 0, 1, 2 (floor(30/32)=0, ceil(70/32)=3); y 0..32 only row 0
    assert patches_of([30, 0, 40, 32]) == {(0, 0), (0, 1), (0, 2)}


def test_box_on_exact_patch_edges() -> None:
    # x 32..64 is exactly column 1; y 64..128 exactly rows 2 and 3
    assert patches_of([32, 64, 32, 64]) == {(2, 1), (3, 1)}


def test_box_on_the_bottom_right_border_is_capped_to_the_grid() -> None:
    # starts in the last cell and runs past the image edge
    assert patches_of([220, 223, 30, 30]) == {(6, 6)}


def test_zero_size_box_still_gets_one_patch() -> None:
    assert patches_of([100, 100, 0, 0]) == {(3, 3)}


def test_whole_image_box_selects_all_patches() -> None:
    assert len(patches_of([0, 0, 224, 224])) == 49


def test_vit_stride_16_grid() -> None:
    # 160 px with stride 16 -> 10x10 grid; x 15..17 touches columns 0 and 1
    assert patches_of([15, 0, 2, 16], image_size=160, stride=16) == {(0, 0), (0, 1)}


def test_pooled_concept_is_mean_of_box_patches() -> None:
    tokens = torch.arange(1 + 4, dtype=torch.float32).view(1, 5, 1).repeat(1, 1, 3)  # 2x2 grid, values 1..4
    mask = torch.tensor([[1, 1, 0, 0, 1]])  # patches (0,0) and (1,1): values 1 and 4
    pooled = pool_concepts(tokens, mask)
    assert torch.allclose(pooled[0, 0], torch.full((3,), 2.5))
    assert torch.equal(pooled[0, 1:], tokens[0, 1:]), "all patches stay in the token set"
