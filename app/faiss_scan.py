"""The search's ranking function on faiss's scalar-quantizer indexes: the field's library, measured
against the hand-written index (``vectors.py``, ``int8.py``) by ``bench-search --index-compare``.

It ranks photos by what ``search.combine`` computes for one query vector q,

    w_global * cos(q, global) + w_region * max_k cos(q, region_k),

in the same two steps as ``VectorIndex`` with the searcher's shortlist:

- candidates from faiss searches: the global embeddings in 8 bits (``IndexScalarQuantizer``, QT_8bit)
  and, for libraries up to ``EXACT_LIMIT`` photos, every region in 4 bits (QT_4bit; its hits name
  region rows, photo = row // K); above that, the global search alone (the two-stage search);
- the candidates scored again from 8-bit codes: faiss decodes them (``sa_decode``) for a float dot.

faiss's searches keep the best ``k`` of a scan; it has no call that returns the score of every vector
cheaply (``range_search`` with a radius below all scores does: about 1 s for a million, tried once)
nor of a chosen subset for these indexes (``search_subset`` is not implemented for them). So
candidates come from two separate top-k lists, not from the combined score of every photo as in
``VectorIndex``.

Files beside each other in one folder: ``global.faiss`` (in memory), ``regions4.faiss`` (in memory,
exact layout only) and ``regions8.faiss`` (memory-mapped: pages read for the candidates only, like the
int8 rows of the vector cache).

Only the benchmark uses this module; faiss is the ``bench`` extra (``pip install '.[bench]'``).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from app.vectorcache import EXACT_LIMIT

_TRAIN = 65_536  # vectors each quantizer's ranges are trained on (the first ones added)
_HEADROOM = 0.05


def load_faiss() -> ModuleType:
    """The faiss module, or an error that says how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise RuntimeError(
            "faiss is not installed: pip install faiss-cpu (or the project's extra: pip install '.[bench]')"
        ) from exc
    return faiss


def _codes(index: Any, faiss: ModuleType) -> np.ndarray:
    """A read-only view (ntotal, code_size) of an index's codes (no copy; mapped pages stay mapped)."""
    size = index.ntotal * index.code_size
    if size == 0:
        return np.zeros((0, index.code_size), np.uint8)
    return faiss.rev_swig_ptr(index.codes.data(), size).reshape(index.ntotal, index.code_size)


class FaissWriter:
    """Builds the indexes of one library from chunks of float vectors, in photo order."""

    def __init__(self, path: Path, n: int, k: int, dim: int) -> None:
        self.faiss = load_faiss()
        self.path, self.n, self.k, self.dim = Path(path), n, k, dim
        self.exact = n <= EXACT_LIMIT
        self.path.mkdir(parents=True, exist_ok=True)
        self._indexes: dict[str, Any] = {"global": self._new(8)}
        self._indexes["regions8"] = self._new(8)
        if self.exact:
            self._indexes["regions4"] = self._new(4)
        self._pending: dict[str, list[np.ndarray]] = {name: [] for name in self._indexes}

    def _new(self, bits: int) -> Any:
        f = self.faiss
        kind = f.ScalarQuantizer.QT_8bit if bits == 8 else f.ScalarQuantizer.QT_4bit
        index = f.IndexScalarQuantizer(self.dim, kind, f.METRIC_INNER_PRODUCT)
        # Each dimension's range is the training sample's min..max widened by this share each side:
        # vectors added later that reach past the sample's extremes are clipped less.
        index.sq.rangestat_arg = _HEADROOM
        return index

    def add(self, embeddings: np.ndarray, regions: np.ndarray) -> None:
        """The next photos' global (b, D) and region (b, K, D) float vectors."""
        flat = np.ascontiguousarray(regions, np.float32).reshape(-1, self.dim)
        batches = {"global": np.ascontiguousarray(embeddings, np.float32), "regions8": flat}
        if self.exact:
            batches["regions4"] = flat
        for name, x in batches.items():
            index = self._indexes[name]
            if not index.is_trained:
                # Ranges per dimension come from the first vectors: hold them until there are enough.
                self._pending[name].append(x)
                held = np.concatenate(self._pending[name])
                if len(held) < _TRAIN and len(held) < self._total(name):
                    continue
                index.train(held[:_TRAIN])
                self._pending[name] = []
                x = held
            index.add(x)

    def _total(self, name: str) -> int:
        return self.n if name == "global" else self.n * self.k

    def finish(self) -> None:
        for name, index in self._indexes.items():
            if index.ntotal != self._total(name):
                raise ValueError(f"faiss {name}: sized for {self._total(name)} vectors, got {index.ntotal}")
            self.faiss.write_index(index, str(self.path / f"{name}.faiss"))
        self._indexes.clear()


class FaissRanker:
    """The top photos for one query vector, from the files ``FaissWriter`` wrote."""

    def __init__(self, path: Path, k: int, w_global: float, w_region: float, threads: int = 0) -> None:
        f = self.faiss = load_faiss()
        if threads > 0:  # OpenMP's, for the whole process (0: faiss's default, one per core)
            f.omp_set_num_threads(threads)
        self.k, self.w_global, self.w_region = k, w_global, w_region
        self.global_ = f.read_index(str(path / "global.faiss"))
        self.regions8 = f.read_index(str(path / "regions8.faiss"), f.IO_FLAG_MMAP_IFC | f.IO_FLAG_READ_ONLY)
        four = path / "regions4.faiss"
        self.regions4 = f.read_index(str(four)) if four.is_file() else None
        self.n = self.global_.ntotal
        self._global_codes = _codes(self.global_, f)
        self._region_codes = _codes(self.regions8, f)

    def memory_bytes(self) -> dict[str, int]:
        """Codes held in memory, by part (the 8-bit regions are mapped from their file, not counted)."""
        parts = {"global 8-bit": self._global_codes.nbytes}
        if self.regions4 is not None:
            parts["regions 4-bit"] = self.regions4.ntotal * self.regions4.code_size
        return parts

    def mapped_bytes(self) -> int:
        return self._region_codes.nbytes

    def candidates(self, query: np.ndarray, count: int) -> np.ndarray:
        """Sorted photo positions: the best ``count`` by the global cosine, and with 4-bit regions also
        the photos of the best ``count`` regions."""
        q = np.ascontiguousarray(query, np.float32).reshape(1, -1)
        _, by_global = self.global_.search(q, min(count, self.n))
        found = [by_global[0]]
        if self.regions4 is not None:
            _, by_region = self.regions4.search(q, min(count, self.regions4.ntotal))
            found.append(by_region[0] // self.k)
        picked = np.concatenate(found)
        return np.unique(picked[picked >= 0])

    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The ranking function of the photos at ``rows`` from their 8-bit codes, decoded by faiss."""
        q = np.asarray(query, np.float32).reshape(-1)
        global_ = self.global_.sa_decode(self._global_codes[rows]) @ q
        best = np.empty(len(rows), np.float32)
        step = 4096  # photos a step: bounds the decoded floats (step x K x D x 4 bytes)
        for s in range(0, len(rows), step):
            chunk = rows[s : s + step]
            region_rows = (chunk[:, None] * self.k + np.arange(self.k)).reshape(-1)
            decoded = self.regions8.sa_decode(self._region_codes[region_rows])
            best[s : s + len(chunk)] = (decoded @ q).reshape(len(chunk), self.k).max(axis=1)
        return self.w_global * global_ + self.w_region * best

    def top(self, query: np.ndarray, count: int, candidates: int) -> np.ndarray:
        """Positions of the best ``count`` photos for ``query``, best first, from ``candidates`` per list."""
        rows = self.candidates(query, candidates)
        scores = self.scores(query, rows)
        order = np.argsort(-scores, kind="stable")[:count]
        return rows[order]
