"""Boxes -> patch masks in numpy: the runtime's mirror of ``engine.model.concepts.boxes_to_patch_mask``.

Same geometry (spec section 2): a box in resized-image pixels selects every final-grid patch it touches,
floor on the start edge, ceil on the end edge, at least one patch, all in float64 as the engine does.
Torch-free, because the runtime builds the concept graph's masks.
"""

from __future__ import annotations

import numpy as np


def boxes_to_patch_mask(boxes: np.ndarray, image_size: int, stride: int) -> np.ndarray:
    """Boxes (..., 4) as x, y, w, h in pixels of the square resized image -> int64 masks (..., 1 + G*G).

    Position 0 ([CLS]) is always 1; patch (row i, col j) is position 1 + G*i + j.
    """
    grid = image_size // stride
    boxes = np.asarray(boxes, dtype=np.float64)
    x, y, w, h = np.moveaxis(boxes, -1, 0)

    def span(start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = np.clip(np.floor(start / stride), 0, grid - 1)
        last = np.minimum(np.ceil((start + length) / stride), grid)
        last = np.maximum(last, first + 1)
        return first.astype(np.int64), last.astype(np.int64)

    col0, col1 = span(x, w)
    row0, row1 = span(y, h)
    idx = np.arange(grid)
    in_cols = (idx >= col0[..., None]) & (idx < col1[..., None])  # (..., G)
    in_rows = (idx >= row0[..., None]) & (idx < row1[..., None])
    patches = (in_rows[..., :, None] & in_cols[..., None, :]).reshape(*boxes.shape[:-1], grid * grid)
    cls = np.ones((*boxes.shape[:-1], 1), dtype=bool)
    return np.concatenate([cls, patches], axis=-1).astype(np.int64)


def normalised_boxes_to_patch_masks(boxes: np.ndarray, image_size: int, stride: int) -> np.ndarray:
    """Boxes (B, K, 4) as x, y, w, h in fractions of the image -> float32 patch masks (B, K, G*G).

    The fraction is scaled to the S x S frame the vision graph saw (the eval resize is a plain square
    stretch, so a fraction of the original photo is the same fraction of the resized one); the [CLS]
    column is dropped because the concept graph computes the [CLS] itself.
    """
    pixels = np.asarray(boxes, dtype=np.float64) * image_size
    return boxes_to_patch_mask(pixels, image_size, stride)[..., 1:].astype(np.float32)


def pool_concept_tokens(tokens: np.ndarray, patch_mask: np.ndarray) -> np.ndarray:
    """Tokens (N, 1 + L, C) with token 0 replaced by the mean of the patches ``patch_mask`` (N, 1 + L)
    selects: X-VLM's concept [CLS], as ``engine.model.concepts.pool_concepts`` computes it. With the
    same mask as the fusion layers' image mask, this is the region ITM's input exactly."""
    tokens = np.asarray(tokens)
    weights = np.asarray(patch_mask)[:, 1:, None].astype(np.float64)
    patches = tokens[:, 1:].astype(np.float64)
    cls = (patches * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
    return np.concatenate([cls[:, None, :].astype(tokens.dtype), tokens[:, 1:]], axis=1)
