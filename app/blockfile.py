"""Fixed-size blocks of a flat array file, read by position (positional reads), never mapped.

Why: a search reads the int8 region rows of a shortlist only (2,000 of 100,000 photos). Mapping the
358 MB file and populating the map put all of it into the app's resident memory and read the whole
file from disk before the first search; reading just the shortlist's blocks costs a few milliseconds a
query (``scripts/bench_memory.py``), reads from disk only what a search uses, and leaves the pages to
the kernel's page cache (shared, dropped first under memory pressure), outside the app's memory.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

_PREADV = getattr(os, "preadv", None)  # POSIX; elsewhere a seek and a read under a lock


class BlockFile:
    """``count`` blocks of ``shape`` items of ``dtype``, one after the other from the file's start.

    Safe to share between threads (positional reads carry their own offsets). Keeps one descriptor
    open until ``close`` (or garbage collection), so the file stays readable if the cache is rebuilt
    and the old directory removed meanwhile (POSIX).
    """

    def __init__(self, path: str | Path, dtype: Any, shape: tuple[int, ...], count: int) -> None:
        self.path, self.dtype, self.shape, self.count = Path(path), np.dtype(dtype), tuple(shape), count
        self.block_bytes = int(np.prod(shape)) * self.dtype.itemsize
        self._file = open(self.path, "rb", buffering=0) if count and self.block_bytes else None  # noqa: SIM115
        self._lock = threading.Lock()

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The blocks at ``positions`` (any order, repeats allowed): (len(positions), *shape)."""
        positions = np.asarray(positions, np.int64).reshape(-1)
        out = np.empty((len(positions), *self.shape), self.dtype)
        if len(positions) == 0:
            return out
        if positions.min() < 0 or positions.max() >= self.count:
            raise IndexError(f"block positions must be in [0, {self.count}) in {self.path.name}")
        assert self._file is not None
        # Consecutive positions are one read (a whole library's blocks, for evaluation, in a few).
        breaks = np.flatnonzero(np.diff(positions) != 1) + 1
        starts = np.concatenate([[0], breaks]).tolist()
        stops = np.concatenate([breaks, [len(positions)]]).tolist()
        size = self.block_bytes
        buffer = memoryview(out).cast("B")
        firsts = positions[starts].tolist()
        if _PREADV is not None:
            fd = self._file.fileno()
            for start, stop, first in zip(starts, stops, firsts, strict=True):
                got = _PREADV(fd, [buffer[start * size : stop * size]], first * size)
                if got != (stop - start) * size:
                    raise OSError(f"{self.path}: short read ({got} of {(stop - start) * size} bytes)")
            return out
        with self._lock:
            for start, stop, first in zip(starts, stops, firsts, strict=True):
                self._file.seek(first * size)
                if self._file.readinto(buffer[start * size : stop * size]) != (stop - start) * size:
                    raise OSError(f"{self.path}: short read")
        return out

    def block(self, position: int) -> np.ndarray:
        """One block: ``shape``."""
        return self.read(np.array([position]))[0]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
