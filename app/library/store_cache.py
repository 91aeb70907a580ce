"""The store's reads for the vector cache (``app.vectorcache``): its fingerprint and the rows it is built of.

Part of the store (the library's one owner of SQL), kept apart because these reads serve one reader and
stream every vector of a model. Call them inside ``store.read_snapshot`` so the fingerprint and the rows
describe the same state of the library.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlite_utils import Database

from app.library.migrations import user_version

# Photos with vectors of the model (``?``): the rows a cache holds, in both the count and the read.
_CACHED_PHOTOS = (
    "FROM photos p JOIN vectors v ON v.content_hash = p.content_hash AND v.model = ? WHERE p.status = 'ok'"
)


@dataclass(frozen=True)
class Aggregates:
    """SQL aggregates that change whenever the vectors a search sees change; reading them reads no BLOB."""

    schema: int
    photos: list[object]  # readable photos: count, max id, max indexed_at, total of ids
    vectors: list[object]  # the model's vectors: count, max rowid
    captions: list[object]  # count, max updated_at, max id
    caption_vectors: list[object]  # the model's caption vectors: count, max rowid


def aggregates(db: Database, model: str) -> Aggregates:
    photos = db.execute(
        "SELECT count(*), max(id), max(indexed_at), total(id) FROM photos WHERE status = 'ok'"
    ).fetchone()
    # Covered by the index on vectors(model): the rowid of an upserted row stays, but re-encoding a
    # photo also rewrites its photo row, which moves max(indexed_at).
    vectors = db.execute("SELECT count(*), max(rowid) FROM vectors WHERE model = ?", [model]).fetchone()
    captions = db.execute("SELECT count(*), max(updated_at), max(id) FROM captions").fetchone()
    caption_vectors = db.execute(
        "SELECT count(*), max(rowid) FROM caption_vectors WHERE model = ?", [model]
    ).fetchone()
    return Aggregates(user_version(db), list(photos), list(vectors), list(captions), list(caption_vectors))


def count_cached_photos(db: Database, model: str) -> int:
    """Readable photos with vectors of ``model`` (counted through indexes; no BLOB read)."""
    return int(db.execute(f"SELECT count(*) {_CACHED_PHOTOS}", [model]).fetchone()[0])


def vector_shape(db: Database, model: str, box_set: str) -> tuple[int, int]:
    """(dimensions, regions per photo) of ``model``'s vectors with ``box_set``; (0, 0) when there are none."""
    row = db.execute(
        "SELECT dim, region_count FROM vectors WHERE model = ? AND box_set = ? LIMIT 1", [model, box_set]
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def cached_photo_batches(db: Database, model: str, size: int) -> Iterator[list[tuple]]:
    """The rows a cache is built from, in photo id order, ``size`` at a time. Each row is (photo id,
    folder id, taken_at, mtime_ns, content hash, box set, dim, region count, embedding BLOB, regions
    BLOB, regions dtype): plain tuples, since a large library streams a million of them."""
    rows = db.execute(
        "SELECT p.id, p.folder_id, p.taken_at, p.mtime_ns, p.content_hash, v.box_set, v.dim, v.region_count, "
        f"v.embedding, v.regions, v.regions_dtype {_CACHED_PHOTOS} ORDER BY p.id",
        [model],
    )
    while batch := rows.fetchmany(size):
        yield batch


def caption_vector_rows(db: Database, model: str) -> Iterator[tuple[str, bytes, str]]:
    """(content hash, embedding BLOB, text) of every caption vector of ``model``, in caption id order."""
    yield from db.execute(
        "SELECT c.content_hash, cv.embedding, c.text FROM caption_vectors cv "
        "JOIN captions c ON c.id = cv.caption_id "
        "WHERE cv.model = ? ORDER BY c.id",
        [model],
    )
