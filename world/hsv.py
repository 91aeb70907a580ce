"""RGB to hue / saturation / value for numpy arrays (used to find and check object colours)."""

from __future__ import annotations

import numpy as np


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return hue in degrees [0, 360), saturation and value in [0, 1] for an (..., 3) array of 0..255."""
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(axis=-1)
    c = v - x.min(axis=-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(
        v == r,
        ((g - b) / safe) % 6.0,
        np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    h = np.where(c > 0, h * 60.0, 0.0) % 360.0
    return h.astype(np.float32), s.astype(np.float32), v.astype(np.float32)


def hue_distance(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Circular distance between hues in degrees."""
    d = np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)) % 360.0
    return np.minimum(d, 360.0 - d)


def dominant_hue(rgb: np.ndarray, mask: np.ndarray, min_saturation: float = 0.3) -> float | None:
    """Peak of the saturation-weighted hue histogram of the masked pixels, or None if none is coloured."""
    h, s, v = rgb_to_hsv(rgb)
    sel = mask & (s >= min_saturation) & (v >= 0.2)
    if not sel.any():
        return None
    hist = np.bincount((h[sel] // 10).astype(np.int64) % 36, weights=s[sel], minlength=36)
    # Smooth circularly so a hue sitting on a bin edge still gives one clear peak.
    smooth = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    return float(np.argmax(smooth) * 10 + 5)
