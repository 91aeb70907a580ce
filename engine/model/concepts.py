"""Visual concepts from boxes, the X-VLM way (spec section 2).

A box in resized-image pixels selects every final-grid patch it touches (floor on the start edge, ceil on
the end edge, at least one patch). The concept's [CLS] is the mean of those patch features; all patches
stay in the token set and the box restricts the fusion layers through the cross-attention mask.
"""

from __future__ import annotations

import torch


def boxes_to_patch_mask(boxes: torch.Tensor, image_size: int, stride: int) -> torch.Tensor:
    """Boxes (N, 4) as x, y, w, h in pixels of the square resized image -> masks (N, 1 + G*G) of 0/1.

    Position 0 ([CLS]) is always 1. Patch (row i, col j) is position 1 + G*i + j.
    """
    grid = image_size // stride
    boxes = boxes.to(torch.float64)
    x, y, w, h = boxes.unbind(-1)

    def span(start: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = torch.floor(start / stride).clamp(0, grid - 1)
        last = torch.ceil((start + length) / stride).clamp(max=grid)
        last = torch.maximum(last, first + 1)
        return first.long(), last.long()

    col0, col1 = span(x, w)
    row0, row1 = span(y, h)
    idx = torch.arange(grid, device=boxes.device)
    in_cols = (idx[None, :] >= col0[:, None]) & (idx[None, :] < col1[:, None])
    in_rows = (idx[None, :] >= row0[:, None]) & (idx[None, :] < row1[:, None])
    patches = (in_rows[:, :, None] & in_cols[:, None, :]).flatten(1)
    cls = torch.ones(boxes.shape[0], 1, dtype=torch.bool, device=boxes.device)
    return torch.cat([cls, patches], dim=1).to(torch.long)


def pool_concepts(image_tokens: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
    """Replace token 0 with the masked mean of the patches that ``patch_mask`` selects.

    image_tokens: (N, 1 + L, C), one row per concept (already gathered per text);
    patch_mask: (N, 1 + L). Returns (N, 1 + L, C).
    """
    weights = patch_mask[:, 1:].to(image_tokens.dtype).unsqueeze(-1)
    patches = image_tokens[:, 1:]
    cls = (patches * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    return torch.cat([cls.unsqueeze(1), patches], dim=1)
