"""Image preprocessing in numpy and Pillow: the runtime's mirror of ``engine.data.transforms.EvalTransform``.

Torch-free so the app never needs torch; tested against the torch transform on files of every mode
Pillow decodes (tests/export/test_preprocess.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


class Preprocess:
    """PIL images -> float32 (B, 3, S, S), mirroring ``engine.data.transforms.EvalTransform``.

    Step for step: ``image.convert("RGB")``; a square ``resize((S, S), BICUBIC)`` with no aspect
    preservation (torchvision's resize of a PIL image is this very Pillow call); ``/ 255`` in float32
    (``to_tensor``); then ``(x - mean) / std`` per channel in float32 (``normalize``).
    """

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.image_size = int(image_size)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)

    def one(self, image: Image.Image) -> np.ndarray:
        """One image -> (3, S, S) float32."""
        s = self.image_size
        rgb = image.convert("RGB").resize((s, s), Image.BICUBIC)
        pixels = np.asarray(rgb, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        return (chw - self.mean) / self.std

    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images -> (B, 3, S, S) float32."""
        s = self.image_size
        out = np.empty((len(images), 3, s, s), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self.one(image)
        return out
