"""Fixed-size blocks of a flat array file, read by position: mapped in whole when small, else read.

Why: a search reads the int8 region rows of a shortlist only (2,000 of 100,000 photos). Mapping the
358 MB file of 100,000 photos and populating the map put all of it into the app's resident memory and
read the whole file from disk before the first search. Above ``MAP_BUDGET`` the blocks are read with
positional reads instead: only what a search uses is read, and the pages stay in the kernel's page
cache (shared, dropped first under memory pressure), outside the app's memory. That costs a system
call a block (~4 us idle, ~8 us on a loaded 2-core machine: +10-25 ms a query for 2,000 blocks plus a
page of hits, ``scripts/bench_memory.py`` and ``bench_gui.py``), so a file under the budget (a 10,000-
photo library's 36 MB) is still mapped in whole, its pages populated at once: mapping each page on
first touch costs several microseconds in a virtual machine, 15-20 ms for one query's shortlist.
"""

from __future__ import annotations

import mmap
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

_PREADV = getattr(os, "preadv", None)  # POSIX; elsewhere a seek and a read under a lock
MAP_BUDGET = 64 << 20  # bytes: files up to this size are mapped in whole (about 18,000 photos' rows)


class BlockFile:
    """``count`` blocks of ``shape`` items of ``dtype``, one after the other from the file's start.

    Safe to share between threads (positional reads carry their own offsets). Keeps one descriptor
    (or map) open until ``close`` (or garbage collection), so the file stays readable if the cache is
    rebuilt and the old directory removed meanwhile (POSIX). ``map_budget``: see the module docstring.
    """

    def __init__(
        self, path: str | Path, dtype: Any, shape: tuple[int, ...], count: int, map_budget: int | None = None
    ) -> None:
        self.path, self.dtype, self.shape, self.count = Path(path), np.dtype(dtype), tuple(shape), count
        self.block_bytes = int(np.prod(shape)) * self.dtype.itemsize
        self._file = open(self.path, "rb", buffering=0) if count and self.block_bytes else None  # noqa: SIM115
        self._lock = threading.Lock()
        budget = MAP_BUDGET if map_budget is None else map_budget
        self._mapped: np.ndarray | None = None
        size = count * self.block_bytes
        if self._file is not None and size <= budget and hasattr(mmap, "MAP_SHARED"):  # POSIX maps
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            whole = mmap.mmap(self._file.fileno(), size, flags=flags, prot=mmap.PROT_READ)
            self._mapped = np.frombuffer(whole, self.dtype).reshape(count, *self.shape)

    @property
    def mapped(self) -> bool:
        """True when the file is mapped in whole (under the budget), False when blocks are read."""
        return self._mapped is not None

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The blocks at ``positions`` (any order, repeats allowed): (len(positions), *shape)."""
        positions = np.asarray(positions, np.int64).reshape(-1)
        if len(positions) and (positions.min() < 0 or positions.max() >= self.count):
            raise IndexError(f"block positions must be in [0, {self.count}) in {self.path.name}")
        if self._mapped is not None:
            return self._mapped[positions]  # a copy: fancy indexing
        out = np.empty((len(positions), *self.shape), self.dtype)
        if len(positions) == 0:
            return out
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
        self._mapped = None  # the map closes with its last view
        if self._file is not None:
            self._file.close()
            self._file = None
