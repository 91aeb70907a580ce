"""Vectors as BLOBs, little-endian, row-major: float16 (global and caption embeddings) and row-scaled
int8 (region embeddings, schema 2 and later).

Why float16: the embeddings are L2-normalised, so every component lies in [-1, 1] where float16 keeps
11 significant bits (relative error <= 2**-11); a cosine computed from rounded vectors moves by about
1e-3 at most, far below the gaps that order search results. Values are widened to float32 on reading.

Why int8 for regions: they are 14 of the 15 vectors a photo stores. One float32 scale per row plus
int8 codes (value = code * scale, scale = max|row| / 127) moves a cosine by about 2e-3 at most, which
is what the in-memory search index does anyway, and brings a photo (D = 256, 14 regions) from 8.7 kB
to about 5 kB in the database.
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


def to_int8_blob(rows: np.ndarray) -> bytes:
    """(K, D) floats -> K float32 scales then K x D int8 codes."""
    array = np.asarray(rows, dtype=np.float32)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise ValueError("expected a finite (K, D) matrix")
    scales = np.abs(array).max(axis=1) / 127.0
    safe = np.where(scales > 0, scales, 1.0)
    codes = np.clip(np.rint(array / safe[:, None]), -127, 127).astype(np.int8)
    return scales.astype("<f4").tobytes() + codes.tobytes()


def from_int8_blob(blob: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Bytes from ``to_int8_blob`` -> float32 (K, D)."""
    k, d = shape
    if len(blob) != k * 4 + k * d:
        raise ValueError(
            f"int8 region blob has {len(blob)} bytes, expected {k * 4 + k * d} for shape {shape}"
        )
    scales = np.frombuffer(blob, dtype="<f4", count=k)
    codes = np.frombuffer(blob, dtype=np.int8, offset=k * 4).reshape(k, d)
    return codes.astype(np.float32) * scales[:, None]


def regions_from_blob(blob: bytes, shape: tuple[int, int], dtype: str) -> np.ndarray:
    """A stored region matrix in either format (``vectors.regions_dtype``)."""
    if dtype == "int8":
        return from_int8_blob(blob, shape)
    if dtype == "float16":
        return from_blob(blob, shape)
    raise ValueError(f"unknown region storage {dtype!r}")


def from_blob(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes from ``to_blob`` -> float32 array of ``shape``."""
    array = np.frombuffer(blob, dtype=STORED)
    expected = int(np.prod(shape))
    if array.size != expected:
        raise ValueError(f"vector blob holds {array.size} values, expected {expected} for shape {shape}")
    return array.astype(np.float32).reshape(shape)
