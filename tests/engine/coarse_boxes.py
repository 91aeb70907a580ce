"""A stand-in box head with the demo model's failure: it sees the image as a coarse grid.

``coarse_box`` finds the bright pixels of an image and answers the grid cells they touch, so a small
bright square gets a box several times too large, while a square that fills many cells gets a close
one. That is the case zoom-in refinement exists for, with an answer known exactly.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def coarse_box(bright: np.ndarray, grid: int = 4) -> tuple[float, float, float, float]:
    """(cx, cy, w, h) as fractions: the grid cells touched by the True pixels of ``bright`` (H, W)."""
    height, width = bright.shape
    rows, cols = np.nonzero(bright)
    if len(rows) == 0:
        return 0.5, 0.5, 1.0, 1.0
    x0, x1 = np.floor(cols.min() / width * grid), np.ceil((cols.max() + 1) / width * grid)
    y0, y1 = np.floor(rows.min() / height * grid), np.ceil((rows.max() + 1) / height * grid)
    return (x0 + x1) / 2 / grid, (y0 + y1) / 2 / grid, (x1 - x0) / grid, (y1 - y0) / grid


def square_photo(
    width: int, height: int, box: tuple[int, int, int, int], colour: str = "white"
) -> Image.Image:
    """A black photo with one filled rectangle at ``box`` (x, y, w, h in pixels)."""
    image = Image.new("RGB", (width, height), "black")
    x, y, w, h = box
    ImageDraw.Draw(image).rectangle([x, y, x + w - 1, y + h - 1], fill=colour)
    return image
