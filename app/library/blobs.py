"""Vectors as BLOBs: float16, little-endian, row-major.

Why float16: the embeddings are L2-normalised, so every component lies in [-1, 1] where float16 keeps
11 significant bits (relative error <= 2**-11); a cosine computed from rounded vectors moves by about
1e-3 at most, far below the gaps that order search results, and the library halves in size (a photo
with D = 256 and 14 regions takes 7.5 KB instead of 15 KB). Values are widened to float32 on reading.
"""

from __future__ import annotations

import numpy as np

STORED = np.dtype("<f2")


def to_blob(vectors: np.ndarray) -> bytes:
    """Any float array -> float16 little-endian bytes (its shape is kept by the caller)."""
    array = np.asarray(vectors, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError("refusing to store a vector with NaN or infinite values")
    return np.ascontiguousarray(array, dtype=STORED).tobytes()


def from_blob(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes from ``to_blob`` -> float32 array of ``shape``."""
    array = np.frombuffer(blob, dtype=STORED)
    expected = int(np.prod(shape))
    if array.size != expected:
        raise ValueError(f"vector blob holds {array.size} values, expected {expected} for shape {shape}")
    return array.astype(np.float32).reshape(shape)
