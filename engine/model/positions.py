"""2-D sine-cosine position codes for the image tokens the fusion layers attend to.

Used to initialise the optional ``fusion_pos_embed`` (see ModelConfig): a fixed code gives the box head
a readable location from the first step, and training is free to adjust it.
"""

from __future__ import annotations

import math

import torch


def sincos_2d(grid: int, width: int, temperature: float = 10000.0) -> torch.Tensor:
    """(grid * grid, width) codes for a row-major grid: the first half encodes the row, the second the
    column, each as sines then cosines over ``width // 4`` geometric frequencies."""
    if width % 4:
        raise ValueError(f"width {width} must be a multiple of 4 for a 2-D sine-cosine code")
    quarter = width // 4
    freqs = torch.exp(-math.log(temperature) * torch.arange(quarter, dtype=torch.float64) / quarter)
    pos = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")

    def code(coord: torch.Tensor) -> torch.Tensor:
        angles = coord.flatten()[:, None] * freqs[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([code(rows), code(cols)], dim=1).float()


def fusion_position_init(grid: int, width: int, scale: float = 0.5) -> torch.Tensor:
    """(1, 1 + grid * grid, width): zero for token 0 (the global or concept summary, which has no single
    place) and a scaled 2-D code for each patch. The scale keeps the code below the LayerNorm-sized
    tokens so that fusion layers trained without it are perturbed, not swamped."""
    return torch.cat([torch.zeros(1, width), scale * sincos_2d(grid, width)], dim=0).unsqueeze(0)
