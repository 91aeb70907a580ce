"""The vector cache: a library's vectors for one model, as flat int8 files beside the database.

Why: SQLite keeps each photo's vectors as BLOBs (a float16 global embedding and 14 int8 regions, about
4.2 KB at D = 256; ``library/blobs.py``), and reading 100k of them back takes seconds. The cache holds
the same vectors already in the layout search scores them in (``int8.py``), so opening a library is a
few memory maps and one onnxruntime session.

Layout: ``<db>.vcache/<identity key>/<fingerprint key>/`` with ``meta.json`` written last (a directory
without it is a build that did not finish). The fingerprint is a handful of SQL aggregates (photo
count, highest id, latest ``indexed_at``, vector count and highest rowid for the model, caption counts)
that change whenever the vectors a search would see change; computing it reads no BLOB. A stale cache
is rebuilt from the BLOBs in one read transaction (a consistent snapshot while an indexer writes) and
renamed into place; older builds of the same model are then deleted.

Files (N photos, K regions each, D dims (Dp: padded to a multiple of 16), photos in id order):
- ``ids.i64``, ``folders.i32``, ``times.f64`` (local wall-clock seconds of EXIF ``taken_at``, else of the
  file's mtime), ``usable.u8`` (0 for a photo whose vectors belong to another box set);
- ``global.i8`` (Dp, N) and ``global.f32`` (N,): int8 global embeddings, one column each;
- ``region_rows.i8`` (N*K, D) and ``regions.f32`` (N*K,): int8 region embeddings, one row each, read for
  a shortlist only (so they stay on disk: ``blockfile`` reads the shortlist's rows);
- with every photo's regions scored (N <= ``EXACT_LIMIT``): ``regions4.u8`` and ``regions4.f32``, the
  ``COARSE_BOXES`` regions (5 of 14) again in 4 bits for the coarse pass (``int8.py``);
- ``captions.i64`` (C,) photo positions and ``captions.f16`` (C, D) caption embeddings, and
  ``captions.json`` their texts (a JSON list, the same order; search weighs their words,
  ``core.caption_words``);
- ``scores.onnx``: the column model over ``global.i8`` (and ``regions4.u8``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from app.int8 import ColumnMatrix, block_size, padded_dim, quantize_4bit, quantize_rows, write_column_model
from app.library import store, store_cache
from app.library.blobs import from_blob, regions_from_blob
from app.library.dates import local_seconds
from app.library.db import known_sqlite_errors
from core.region_boxes import BOXES

CACHE_FORMAT = 3  # 3: captions' texts kept beside their vectors
# Above this many photos the 4-bit regions (5 x 136 bytes a photo) stop being held in memory and
# scored for every photo; a two-stage search scores the regions of the global stage's best instead.
EXACT_LIMIT = 250_000
# The boxes (of ``regions.BOXES``) the coarse 4-bit pass scores: the 2x2 quarters and the centre box,
# 5/14 of the 4-bit regions' memory (68 MB instead of 190 MB at 100k photos). The coarse pass only picks
# the shortlist; the shortlist's photos are scored on all 14 boxes from the int8 rows. Measured by a
# probe on the test world library (1,000 photos, demo-int8): the share of the exact top 10 kept by the
# coarse shortlist, captions / small-object queries: at a 2 % shortlist 1.000 / 1.000 with 5 boxes as
# with 14; at 1 %, 0.966 / 0.938 with 5 boxes against 0.989 / 0.975 with 14. The shortlist is
# ``search.shortlist_size`` (2,000 photos or 1 %, so 2 % at 100k).
COARSE_BOXES: tuple[int, ...] = (0, 1, 2, 3, 13)
META = "meta.json"
CAPTION_TEXTS = "captions.json"
_READ_CHUNK = 2048  # photos per step while building


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    n: int
    k: int
    dim: int
    exact: bool
    meta: dict[str, Any]


def cache_root(db_path: str | Path) -> Path:
    """``<db>.vcache`` beside the library; for a library in a folder this process cannot write (a
    read-only disk), a folder of its own under the app's data folder, named by the library's path."""
    if os.access(Path(db_path).parent, os.W_OK):
        return Path(str(db_path) + ".vcache")
    from app.home import data_dir

    key = hashlib.sha256(str(Path(db_path).resolve()).encode()).hexdigest()[:16]
    return data_dir() / "read-only-caches" / f"{Path(db_path).stem}-{key}.vcache"


def identity_dir(db_path: str | Path, identity: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in identity)[:80]
    return cache_root(db_path) / f"{safe}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def fingerprint(db: Database, identity: str, box_set: str) -> dict[str, Any]:
    """SQL aggregates that change whenever the vectors a search sees change; reads no BLOB."""
    found = store_cache.aggregates(db, identity)
    return {
        "format": CACHE_FORMAT,
        "schema": found.schema,
        "identity": identity,
        "box_set": box_set,
        "photos": found.photos,
        "vectors": found.vectors,
        "captions": found.captions,
        "caption_vectors": found.caption_vectors,
    }


def coarse_boxes(k: int) -> tuple[int, ...]:
    """The regions (of a photo's ``k``) held in 4 bits: ``COARSE_BOXES`` of the app's box set, all of
    another (a test's few boxes)."""
    return COARSE_BOXES if k == len(BOXES) else tuple(range(k))


def fingerprint_key(fp: dict[str, Any], exact_limit: int) -> str:
    # The coarse boxes are part of the key: a cache of another coarse set is rebuilt.
    text = json.dumps(
        {**fp, "exact_limit": exact_limit, "coarse_boxes": list(COARSE_BOXES)}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----- writing -----------------------------------------------------------------------------------------
def _raw_map(path: Path, dtype: Any, shape: tuple[int, ...], mode: str) -> np.ndarray:
    """A bare little-endian array file (no header, so onnxruntime can map it at offset 0)."""
    if int(np.prod(shape)) == 0:
        if mode == "w+":
            path.write_bytes(b"")
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode=mode, shape=shape)


class CacheWriter:
    """Writes one cache directory from chunks of photos (from the database, or synthetic for benchmarks)."""

    def __init__(
        self, path: Path, n: int, k: int, dim: int, exact: bool, meta: dict[str, Any] | None = None
    ) -> None:
        self.path, self.n, self.k, self.dim, self.exact = Path(path), n, k, dim, exact
        self.padded = padded_dim(dim)
        self.block = block_size(self.padded)
        self.coarse = coarse_boxes(k)
        self.meta = dict(meta or {})
        self.path.mkdir(parents=True, exist_ok=True)
        self._done = 0
        self._arrays: dict[str, np.ndarray] = {}
        for name, (dtype, shape) in file_shapes(n, k, dim, exact).items():
            self._arrays[name] = _raw_map(self.path / name, dtype, shape, "w+")

    def add(
        self,
        ids: np.ndarray,
        folders: np.ndarray,
        times: np.ndarray,
        embeddings: np.ndarray,
        regions: np.ndarray,
        usable: np.ndarray | None = None,
    ) -> None:
        """The next ``b`` photos: ids, folder ids, local times, global (b, D) and region (b, K, D) floats."""
        a, b, k = self._arrays, len(ids), self.k
        s, e = self._done, self._done + b
        if e > self.n:
            raise ValueError(f"cache sized for {self.n} photos got {e}")
        a["ids.i64"][s:e], a["folders.i32"][s:e], a["times.f64"][s:e] = ids, folders, times
        a["usable.u8"][s:e] = 1 if usable is None else usable
        q, scale = quantize_rows(embeddings)
        a["global.i8"][: self.dim, s:e], a["global.f32"][s:e] = q.T, scale  # padding rows stay 0
        flat = np.asarray(regions, dtype=np.float32).reshape(b * k, self.dim)
        q, scale = quantize_rows(flat)
        a["region_rows.i8"][s * k : e * k], a["regions.f32"][s * k : e * k] = q, scale
        if self.exact:
            c = len(self.coarse)
            padded = np.zeros((b * c, self.padded), np.float32)
            padded[:, : self.dim] = flat.reshape(b, k, self.dim)[:, self.coarse].reshape(b * c, self.dim)
            packed, scales = quantize_4bit(padded, self.block)
            blocks = self.padded // self.block
            a["regions4.u8"][s * c : e * c], a["regions4.f32"][s * c * blocks : e * c * blocks] = (
                packed,
                scales,
            )
        self._done = e

    def finish(
        self, caption_positions: np.ndarray, caption_vectors: np.ndarray, caption_texts: Sequence[str] = ()
    ) -> CacheInfo:
        """Write the captions (photo positions (C,), embeddings (C, D), texts), the scoring model and
        meta.json."""
        if len(caption_texts) != len(caption_positions):
            raise ValueError(f"{len(caption_positions)} caption vectors but {len(caption_texts)} texts")
        if self._done != self.n:
            raise ValueError(f"cache sized for {self.n} photos got {self._done}")
        for array in self._arrays.values():
            if isinstance(array, np.memmap):
                array.flush()
        self._arrays.clear()
        np.asarray(caption_positions, dtype="<i8").tofile(self.path / "captions.i64")
        np.asarray(caption_vectors, dtype="<f2").tofile(self.path / "captions.f16")
        (self.path / CAPTION_TEXTS).write_text(json.dumps(list(caption_texts), ensure_ascii=False))
        if self.n:
            matrices = [ColumnMatrix("global", "global.i8", "global.f32", self.n)]
            if self.exact:
                c = len(self.coarse)
                m = ColumnMatrix("regions", "regions4.u8", "regions4.f32", self.n * c, c, 4, self.block)
                matrices.append(m)
            write_column_model(self.path / "scores.onnx", self.padded, matrices)
        meta = {
            **self.meta,
            "format": CACHE_FORMAT,
            "n": self.n,
            "k": self.k,
            "dim": self.dim,
            "exact": self.exact,
            "coarse_boxes": list(self.coarse),
            "captions": len(caption_positions),
            "created_at": time.time(),
        }
        (self.path / META).write_text(json.dumps(meta, indent=1))
        return CacheInfo(self.path, self.n, self.k, self.dim, self.exact, meta)


def file_shapes(n: int, k: int, dim: int, exact: bool) -> dict[str, tuple[Any, tuple[int, ...]]]:
    """The fixed-size files of a cache: name -> (dtype, shape)."""
    padded = padded_dim(dim)
    block = block_size(padded)
    shapes: dict[str, tuple[Any, tuple[int, ...]]] = {
        "ids.i64": ("<i8", (n,)),
        "folders.i32": ("<i4", (n,)),
        "times.f64": ("<f8", (n,)),
        "usable.u8": ("u1", (n,)),
        "global.i8": ("i1", (padded, n)),
        "global.f32": ("<f4", (n,)),
        "region_rows.i8": ("i1", (n * k, dim)),
        "regions.f32": ("<f4", (n * k,)),
    }
    if exact:
        c = len(coarse_boxes(k))
        shapes["regions4.u8"] = ("u1", (n * c, padded // block, block // 2))
        shapes["regions4.f32"] = ("<f4", (n * c * (padded // block),))
    return shapes


def open_arrays(info: CacheInfo) -> dict[str, np.ndarray]:
    """Read-only memory maps of a cache's files, by name (captions included). A map reads nothing
    until a page is touched: the int8 region rows are read by their users a few blocks at a time."""
    arrays = {}
    for name, (dtype, shape) in file_shapes(info.n, info.k, info.dim, info.exact).items():
        arrays[name] = _raw_map(info.path / name, dtype, shape, "r")
    c = int(info.meta.get("captions", 0))
    arrays["captions.i64"] = _raw_map(info.path / "captions.i64", "<i8", (c,), "r")
    arrays["captions.f16"] = _raw_map(info.path / "captions.f16", "<f2", (c, info.dim), "r")
    return arrays


def read_caption_texts(info: CacheInfo) -> list[str]:
    """The captions' texts, in the order of their vectors."""
    texts = json.loads((info.path / CAPTION_TEXTS).read_text())
    if not isinstance(texts, list) or len(texts) != int(info.meta.get("captions", 0)):
        raise ValueError(f"{info.path / CAPTION_TEXTS} does not match the cache's captions")
    return [str(t) for t in texts]


# ----- finding and building ----------------------------------------------------------------------------
def read_info(path: Path) -> CacheInfo | None:
    """The cache at ``path``, or None when it is absent, unfinished or of another format."""
    try:
        meta = json.loads((path / META).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != CACHE_FORMAT:
        return None
    if meta.get("exact") and meta.get("coarse_boxes") != list(coarse_boxes(int(meta["k"]))):
        return None  # 4-bit regions of another coarse set (a cache not found by its key: benchmarks')
    return CacheInfo(path, int(meta["n"]), int(meta["k"]), int(meta["dim"]), bool(meta["exact"]), meta)


def find_fresh(
    db: Database, db_path: str | Path, identity: str, box_set: str, exact_limit: int = EXACT_LIMIT
) -> CacheInfo | None:
    """The cache matching the database as it is now, if one was built."""
    key = fingerprint_key(fingerprint(db, identity, box_set), exact_limit)
    return read_info(identity_dir(db_path, identity) / key)


def build(
    db: Database,
    db_path: str | Path,
    identity: str,
    box_set: str,
    exact_limit: int = EXACT_LIMIT,
    progress: Callable[[int, int], None] | None = None,
) -> CacheInfo:
    """Build the cache of ``identity``'s vectors from the database (a consistent snapshot) and return it."""
    home = identity_dir(db_path, identity)
    home.mkdir(parents=True, exist_ok=True)
    # One read snapshot: fingerprint and rows agree even while an indexer writes.
    with known_sqlite_errors(db_path), store.read_snapshot(db):
        fp = fingerprint(db, identity, box_set)
        key = fingerprint_key(fp, exact_limit)
        existing = read_info(home / key)
        if existing is not None:
            return existing
        stage = Path(tempfile.mkdtemp(prefix=".build-", dir=home))
        try:
            info = _write_from_db(db, stage, identity, box_set, exact_limit, fp, progress)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    final = home / key
    if final.exists() and read_info(final) is None:
        shutil.rmtree(final, ignore_errors=True)  # damaged (builds are renamed in whole, with meta.json)
    try:
        stage.rename(final)
    except OSError:  # another process finished the same build first
        shutil.rmtree(stage, ignore_errors=True)
        found = read_info(final)
        if found is None:
            raise
        return found
    _remove_others(home, keep=final)
    return CacheInfo(final, info.n, info.k, info.dim, info.exact, info.meta)


def _remove_others(home: Path, keep: Path) -> None:
    """Older builds of this model (a process still using one keeps its open maps on Linux)."""
    for entry in home.iterdir():
        if entry != keep and entry.is_dir() and not entry.name.startswith(".build-"):
            shutil.rmtree(entry, ignore_errors=True)
    # Unfinished builds older than an hour were left by a killed process.
    for entry in home.glob(".build-*"):
        try:
            stale = time.time() - entry.stat().st_mtime > 3600
        except FileNotFoundError:  # another build (the window reloading mid-run) renamed it meanwhile
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)


def _write_from_db(
    db: Database,
    stage: Path,
    identity: str,
    box_set: str,
    exact_limit: int,
    fp: dict[str, Any],
    progress: Callable[[int, int], None] | None,
) -> CacheInfo:
    # Both read through indexes (no BLOB read); the box set is checked row by row below.
    n = store_cache.count_cached_photos(db, identity)
    dim, k = store_cache.vector_shape(db, identity, box_set)
    writer = CacheWriter(
        stage, n, k, dim, n <= exact_limit, {"identity": identity, "box_set": box_set, "fingerprint": fp}
    )
    positions: dict[str, list[int]] = {}
    done = 0
    for batch in store_cache.cached_photo_batches(db, identity, _READ_CHUNK):
        b = len(batch)
        ids = np.empty(b, np.int64)
        folders = np.empty(b, np.int32)
        times = np.empty(b, np.float64)
        usable = np.ones(b, np.uint8)
        embeds = np.zeros((b, dim), np.float32)
        regions = np.zeros((b, k, dim), np.float32)
        for i, (pid, folder, taken, mtime, digest, bs, d, rk, emb, reg, reg_dtype) in enumerate(batch):
            ids[i], folders[i], times[i] = pid, folder, local_seconds(taken, mtime)
            positions.setdefault(digest, []).append(done + i)
            if bs != box_set or d != dim or rk != k:
                usable[i] = 0  # waits for the indexer to recompute it with this box set
                continue
            embeds[i] = from_blob(emb, (dim,))
            regions[i] = regions_from_blob(reg, (k, dim), reg_dtype)
        writer.add(ids, folders, times, embeds, regions, usable)
        done += b
        if progress is not None:
            progress(done, n)
    cap_rows: list[int] = []
    cap_vecs: list[np.ndarray] = []
    cap_texts: list[str] = []
    for digest, blob, text in store_cache.caption_vector_rows(db, identity):
        for position in positions.get(digest, ()):
            cap_rows.append(position)
            cap_vecs.append(from_blob(blob, (dim,)))
            cap_texts.append(text)
    vectors = np.stack(cap_vecs) if cap_vecs else np.zeros((0, dim), np.float32)
    return writer.finish(np.array(cap_rows, dtype=np.int64), vectors, cap_texts)


def cache_bytes(info: CacheInfo) -> int:
    return sum(f.stat().st_size for f in info.path.iterdir() if f.is_file())


def remove_all(db_path: str | Path) -> None:
    shutil.rmtree(cache_root(db_path), ignore_errors=True)
