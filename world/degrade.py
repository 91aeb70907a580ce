"""Photo degradations: lighting, blur, sensor noise and a JPEG quality, drawn per image.

Lighting changes are kept moderate (temperature at most about 7 %) so that a named colour still looks
like its name afterwards.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def degrade(img: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """Return the degraded RGB image and the JPEG quality to save it with."""
    brightness = rng.uniform(0.82, 1.15)
    contrast = rng.uniform(0.8, 1.2)
    temperature = rng.uniform(-0.07, 0.07)
    blur = rng.uniform(0.3, 1.2) if rng.random() < 0.35 else 0.0
    sigma = rng.uniform(2.0, 9.0) if rng.random() < 0.6 else 0.0
    quality = int(rng.integers(60, 96))

    # Contrast about the mean, brightness and temperature folded into one per-channel affine map.
    # Warm light raises red and lowers blue; cool light does the opposite.
    tint = np.asarray([1 + temperature, 1.0, 1 - temperature], dtype=np.float32) * brightness
    mean = float(img.mean())
    out = img * (contrast * tint) + (mean * (1 - contrast) * tint + 0.5)  # +0.5: round when truncating
    pil = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    if blur:
        pil = pil.filter(ImageFilter.GaussianBlur(blur))
    if sigma:
        noisy = np.asarray(pil, dtype=np.float32) + rng.standard_normal(out.shape, dtype=np.float32) * sigma
        noisy += 0.5
        pil = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return pil, quality


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()
