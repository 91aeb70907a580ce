"""A deterministic stand-in for ``export.runtime.Runtime``'s image surface, for library tests.

Embeddings come from pixel statistics: the mean colour (plus a constant, so black is not the zero
vector) projected to D with a fixed random matrix and normalised; tokens are 8x8-patch mean colours.
It counts what it encodes, can sleep per call (to be killed mid-run) and log each call to a file.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

PATCH = 8


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class FakeRuntime:
    def __init__(
        self,
        identity: str = "fake-model-v1",
        embed_dim: int = 8,
        image_size: int = 32,
        delay_s: float = 0.0,
        log_path: str | Path | None = None,
    ) -> None:
        self.identity = identity
        self.embed_dim = embed_dim
        self.image_size = image_size
        self.delay_s = delay_s
        self.log_path = Path(log_path) if log_path else None
        self._proj = np.random.default_rng(0).standard_normal((4, embed_dim)).astype(np.float32)
        self._lock = threading.Lock()
        self.image_calls = 0
        self.images_encoded = 0
        self.region_calls = 0

    def open_graphs(self, graphs: Sequence[str]) -> None:
        """Nothing to load."""

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        s = self.image_size
        out = np.empty((len(images), 3, s, s), dtype=np.float32)
        for i, image in enumerate(images):
            rgb = np.asarray(image.convert("RGB").resize((s, s), Image.BILINEAR), dtype=np.float32) / 255
            out[i] = rgb.transpose(2, 0, 1)
        return out

    def _embed(self, colours: np.ndarray) -> np.ndarray:
        ones = np.ones((*colours.shape[:-1], 1), dtype=np.float32)
        return _normalise(np.concatenate([colours, ones], axis=-1) @ self._proj)

    def encode_images(
        self, images: Sequence[Image.Image] | np.ndarray, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        pixels = images if isinstance(images, np.ndarray) else self.preprocess(images)
        b, s = len(pixels), self.image_size
        with self._lock:
            self.image_calls += 1
            self.images_encoded += b
        if self.log_path is not None:
            with open(self.log_path, "a") as log:
                log.write(f"{b}\n")
        if self.delay_s:
            time.sleep(self.delay_s)
        g = s // PATCH
        patches = pixels.reshape(b, 3, g, PATCH, g, PATCH).mean(axis=(3, 5))  # (B, 3, G, G)
        patches = patches.reshape(b, 3, g * g).transpose(0, 2, 1)  # (B, G*G, 3)
        cls = pixels.mean(axis=(2, 3))[:, None, :]
        tokens = np.concatenate([cls, patches], axis=1).astype(np.float32)
        return self._embed(cls[:, 0]), tokens

    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        self.region_calls += 1
        b, k = boxes.shape[:2]
        g = self.image_size // PATCH
        centres = (np.arange(g) + 0.5) / g
        out = np.empty((b, k, 3), dtype=np.float32)
        grid = tokens[:, 1:].reshape(b, g, g, 3)
        for j in range(k):
            for i in range(b):
                x, y, w, h = boxes[i, j]
                cols = (centres >= x) & (centres < x + w)
                rows = (centres >= y) & (centres < y + h)
                # A box between cell centres still pools the cell it sits in, as the real patch mask
                # always keeps at least one patch.
                cols[min(int((x + w / 2) * g), g - 1)] |= not cols.any()
                rows[min(int((y + h / 2) * g), g - 1)] |= not rows.any()
                out[i, j] = grid[i][np.ix_(rows, cols)].reshape(-1, 3).mean(axis=0)
        return self._embed(out)

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little") for t in texts]
        embeds = np.stack([np.random.default_rng(s).standard_normal(self.embed_dim) for s in seeds])
        hidden = np.zeros((len(texts), 4, self.embed_dim), dtype=np.float32)
        return _normalise(embeds), hidden, np.ones((len(texts), 4), dtype=np.int64)
