"""The schema, as numbered forward-only migrations; ``PRAGMA user_version`` says which have run.

Migration N (1-based) is ``MIGRATIONS[N - 1]``: a tuple of SQL statements run in one transaction
together with ``PRAGMA user_version = N`` (SQLite keeps that number in the file header, inside the
transaction), so a crash mid-migration leaves the database at N - 1. Never edit a released
migration; append a new one. Before migrating a database that already holds a schema, a copy is made
beside it as ``<db>.bak-v<old version>`` with SQLite's online backup API (WAL contents included).

Conventions: times are unix seconds (REAL); ``taken_at`` is ISO 8601 text from EXIF (local time, with
the offset when the camera wrote one); vectors are little-endian BLOBs (``blobs.py``; regions int8
from schema 2) keyed by (content hash, model identity), so a moved photo keeps its vectors,
duplicates share them and two models' vectors never mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database

from app.library.errors import DatabaseTooNewError, LibraryError
from app.library.snapshot import copy_database

V1 = (
    """
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,      -- absolute, as the user added it (see db.py on path encoding)
        added_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,          -- bytes; with mtime_ns, decides whether the file changed
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT,              -- sha256 hex of the bytes; NULL until read
        width INTEGER,                  -- after EXIF orientation
        height INTEGER,
        taken_at TEXT,                  -- EXIF DateTimeOriginal, ISO 8601; NULL if absent
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('ok', 'error', 'pending')),
        error TEXT,                     -- for status 'error': a sentence for the user
        indexed_at REAL
    )
    """,
    "CREATE INDEX photos_folder ON photos(folder_id)",
    "CREATE INDEX photos_hash ON photos(content_hash)",
    """
    CREATE TABLE vectors (
        content_hash TEXT NOT NULL,
        model TEXT NOT NULL,            -- the runtime's identity: model + variant + graphs
        dim INTEGER NOT NULL,           -- D
        embedding BLOB NOT NULL,        -- D float16, L2-normalised before rounding
        box_set TEXT NOT NULL,          -- name of the candidate box set (regions.py)
        region_count INTEGER NOT NULL,  -- K
        regions BLOB NOT NULL,          -- K x D float16, row-major, in the box set's order
        created_at REAL NOT NULL,
        PRIMARY KEY (content_hash, model)
    )
    """,
    "CREATE INDEX vectors_model ON vectors(model)",
    """
    CREATE TABLE captions (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('sidecar', 'xmp', 'exif', 'user')),
        text TEXT NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (content_hash, source)
    )
    """,
    """
    CREATE TABLE caption_vectors (
        caption_id INTEGER NOT NULL REFERENCES captions(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        embedding BLOB NOT NULL,        -- D float16, like vectors.embedding
        PRIMARY KEY (caption_id, model)
    )
    """,
    """
    CREATE TABLE index_runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'cancelled', 'failed')),
        model TEXT NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,      -- files found
        unchanged INTEGER NOT NULL DEFAULT 0,  -- skipped: same size and mtime, vectors present
        encoded INTEGER NOT NULL DEFAULT 0,    -- images run through the model
        reused INTEGER NOT NULL DEFAULT 0,     -- new paths whose content already had vectors
        failed INTEGER NOT NULL DEFAULT 0,     -- recorded with status 'error'
        removed INTEGER NOT NULL DEFAULT 0     -- rows of files that vanished
    )
    """,
)

# Region embeddings as row-scaled int8 (blobs.py): rows written before keep float16 and say so.
V2 = ("ALTER TABLE vectors ADD COLUMN regions_dtype TEXT NOT NULL DEFAULT 'float16'",)

# Which process runs an index run, so that a run whose process died (killed, power cut) reads as
# interrupted rather than 'running' forever (runs.py).
V3 = (
    "ALTER TABLE index_runs ADD COLUMN pid INTEGER",
    "ALTER TABLE index_runs ADD COLUMN host TEXT",
)

# Taught names (issue 12): a name, the photos and boxes it was taught from, and per model bundle the
# learned input embedding of its placeholder token. Names leave the machine only in a concept pack the
# person exports (app/personal/pack.py). The columns are described here rather than in SQL comments,
# because SQLite keeps each statement's text in its schema page, and the whole schema should stay on
# the file's first page (a damaged page elsewhere must not make the library unopenable; tests/faults).
# - names: name as typed; key, normalised like a caption (core.names.name_key), unique so that "Rex"
#   and "REX" are one name; kind ("dog"), where its embedding starts and what its box proposal looks
#   for; slot N of the placeholder [unusedN] it is typed as in the text graph.
# - name_photos: by content hash (found again after a move) and the path when taught; the box as
#   fractions x, y, w, h of the upright photo; proposed = 1 when grounding the kind proposed it.
# - name_params: per name and bundle identity (model): the weights' sha256 it was learned against
#   (checkpoint), the method ("token"), the embedding as dim float32 (token), photos and seconds.
V4 = (
    "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE, "
    "kind TEXT NOT NULL, slot INTEGER NOT NULL UNIQUE, created_at REAL NOT NULL)",
    "CREATE TABLE name_photos (name_id INTEGER NOT NULL REFERENCES names(id) ON DELETE CASCADE, "
    "content_hash TEXT NOT NULL, path TEXT NOT NULL, x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, "
    "h REAL NOT NULL, proposed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (name_id, content_hash))",
    "CREATE TABLE name_params (name_id INTEGER NOT NULL REFERENCES names(id) ON DELETE CASCADE, "
    "model TEXT NOT NULL, checkpoint TEXT NOT NULL, method TEXT NOT NULL, dim INTEGER NOT NULL, "
    "token BLOB NOT NULL, photos INTEGER NOT NULL, seconds REAL NOT NULL, created_at REAL NOT NULL, "
    "PRIMARY KEY (name_id, model))",
)

# A taught name's look (core/name_look.py): the mean embedding of its teaching boxes cropped, D float32,
# through the bundle (model) that taught it; NULL for names taught before, or imported from a pack
# without one (search then scores the name by its box alone).
V5 = ("ALTER TABLE name_params ADD COLUMN look BLOB",)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4, V5)
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def backup(db: Database, target: Path) -> None:
    """Copy the live database to ``target`` (written beside it, then renamed into place)."""
    copy_database(db.conn, target)


def migrate(db: Database, path: Path, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring ``db`` (the file at ``path``) up to ``len(migrations)``; return the version it was at."""
    target = len(migrations)
    found = user_version(db)
    if found > target:
        raise DatabaseTooNewError(
            f"{path}: this library was written by a newer Multigrain (schema {found}; this app knows up "
            f"to {target}). Update Multigrain, or open another library."
        )
    if found == target:
        return found
    if found > 0:
        backup(db, path.with_name(f"{path.name}.bak-v{found}"))
    conn = db.conn
    for version in range(found + 1, target + 1):
        # IMMEDIATE takes the write lock before reading user_version, so two apps opening the same
        # library at once cannot both run a migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(db)
            # Checked under the lock: another connection may have created the schema since ``found``
            # was read (the GUI opens a new library from two threads at start), and its tables are ours.
            if current == 0 and db.table_names():
                raise LibraryError(
                    f"{path}: this SQLite file holds other tables; it is not a Multigrain library"
                )
            if current < version:
                for statement in migrations[version - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return found
