"""Composite placed sprites over a painted background."""

from __future__ import annotations

import numpy as np

from .layout import PlacedObject


def composite(background: np.ndarray, objects: list[PlacedObject]) -> np.ndarray:
    """Alpha-blend each object's patch onto the float32 background in order (later on top)."""
    img = background.astype(np.float32, copy=True)
    for obj in objects:
        ph, pw = obj.patch.shape[:2]
        region = img[obj.y : obj.y + ph, obj.x : obj.x + pw]
        rgb = obj.patch[..., :3].astype(np.float32)
        a = obj.patch[..., 3:4].astype(np.float32) / 255.0
        region *= 1.0 - a
        region += rgb * a
    return img
