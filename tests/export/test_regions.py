"""The numpy box -> patch mask geometry against the engine's torch one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model.concepts import boxes_to_patch_mask as torch_masks
from engine.model.concepts import pool_concepts
from export.regions import boxes_to_patch_mask, normalised_boxes_to_patch_masks, pool_concept_tokens


def _random_boxes(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    boxes = np.empty((n, 4))
    boxes[:, :2] = rng.uniform(-0.2 * size, 1.1 * size, (n, 2))  # some start outside the image
    boxes[:, 2:] = rng.uniform(0, 1.2 * size, (n, 2)) * rng.choice([0.0, 0.01, 0.3, 1.0], (n, 2))
    # Edges exactly on the grid are where floor/ceil differ from rounding.
    on_grid = rng.random(n) < 0.3
    boxes[on_grid] = np.round(boxes[on_grid] / 16) * 16
    return boxes


@pytest.mark.parametrize(("size", "stride"), [(64, 16), (160, 16), (224, 32), (384, 32)])
def test_numpy_mask_equals_torch_mask(size: int, stride: int) -> None:
    boxes = _random_boxes(5000, size, seed=size)
    expected = torch_masks(torch.from_numpy(boxes), size, stride).numpy()
    got = boxes_to_patch_mask(boxes, size, stride)
    np.testing.assert_array_equal(got, expected)
    assert got[:, 1:].sum(1).min() >= 1, "every box keeps at least one patch"


def test_batched_shapes_and_normalised_boxes() -> None:
    boxes = np.random.default_rng(0).uniform(0, 1, (3, 5, 4)) * 0.5
    masks = normalised_boxes_to_patch_masks(boxes, 64, 16)
    assert masks.shape == (3, 5, 16) and masks.dtype == np.float32
    flat = torch_masks(torch.from_numpy(boxes.reshape(-1, 4) * 64), 64, 16).numpy()[:, 1:]
    np.testing.assert_array_equal(masks.reshape(15, 16), flat)


def test_concept_tokens_equal_the_engines() -> None:
    rng = np.random.default_rng(1)
    tokens = rng.normal(size=(40, 1 + 16, 8)).astype(np.float32)
    masks = boxes_to_patch_mask(_random_boxes(40, 64, seed=2), 64, 16)
    expected = pool_concepts(torch.from_numpy(tokens), torch.from_numpy(masks)).numpy()
    got = pool_concept_tokens(tokens, masks)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 1:], tokens[:, 1:])  # only the first token changes
