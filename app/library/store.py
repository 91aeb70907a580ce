"""Reads and writes of library rows: folders, photos, vectors, captions, index runs.

Plain functions over a ``sqlite_utils.Database`` opened by ``db.open_db``. Writes are ``ON CONFLICT``
upserts; none of them commits by itself when the caller holds a transaction (``db.atomic()``), which
is how the indexer commits a batch at once. Every path parameter goes through ``bind_path``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from app.library.blobs import from_blob, regions_from_blob, to_blob, to_int8_blob
from app.library.db import bind_path, under_folder_params, under_folder_sql

_CHUNK = 500  # parameters per IN (...) list, well under SQLite's limit


@dataclass(frozen=True)
class Folder:
    id: int
    path: str
    added_at: float


@dataclass(frozen=True)
class PhotoState:
    """What the indexer needs to know about a known photo to decide whether to read it again."""

    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    has_vectors: bool  # for the model and box set asked about


@dataclass(frozen=True)
class PhotoRecord:
    """One photo's row after it was read (status 'ok' or 'error')."""

    path: str
    folder_id: int
    size: int
    mtime_ns: int
    status: str
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PhotoRow:
    """What a search result shows of one photo."""

    id: int
    path: str
    taken_at: str | None
    width: int | None
    height: int | None
    content_hash: str | None


@dataclass(frozen=True)
class FolderCounts:
    """One folder's photos by state, for the active model."""

    path: str
    photos: int  # photo files known in it
    indexed: int  # ... searchable with the model
    failed: int  # ... that could not be read
    pending: int  # ... waiting for (or interrupted in) an index run


@dataclass(frozen=True)
class StoredVectors:
    embedding: np.ndarray  # (D,) float32
    regions: np.ndarray  # (K, D) float32
    box_set: str


@dataclass(frozen=True)
class RunRow:
    """One index run as stored (``app.library.runs`` decides whether a 'running' one still runs)."""

    started_at: float
    status: str
    total: int | None
    encoded: int | None
    failed: int | None
    pid: int | None
    host: str | None


@dataclass(frozen=True)
class RunCounts:
    total: int = 0
    unchanged: int = 0
    encoded: int = 0
    reused: int = 0
    failed: int = 0
    removed: int = 0


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def read_snapshot(db: Database) -> Iterator[None]:
    """One read transaction: every query inside sees the same state, even while an indexer writes."""
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        db.conn.execute("COMMIT")


def checkpoint(db: Database) -> None:
    """Copy the write-ahead log into the database file and empty it (the file then holds the library)."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ----- folders --------------------------------------------------------------------------------------
def add_folder(db: Database, path: str) -> int:
    """Register a folder (idempotent); return its id."""
    db.execute(
        "INSERT INTO folders (path, added_at) VALUES (CAST(? AS TEXT), ?) ON CONFLICT(path) DO NOTHING",
        [bind_path(path), time.time()],
    )
    row = db.execute("SELECT id FROM folders WHERE path = CAST(? AS TEXT)", [bind_path(path)]).fetchone()
    return int(row[0])


def list_folders(db: Database) -> list[Folder]:
    rows = db.execute("SELECT id, path, added_at FROM folders ORDER BY path").fetchall()
    return [Folder(*row) for row in rows]


def remove_folder(db: Database, path: str) -> None:
    """Forget a folder and its photos (the files are not touched; vectors go at the next prune)."""
    db.execute("DELETE FROM folders WHERE path = CAST(? AS TEXT)", [bind_path(path)])


def drop_moved_photos(db: Database, missing_folders: Sequence[str]) -> int:
    """Forget the photos of folders that are gone from disk whose content was found again elsewhere in
    the library (the folder was renamed or moved), then those folders if nothing else is left in them;
    a photo of a gone folder found nowhere else is kept (an unplugged drive). Returns photos dropped."""
    if not missing_folders:
        return 0
    marks = ",".join("CAST(? AS TEXT)" for _ in missing_folders)
    params = [bind_path(f) for f in missing_folders]
    gone_ids = f"SELECT id FROM folders WHERE path IN ({marks})"
    cursor = db.execute(
        f"""
        DELETE FROM photos WHERE folder_id IN ({gone_ids}) AND content_hash IN (
            SELECT content_hash FROM photos
            WHERE status = 'ok' AND content_hash IS NOT NULL AND folder_id NOT IN ({gone_ids})
        )
        """,
        params + params,
    )
    dropped = cursor.rowcount
    db.execute(
        f"DELETE FROM folders WHERE path IN ({marks}) AND id NOT IN (SELECT folder_id FROM photos)", params
    )
    return dropped


# ----- photos ---------------------------------------------------------------------------------------
def photo_states(db: Database, folder: str, model: str, box_set: str) -> dict[str, PhotoState]:
    """Known photos whose path lies inside ``folder``, by path."""
    sql = f"""
        SELECT p.id, p.path, p.size, p.mtime_ns, p.content_hash, p.status, v.content_hash IS NOT NULL
        FROM photos p
        LEFT JOIN vectors v ON v.content_hash = p.content_hash AND v.model = :model AND v.box_set = :box_set
        WHERE {under_folder_sql("p.path")}
    """
    params = {"model": model, "box_set": box_set, **under_folder_params(folder)}
    return {
        row[1]: PhotoState(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))
        for row in db.execute(sql, params)
    }


def mark_pending(db: Database, files: Iterable[tuple[str, int, int, int]]) -> None:
    """(path, folder id, size, mtime_ns) of files about to be read: status 'pending', hash unknown.

    Rows stay 'pending' until their batch commits, so a run that is killed leaves them for the next.
    """
    with db.atomic():
        db.conn.executemany(
            """
            INSERT INTO photos (path, folder_id, size, mtime_ns, status)
            VALUES (CAST(? AS TEXT), ?, ?, ?, 'pending')
            ON CONFLICT(path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size,
                mtime_ns = excluded.mtime_ns, content_hash = NULL, status = 'pending', error = NULL
            """,
            [(bind_path(path), folder_id, size, mtime_ns) for path, folder_id, size, mtime_ns in files],
        )


def save_photo(db: Database, record: PhotoRecord, indexed_at: float | None = None) -> None:
    """Insert or replace one photo's row."""
    db.execute(
        """
        INSERT INTO photos (path, folder_id, size, mtime_ns, content_hash, width, height, taken_at, status,
                            error, indexed_at)
        VALUES (CAST(:path AS TEXT), :folder_id, :size, :mtime_ns, :content_hash, :width, :height,
                :taken_at, :status, :error, :indexed_at)
        ON CONFLICT(path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size,
            mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash, width = excluded.width,
            height = excluded.height, taken_at = excluded.taken_at, status = excluded.status,
            error = excluded.error, indexed_at = excluded.indexed_at
        """,
        {
            **record.__dict__,
            "path": bind_path(record.path),
            "indexed_at": time.time() if indexed_at is None else indexed_at,
        },
    )


def delete_photos(db: Database, ids: Sequence[int]) -> None:
    with db.atomic():
        for chunk in _chunks(list(ids)):
            db.execute(f"DELETE FROM photos WHERE id IN ({','.join('?' * len(chunk))})", list(chunk))


def count_photos(db: Database, status: str | None = None) -> int:
    if status is None:
        return int(db.execute("SELECT count(*) FROM photos").fetchone()[0])
    return int(db.execute("SELECT count(*) FROM photos WHERE status = ?", [status]).fetchone()[0])


def readable_photo_ids_in(db: Database, folder: str) -> np.ndarray:
    """Ids (int64) of the readable photos at ``folder`` itself or inside it."""
    inside = under_folder_sql("path")
    rows = db.execute(
        f"SELECT id FROM photos WHERE status = 'ok' AND (path = CAST(:exact AS TEXT) OR {inside})",
        {"exact": bind_path(folder), **under_folder_params(folder)},
    )
    return np.fromiter((row[0] for row in rows), dtype=np.int64)


def photo_rows(db: Database, ids: Sequence[int]) -> dict[int, PhotoRow]:
    """The rows of the photos ``ids`` that still exist, by id."""
    found: dict[int, PhotoRow] = {}
    for chunk in _chunks(list(ids)):
        rows = db.execute(
            "SELECT id, path, taken_at, width, height, content_hash FROM photos "
            f"WHERE id IN ({','.join('?' * len(chunk))})",
            list(chunk),
        )
        found.update((row[0], PhotoRow(*row)) for row in rows)
    return found


def photo_paths(db: Database, ids: Sequence[int] | None = None) -> dict[int, str]:
    """id -> path of the photos ``ids`` that still exist (None: of every photo)."""
    if ids is None:
        return dict(db.execute("SELECT id, path FROM photos").fetchall())
    found: dict[int, str] = {}
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, path FROM photos WHERE id IN ({marks})", list(chunk)).fetchall())
    return found


def photo_content_hash(db: Database, photo_id: int) -> str | None:
    """The content hash of one photo (None: no such photo, or not read yet, or unreadable)."""
    row = db.execute("SELECT content_hash FROM photos WHERE id = ?", [photo_id]).fetchone()
    return None if row is None else row[0]


def photo_hashes(db: Database) -> dict[int, str | None]:
    """id -> content hash of every photo (None: not read yet, or unreadable)."""
    return dict(db.execute("SELECT id, content_hash FROM photos").fetchall())


def paths_of_hashes(db: Database, hashes: Iterable[str]) -> dict[str, str]:
    """content hash -> the path of a library photo with those bytes (the first by path), for the hashes
    that some photo has."""
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(hashes))):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT content_hash, min(path) FROM photos WHERE content_hash IN ({marks}) "
            "GROUP BY content_hash",
            list(chunk),
        ).fetchall()
        found.update(rows)
    return found


def captionable_photos(db: Database) -> list[tuple[str, str, float | None]]:
    """(path, content hash, indexed at) of every readable photo: those whose captions are looked for."""
    return db.execute(
        "SELECT path, content_hash, indexed_at FROM photos WHERE status = 'ok' AND content_hash IS NOT NULL"
    ).fetchall()


def readable_photo_files(db: Database) -> list[tuple[str, str, int, int]]:
    """(content hash, path, size, mtime_ns) of every readable photo, by path: what the library last read
    at each path, to tell a file that is still the same from one that changed since."""
    rows = db.execute(
        "SELECT content_hash, path, size, mtime_ns FROM photos "
        "WHERE status = 'ok' AND content_hash IS NOT NULL ORDER BY path"
    )
    return [(digest, os.fsdecode(path), int(size), int(mtime)) for digest, path, size, mtime in rows]


# ----- counts (status) ------------------------------------------------------------------------------
def photo_counts_by_status(db: Database) -> dict[str, int]:
    """status ('ok', 'error', 'pending') -> photos; a status no photo has is left out."""
    return dict(db.execute("SELECT status, count(*) FROM photos GROUP BY status").fetchall())


def photos_per_folder(db: Database) -> list[tuple[str, int]]:
    """(folder path, photos known in it) of every folder, in the order the folders were added."""
    rows = db.execute(
        "SELECT f.path, count(p.id) FROM folders f LEFT JOIN photos p ON p.folder_id = f.id GROUP BY f.id"
    )
    return [(path, int(n)) for path, n in rows]


def failed_photos(db: Database) -> list[tuple[str, str]]:
    """(path, reason) of every photo that could not be read, by path."""
    rows = db.execute(
        "SELECT path, coalesce(error, 'unknown reason') FROM photos WHERE status = 'error' ORDER BY path"
    )
    return [(str(path), str(reason)) for path, reason in rows.fetchall()]


def photo_folders(db: Database) -> set[str]:
    """Every folder that directly holds a known photo (subfolders of the library's folders too)."""
    return {os.path.dirname(path) for (path,) in db.execute("SELECT path FROM photos").fetchall()}


def folder_counts(db: Database, model: str) -> list[FolderCounts]:
    """Every folder's photos by state for ``model``, by folder path, in one query."""
    rows = db.execute(
        """
        SELECT f.path, count(p.id),
               coalesce(sum(p.status = 'ok' AND v.content_hash IS NOT NULL), 0),
               coalesce(sum(p.status = 'error'), 0),
               coalesce(sum(p.status = 'pending' OR (p.status = 'ok' AND v.content_hash IS NULL)), 0)
        FROM folders f
        LEFT JOIN photos p ON p.folder_id = f.id
        LEFT JOIN vectors v ON v.content_hash = p.content_hash AND v.model = ?
        GROUP BY f.id ORDER BY f.path
        """,
        [model],
    ).fetchall()
    return [FolderCounts(*row) for row in rows]


def vectors_per_model(db: Database) -> list[tuple[str, int]]:
    """(model identity, photos' contents with its vectors) of every model the library holds vectors of."""
    return [(model, int(n)) for model, n in db.execute("SELECT model, count(*) FROM vectors GROUP BY model")]


def count_captions(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM captions").fetchone()[0])


# ----- vectors --------------------------------------------------------------------------------------
def hashes_with_vectors(db: Database, hashes: Iterable[str], model: str, box_set: str) -> set[str]:
    """The subset of ``hashes`` that already have vectors for ``model`` and ``box_set``."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(hashes))):
        rows = db.execute(
            f"SELECT content_hash FROM vectors WHERE model = ? AND box_set = ? "
            f"AND content_hash IN ({','.join('?' * len(chunk))})",
            [model, box_set, *chunk],
        )
        found.update(row[0] for row in rows)
    return found


def put_vectors(
    db: Database, content_hash: str, model: str, embedding: np.ndarray, box_set: str, regions: np.ndarray
) -> None:
    """Store one image's global (D,) and region (K, D) embeddings, replacing older ones."""
    embedding = np.asarray(embedding)
    regions = np.asarray(regions)
    if embedding.ndim != 1 or regions.ndim != 2 or regions.shape[1] != embedding.shape[0]:
        raise ValueError(f"expected (D,) and (K, D) vectors, got {embedding.shape} and {regions.shape}")
    db.execute(
        """
        INSERT INTO vectors (content_hash, model, dim, embedding, box_set, region_count, regions,
            regions_dtype, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'int8', ?)
        ON CONFLICT(content_hash, model) DO UPDATE SET dim = excluded.dim, embedding = excluded.embedding,
            box_set = excluded.box_set, region_count = excluded.region_count, regions = excluded.regions,
            regions_dtype = excluded.regions_dtype, created_at = excluded.created_at
        """,
        [
            content_hash,
            model,
            embedding.shape[0],
            to_blob(embedding),
            box_set,
            regions.shape[0],
            to_int8_blob(regions),
            time.time(),
        ],
    )


def get_vectors(db: Database, content_hash: str, model: str) -> StoredVectors | None:
    row = db.execute(
        "SELECT dim, embedding, box_set, region_count, regions, regions_dtype FROM vectors "
        "WHERE content_hash = ? AND model = ?",
        [content_hash, model],
    ).fetchone()
    if row is None:
        return None
    dim, embedding, box_set, count, regions, regions_dtype = row
    return StoredVectors(
        from_blob(embedding, (dim,)), regions_from_blob(regions, (count, dim), regions_dtype), box_set
    )


def load_embeddings(db: Database, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Photo ids (N,) int64 and their global embeddings (N, D) float32, for photos indexed with ``model``.

    Duplicates appear once per photo (they share one stored vector)."""
    rows = db.execute(
        """
        SELECT p.id, v.dim, v.embedding FROM photos p
        JOIN vectors v ON v.content_hash = p.content_hash AND v.model = ?
        WHERE p.status = 'ok' ORDER BY p.id
        """,
        [model],
    ).fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    dim = rows[0][1]
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.stack([from_blob(row[2], (dim,)) for row in rows])
    return ids, matrix


def all_vectors(db: Database, model: str) -> dict[str, StoredVectors]:
    """content hash -> stored vectors, of every content with vectors of ``model`` (reads every BLOB)."""
    rows = db.execute(
        "SELECT content_hash, dim, embedding, box_set, region_count, regions, regions_dtype FROM vectors "
        "WHERE model = ?",
        [model],
    )
    return {
        digest: StoredVectors(
            from_blob(embedding, (dim,)), regions_from_blob(regions, (count, dim), dtype), box_set
        )
        for digest, dim, embedding, box_set, count, regions, dtype in rows
    }


def prune_vectors(db: Database) -> int:
    """Delete vectors (and captions) whose content no photo has any more; return how many vectors."""
    orphan = "NOT IN (SELECT content_hash FROM photos WHERE content_hash IS NOT NULL)"
    removed = db.execute(f"DELETE FROM vectors WHERE content_hash {orphan}").rowcount
    db.execute(f"DELETE FROM captions WHERE source != 'user' AND content_hash {orphan}")
    return int(removed)


def known_hashes(db: Database) -> set[str]:
    rows = db.execute("SELECT DISTINCT content_hash FROM photos WHERE content_hash IS NOT NULL")
    return {row[0] for row in rows}


# ----- captions -------------------------------------------------------------------------------------
def put_caption(db: Database, content_hash: str, source: str, text: str) -> int:
    """Set the caption of one source for a photo's content; return its id. Its old vectors are dropped."""
    db.execute(
        """
        INSERT INTO captions (content_hash, source, text, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(content_hash, source) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at
        """,
        [content_hash, source, text, time.time()],
    )
    caption_id = int(
        db.execute(
            "SELECT id FROM captions WHERE content_hash = ? AND source = ?", [content_hash, source]
        ).fetchone()[0]
    )
    db.execute("DELETE FROM caption_vectors WHERE caption_id = ?", [caption_id])
    return caption_id


def put_caption_vector(db: Database, caption_id: int, model: str, embedding: np.ndarray) -> None:
    db.execute(
        """
        INSERT INTO caption_vectors (caption_id, model, embedding) VALUES (?, ?, ?)
        ON CONFLICT(caption_id, model) DO UPDATE SET embedding = excluded.embedding
        """,
        [caption_id, model, to_blob(embedding)],
    )


def captions_for(db: Database, content_hash: str) -> dict[str, str]:
    """source -> text for one photo's content."""
    rows = db.execute("SELECT source, text FROM captions WHERE content_hash = ?", [content_hash])
    return dict(rows.fetchall())


def all_captions(db: Database) -> dict[str, dict[str, str]]:
    """content hash -> source -> text of every caption, the person's own ('user') included."""
    found: dict[str, dict[str, str]] = {}
    for digest, source, text in db.execute("SELECT content_hash, source, text FROM captions ORDER BY id"):
        found.setdefault(digest, {})[source] = text
    return found


def automatic_captions(db: Database) -> dict[tuple[str, str], str]:
    """(content hash, source) -> text of every caption the app found (a person's own are left out)."""
    rows = db.execute("SELECT content_hash, source, text FROM captions WHERE source != 'user'")
    return {(digest, source): text for digest, source, text in rows}


def delete_caption(db: Database, content_hash: str, source: str) -> None:
    db.execute("DELETE FROM captions WHERE content_hash = ? AND source = ?", [content_hash, source])


def captions_to_embed(db: Database, model: str) -> list[tuple[int, str]]:
    """(caption id, text) of every caption of a readable photo that has no vector for ``model``."""
    return db.execute(
        """
        SELECT c.id, c.text FROM captions c
        LEFT JOIN caption_vectors cv ON cv.caption_id = c.id AND cv.model = ?
        WHERE cv.caption_id IS NULL
          AND c.content_hash IN (SELECT content_hash FROM photos WHERE status = 'ok')
        ORDER BY c.id
        """,
        [model],
    ).fetchall()


# ----- index runs -----------------------------------------------------------------------------------
def start_run(db: Database, model: str) -> int:
    """A new 'running' index run, owned by this process on this host (see ``app.library.runs``)."""
    cursor = db.execute(
        "INSERT INTO index_runs (started_at, status, model, pid, host) VALUES (?, 'running', ?, ?, ?)",
        [time.time(), model, os.getpid(), socket.gethostname()],
    )
    return int(cursor.lastrowid)


def finish_run(db: Database, run_id: int, status: str, counts: RunCounts) -> None:
    db.execute(
        """
        UPDATE index_runs SET finished_at = :finished_at, status = :status, total = :total,
            unchanged = :unchanged, encoded = :encoded, reused = :reused, failed = :failed, removed = :removed
        WHERE id = :id
        """,
        {"finished_at": time.time(), "status": status, "id": run_id, **counts.__dict__},
    )


def run_started_at(db: Database, run_id: int) -> float:
    """When index run ``run_id`` started (unix seconds)."""
    return float(db.execute("SELECT started_at FROM index_runs WHERE id = ?", [run_id]).fetchone()[0])


def database_file(db: Database) -> Path | None:
    """The file of the connection's main database (None: an in-memory one)."""
    name = db.execute("PRAGMA database_list").fetchone()[2]
    return Path(name) if name else None


def last_run(db: Database) -> RunRow | None:
    """The latest index run, as stored; None if the library was never indexed."""
    row = db.execute(
        "SELECT started_at, status, total, encoded, failed, pid, host FROM index_runs"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else RunRow(*row)
