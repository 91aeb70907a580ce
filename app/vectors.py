"""The in-memory vector index of one library for one model: cosines of queries with every photo.

Holds, per photo in id order, the global embedding and the K region embeddings (``int8.py``), the
photo id, folder id and local time (for filters and date sorting) and the captions (embeddings and
words); paths
are looked up in the database for the results only. Opened from the vector cache
(``vectorcache.py``), which is rebuilt first when the database changed.

Scoring, in one onnxruntime call and then a shortlist:
- every photo: the global cosine (int8), and for libraries up to ``EXACT_LIMIT`` photos the best-region
  cosine from 4-bit regions of the ``COARSE_BOXES`` only (coarse: ~7e-3 off, 5 of the 14 boxes);
- the caller's ``shortlist`` picks candidates from those (the best by the coarse score, or by the
  global score alone in a larger library: the two-stage search), and their regions (all K) are scored
  again from the int8 rows, which stay on disk: the candidates' rows are read at each search (``blockfile``).
Memory: 260 B a photo for the global vectors, plus 680 B for the 4-bit regions (5 boxes) when they
are held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from app import vectorcache
from app.blockfile import BlockFile
from app.int8 import RowScorer, block_size, column_scorer, padded_dim
from app.vectorcache import EXACT_LIMIT, CacheInfo, coarse_boxes
from core.caption_words import CaptionWords

# (global cosines (Q, N), coarse best-region cosines (Q, N) or None) -> candidate positions
Shortlist = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


@dataclass(frozen=True)
class Cosines:
    """Cosines of Q query vectors with every photo's global embedding and with its best region."""

    global_: np.ndarray  # (Q, N) int8
    rows: np.ndarray  # sorted positions whose regions were scored from the int8 rows
    regions: np.ndarray  # (Q, len(rows)) int8
    coarse: np.ndarray | None  # (Q, N) 4-bit best-region cosines of every photo (None: two-stage)


class VectorIndex:
    """Read-only; safe to share between threads (onnxruntime sessions are)."""

    def __init__(self, info: CacheInfo, threads: int = 0) -> None:
        self.info = info
        # Plain ndarray views of the maps: np.memmap's own indexing is several times slower.
        arrays = vectorcache.open_arrays(info)
        a = {name: np.asarray(array) for name, array in arrays.items()}
        self._arrays = a
        # Small per-photo columns are read into memory (a few bytes a photo); matrices stay mapped.
        self.ids = np.array(a["ids.i64"])
        self.folder_ids = np.array(a["folders.i32"])
        self.times = np.array(a["times.f64"])
        self.usable = np.array(a["usable.u8"]).astype(bool)
        self.caption_rows = np.array(a["captions.i64"])
        self.caption_vectors = np.array(a["captions.f16"], dtype=np.float32)
        self.caption_texts: list[str] = vectorcache.read_caption_texts(info)
        self._caption_words: CaptionWords | None = None
        self._row_of_id: dict[int, int] | None = None
        self._caption_order: np.ndarray | None = None
        self._caption_starts = self._caption_photos = np.zeros(0, np.int64)
        self._session = column_scorer(info.path / "scores.onnx", threads) if info.n else None
        self._rows = RowScorer(threads)
        # The int8 region rows (358 MB at 100k photos) are read a shortlist at a time, not mapped, past
        # ``blockfile.MAP_BUDGET``: only the blocks a search scores are read, none stays in the app's
        # memory. A smaller library's rows are mapped in whole (faster to gather).
        self._region_rows = BlockFile(info.path / "region_rows.i8", np.int8, (info.k, info.dim), info.n)

    # ----- facts -------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.info.n

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def box_count(self) -> int:
        return self.info.k

    @property
    def exact(self) -> bool:
        """True when every photo's regions are scored (coarsely); False: the two-stage search."""
        return self.info.exact

    def position(self, photo_id: int) -> int | None:
        if self._row_of_id is None:
            self._row_of_id = {int(pid): i for i, pid in enumerate(self.ids)}
        return self._row_of_id.get(int(photo_id))

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held in memory (onnxruntime's packed copies of the matrices included), by part; the
        int8 region rows are read from the file for shortlists (``blockfile``) and not counted."""
        n, k, d = self.n, self.box_count, self.dim
        padded = padded_dim(d)
        blocks = padded // block_size(padded)
        parts = {
            "photo columns": n * (8 + 4 + 8 + 1),
            "global": n * (padded + 4),
            "captions": self.caption_vectors.nbytes + self.caption_rows.nbytes,
            "region scales": n * k * 4,
        }
        if self.exact:
            parts["regions 4-bit"] = n * len(coarse_boxes(k)) * (padded // 2 + 4 * blocks)
        return parts

    # ----- scoring -----------------------------------------------------------------------------------
    def cosines(self, queries: np.ndarray, shortlist: Shortlist | None = None) -> Cosines:
        """Cosines of unit ``queries`` (Q, D); see the module docstring. Without ``shortlist`` every
        photo's regions are scored from the int8 rows (slow for a large library; for evaluation)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        q = len(queries)
        if self._session is None or q == 0:  # an empty library
            empty = np.zeros((q, self.n), np.float32)
            return Cosines(empty, np.arange(self.n), empty.copy(), None)
        padded = np.zeros((q, padded_dim(self.dim)), np.float32)
        padded[:, : self.dim] = queries
        if self.exact:
            glob, coarse = self._session.run(["global", "regions"], {"queries": padded})
        else:
            (glob,) = self._session.run(["global"], {"queries": padded})
            coarse = None
        rows = (
            np.arange(self.n)
            if shortlist is None
            else np.unique(np.asarray(shortlist(glob, coarse), np.int64))
        )
        return Cosines(glob, rows, self.region_cosines(queries, rows), coarse)

    def region_cosines(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Best-region cosines (Q, len(rows)) of the photos at positions ``rows``, from the int8 rows."""
        k, d = self.box_count, self.dim
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, d)
        out = np.empty((len(queries), len(rows)), np.float32)
        # Photo-major views: one photo's K rows are one contiguous block, gathered in one copy.
        scales = self._arrays["regions.f32"].reshape(-1, k)
        step = 8192  # photos per call: bounds the gathered copy
        for s in range(0, len(rows), step):
            chunk = rows[s : s + step]
            block = self._region_rows.read(chunk).reshape(-1, d)
            dots = self._rows(block, scales[chunk].reshape(-1), queries)
            out[:, s : s + len(chunk)] = dots.reshape(len(chunk), k, -1).max(axis=1).T
        return out

    def caption_scores(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Photos with captions (U,) positions, and per photo its best caption cosine with each query
        (Q, U) (a photo may have several captions: sidecar, XMP, EXIF)."""
        queries = np.asarray(queries, dtype=np.float32)
        if self._caption_order is None:
            order = np.argsort(self.caption_rows, kind="stable")
            rows = self.caption_rows[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows[:0]
            self._caption_order, self._caption_starts = order, starts
            self._caption_photos = rows[starts] if rows.size else rows[:0]
        if self.caption_rows.size == 0:
            return self._caption_photos, np.zeros((len(queries), 0), np.float32)
        cos = queries @ self.caption_vectors[self._caption_order].T
        return self._caption_photos, np.maximum.reduceat(cos, self._caption_starts, axis=1)

    def caption_words(self, background: Sequence[str] = ()) -> CaptionWords:
        """The captions' words, indexed for ``CaptionWords.evidence`` (built on first use; ``background``
        stands in for a library with few captions and is read on that first call only)."""
        if self._caption_words is None:
            self._caption_words = CaptionWords(self.caption_texts, self.caption_rows, background)
        return self._caption_words

    def global_vector(self, position: int) -> np.ndarray:
        """The stored global embedding (D,) of the photo at ``position``, unit length (from int8)."""
        vector = self.global_vectors(np.array([position]))[0]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def photo_vectors(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """One photo's own vectors, dequantised: its global embedding (D,) and its K regions (K, D); a
        photo's vectors serve as a query (search by a photo already in the library)."""
        global_ = self.global_vectors(np.array([position]))[0]
        return global_, self._regions_of(position)

    def _regions_of(self, position: int) -> np.ndarray:
        """The K region embeddings (K, D) of the photo at ``position``, dequantised."""
        k = self.box_count
        regions = self._region_rows.block(position).astype(np.float32)
        regions *= np.asarray(self._arrays["regions.f32"][position * k : (position + 1) * k])[:, None]
        return regions

    def global_vectors(self, positions: np.ndarray) -> np.ndarray:
        """The global embeddings (len(positions), D) of the photos at ``positions``, dequantised."""
        positions = np.asarray(positions, np.int64)
        columns = np.asarray(self._arrays["global.i8"][: self.dim, positions], np.float32)
        return (columns * np.asarray(self._arrays["global.f32"][positions], np.float32)).T

    def captions_of(self, position: int) -> np.ndarray:
        """The caption vectors (C, D) of the photo at ``position`` (none: (0, D))."""
        return self.caption_vectors[self.caption_rows == position]

    def best_region(self, query: np.ndarray, position: int) -> tuple[int, float]:
        """Which of the K boxes of one photo matches a query vector best, and its cosine."""
        cos = self._regions_of(position) @ np.asarray(query, np.float32).reshape(self.dim)
        best = int(np.argmax(cos))
        return best, float(cos[best])


def load_index(
    db: Database,
    db_path: str | Path,
    identity: str,
    box_set: str,
    *,
    exact_limit: int = EXACT_LIMIT,
    threads: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> VectorIndex:
    """The index of the library's vectors for ``identity``, from a fresh cache (built first if stale)."""
    info = vectorcache.find_fresh(db, db_path, identity, box_set, exact_limit)
    if info is None:
        info = vectorcache.build(db, db_path, identity, box_set, exact_limit, progress)
    return VectorIndex(info, threads)
