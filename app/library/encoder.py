"""What the indexer needs from a model: the bundle runtime's image surface, as a Protocol.

``export.runtime.Runtime`` satisfies it; tests use a small fake. The indexer imports only this module,
so it never depends on onnxruntime (or torch) being importable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class ImageEncoder(Protocol):
    @property
    def identity(self) -> str:
        """Model + variant + graphs; vectors of two identities are never compared or mixed."""
        ...

    @property
    def embed_dim(self) -> int: ...

    @property
    def image_size(self) -> int:
        """S: the model sees S x S pixels."""
        ...

    def open_graphs(self, graphs: Sequence[str]) -> None:
        """Load these graphs now, refusing a bundle whose graphs are not what they claim, before any
        photo is read (``KnownError``)."""
        ...

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images -> (B, 3, S, S) float32. Called from several threads at once: must be pure."""
        ...

    def encode_images(
        self, images: Sequence[Image.Image] | np.ndarray, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images or preprocessed pixels -> (L2-normalised embeds (B, D), tokens (B, 1+L, C))."""
        ...

    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Tokens (B, 1+L, C) and normalised x, y, w, h boxes (B, K, 4) -> normalised (B, K, D)."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Texts -> (embeds (B, D), hidden, mask)."""
        ...


def load_runtime(bundle_dir: str | Path, providers: str = "auto", threads: int = 0) -> ImageEncoder:
    """The bundle's runtime, imported only when asked for (onnxruntime is heavy to import)."""
    from export.runtime import Runtime

    return Runtime(bundle_dir, providers=providers, threads=threads)
