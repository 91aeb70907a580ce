"""Resizing Swin relative-position bias tables to another window size, the way X-VLM does.

A table holds one learned bias per head for every 2-D offset between two tokens of a window: for window
W it has (2W - 1)^2 rows, row-major over (dy, dx) with dy, dx in [-(W - 1), W - 1], and one column per
head. Swin tables have no extra rows (BEiT's class-token rows do not exist here).

When a 224-px checkpoint (window 7) is fine-tuned at 384 px (window 12), X-VLM resizes every table with
``interpolate_relative_pos_embed`` (models/swin_transformer.py, taken from BEiT): the source offsets are
placed on a geometric grid that reaches the larger target range with near offsets keeping about unit
spacing, and each head's table is read off a bicubic interpolating spline (scipy ``interp2d``,
kind='cubic') at the integer target offsets. ``interp2d`` is gone from scipy >= 1.14; on a rectangular
grid it fitted the same spline as ``RectBivariateSpline`` with kx = ky = 3 and no smoothing (s = 0),
which is what is used here. timm's own resize interpolates linearly on that grid by default, which
changes the imported tables by up to 0.1, so everything that resizes a table goes through this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

TABLE_SUFFIX = "relative_position_bias_table"


def table_side(rows: int) -> int:
    """2W - 1 for a square table of ``rows`` rows; refuses tables that are not an odd square."""
    side = math.isqrt(rows)
    if side * side != rows or side % 2 == 0:
        raise ValueError(f"a relative-position table with {rows} rows is not (2W - 1)^2 for a square window")
    return side


def geometric_ratio(src_half: int, dst_half: int) -> float:
    """BEiT's ratio q with 1 + q + ... + q^(src_half - 1) = dst_half, by bisection on [1.01, 1.5].

    The loop and its stopping rule follow BEiT/X-VLM exactly (it returns the last midpoint, not the
    root), because the grid must be theirs to the last bit for the tables to match.
    """
    left, right = 1.01, 1.5
    q = (left + right) / 2.0
    while right - left > 1e-6:
        q = (left + right) / 2.0
        partial_sum = (1.0 - q**src_half) / (1.0 - q)
        if partial_sum > dst_half:
            right = q
        else:
            left = q
    return q


def geometric_offsets(src_side: int, dst_side: int) -> np.ndarray:
    """Where the ``src_side`` source offsets sit on the target's offset axis (symmetric about 0).

    Offset k > 0 is placed at 1 + q + ... + q^(k - 1), so the outermost one lands near the target's
    largest offset; negative offsets mirror the positive ones.
    """
    src_half = src_side // 2
    q = geometric_ratio(src_half, dst_side // 2)
    positive = []
    position = 1.0
    for k in range(src_half):
        positive.append(position)
        position += q ** (k + 1)
    return np.array([-p for p in reversed(positive)] + [0.0] + positive)


def resize_relative_position_table(table: torch.Tensor, dst_rows: int) -> torch.Tensor:
    """(src_side^2, heads) -> (dst_rows, heads): each head through a bicubic spline on BEiT's grid.

    Computed in float64 on the CPU and returned in the table's dtype and device. Source windows too small
    for a cubic (side 3, window 2) use the highest degree the points allow; a side of 1 is a constant.
    """
    from scipy.interpolate import RectBivariateSpline

    src_side, dst_side = table_side(table.shape[0]), table_side(dst_rows)
    if src_side == dst_side:
        return table
    heads = table.shape[1]
    if src_side == 1:
        return table.expand(dst_rows, heads).clone()
    grid = geometric_offsets(src_side, dst_side)
    target = np.arange(dst_side, dtype=np.float64) - dst_side // 2
    values = table.detach().to("cpu", torch.float64).numpy().reshape(src_side, src_side, heads)
    degree = min(3, src_side - 1)
    columns = []
    for head in range(heads):
        # Axis 0 is dy and axis 1 is dx on both sides, so the row-major order is kept.
        spline = RectBivariateSpline(grid, grid, values[:, :, head], kx=degree, ky=degree, s=0)
        columns.append(spline(target, target).reshape(-1))
    resized = torch.from_numpy(np.stack(columns, axis=1))
    return resized.to(device=table.device, dtype=table.dtype)


def resize_relative_position_tables(
    state: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> list[str]:
    """Resize, in place, every table in ``state`` whose row count differs from the same key in ``target``
    (a model's state dict). Returns the keys resized; other mismatches are left for the loader to name."""
    resized = []
    for key, value in state.items():
        if not key.endswith(TABLE_SUFFIX) or key not in target:
            continue
        want = target[key].shape
        if value.shape != want and value.dim() == 2 and value.shape[1] == want[1]:
            state[key] = resize_relative_position_table(value, want[0])
            resized.append(key)
    return resized
