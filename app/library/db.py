"""Opening the library database: one SQLite file, WAL mode, migrated to this app's schema on open.

Paths in the database. A POSIX file name is bytes and need not be UTF-8; Python hands it to us as a
``str`` whose undecodable bytes are lone surrogates (``os.fsdecode``'s ``surrogateescape``), and that
``str`` is what every function here takes and returns, so it can go straight back to ``open``. SQLite's
driver refuses to encode such a ``str``, so a path is bound as the file system's own bytes and cast to
TEXT in SQL (``CAST(? AS TEXT)``, see ``bind_path``); the column then holds exactly the bytes the OS
has, compares byte for byte, and the connection's ``text_factory`` turns them back into the same
surrogate-escaped ``str``. Valid UTF-8 names (emoji included) are stored as ordinary text.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from app.library.errors import (
    DatabaseBusyError,
    DatabaseIOError,
    DiskFullError,
    LibraryError,
    disk_full_message,
)
from app.library.integrity import damaged_error, mark_damaged, refuse_if_damaged
from app.library.migrations import SCHEMA_VERSION, migrate, user_version
from app.library.snapshot import copy_database

BUSY_TIMEOUT_S = 10.0  # another process (the GUI and a CLI run) may hold the write lock this long


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def known_sqlite_errors(path: str | Path) -> Iterator[None]:
    """Turn SQLite's environment failures (locked, not a database, cannot open) into LibraryErrors."""
    try:
        yield
    except sqlite3.OperationalError as err:
        text = str(err)
        if "locked" in text or "busy" in text:
            message = f"{path}: the library is busy (another Multigrain is writing to it)"
            raise DatabaseBusyError(message) from err
        if "disk I/O error" in text:
            message = f"{path}: the library's files changed while it was open ({text}); reopen it"
            raise DatabaseIOError(message) from err
        if "unable to open" in text:
            raise LibraryError(f"{path}: cannot open the library database ({text})") from err
        if "full" in text:
            raise DiskFullError(disk_full_message(path, f"SQLite: {text}")) from err
        if "disk" in text or "readonly" in text:
            raise LibraryError(f"{path}: cannot write the library database ({text})") from err
        raise
    except sqlite3.DatabaseError as err:
        if type(err) is not sqlite3.DatabaseError:  # IntegrityError, ProgrammingError...: our bugs
            raise
        if "malformed" in str(err):  # a damaged page: stop writing until `multigrain recover`
            mark_damaged(Path(path), str(err))
            raise damaged_error(Path(path), str(err)) from err
        # "file is not a database"
        raise LibraryError(f"{path}: not a Multigrain library, or a damaged one ({err})") from err


def make_library_folder(folder: Path) -> None:
    """Create the folder the database lives in, or say in words why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # read-only place, a file where a folder should be, no permission
        raise LibraryError(
            f"cannot create the library's folder {folder} ({err.strerror or err}): choose a folder you "
            "can write, with --db FILE or by setting MULTIGRAIN_HOME"
        ) from err


def connect(path: str | Path) -> Database:
    """A connection with this app's settings, without migrating (``open_db`` migrates)."""
    path = Path(path)
    make_library_folder(path.parent)
    with known_sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
        try:
            conn.text_factory = _decode_text
            db = Database(conn, execute_plugins=False)
            # WAL: readers (the GUI's search) never block the indexer's batch commits, and a killed
            # writer leaves the last committed batch intact. NORMAL sync is durable against a crashed
            # or killed process; only a power cut can lose the latest commits, which a re-index redoes.
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()  # an open handle would hold the file (and its disk) after the error
            raise
    return db


def connect_read_only(path: Path) -> Database:
    """A connection to a library in a folder this process cannot write (a read-only mount, a backup
    disk): ``immutable`` tells SQLite that nobody writes it, so it needs no -shm or lock files there."""
    with known_sqlite_errors(path):
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)
        conn.text_factory = _decode_text
        db = Database(conn, execute_plugins=False)
        version = user_version(db)
    if version != SCHEMA_VERSION:
        db.close()
        raise LibraryError(
            f"{path}: this library is on a read-only disk and in another format (schema {version}; this "
            f"app reads {SCHEMA_VERSION}); copy it somewhere writable to open it"
        )
    return db


def open_db(path: str | Path, writable: bool = True, check_damage: bool = True) -> Database:
    """Open (creating if needed) the library at ``path`` and migrate it to this app's schema.

    Raises ``DatabaseTooNewError`` for a database from a newer app, ``LibraryError`` for a file that is
    not a library, and backs the file up before migrating an existing database (see ``migrations``).
    ``writable``: False for work that only reads (search, status), which may then use a library marked
    damaged (see ``integrity``) or one on a read-only disk; True refuses a damaged library.
    """
    path = Path(path)
    if writable and check_damage:
        refuse_if_damaged(path)
    if not writable and path.is_file() and not os.access(path.parent, os.W_OK):
        return connect_read_only(path)
    db = connect(path)
    try:
        with known_sqlite_errors(path):
            migrate(db, Path(path))
    except BaseException:
        db.close()
        raise
    return db


def bind_path(path: str) -> str | bytes:
    """A path as a query parameter; use it as ``CAST(? AS TEXT)`` in SQL (see the module docstring)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def escape_like(text: str) -> str:
    r"""``text`` with LIKE's wildcards escaped, for ``LIKE ? ESCAPE '\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def folder_prefix(folder: str) -> str:
    """The prefix every path inside ``folder`` starts with (one trailing separator)."""
    return folder.rstrip(os.sep) + os.sep if folder.rstrip(os.sep) else os.sep


def under_folder_sql(column: str) -> str:
    """SQL true for rows whose ``column`` lies inside a folder; parameters ``:like`` and ``:prefix``.

    LIKE with the folder's wildcards escaped (``_`` is common in folder names), and a byte-exact
    prefix comparison as well, because LIKE ignores ASCII case and Linux file names do not.
    """
    return (
        f"({column} LIKE CAST(:like AS TEXT) ESCAPE '\\' "
        f"AND substr({column}, 1, length(CAST(:prefix AS TEXT))) = CAST(:prefix AS TEXT))"
    )


def under_folder_params(folder: str) -> dict[str, str | bytes]:
    """Parameters for ``under_folder_sql``."""
    prefix = folder_prefix(folder)
    return {"like": bind_path(escape_like(prefix) + "%"), "prefix": bind_path(prefix)}


def relocate(old: Path, new: Path) -> None:
    """Move the library at ``old`` to ``new`` through SQLite (its online backup, WAL contents included).

    The copy is written beside ``new`` and renamed into place (``snapshot``), so an interrupted move
    leaves ``old`` in use and is simply done again; ``old`` is then renamed ``<old>.moved`` (kept, never
    deleted here). The files are moved by SQLite and ``os.replace`` only: nothing opens them as plain
    files.
    """
    new.parent.mkdir(parents=True, exist_ok=True)
    with known_sqlite_errors(old):
        source = sqlite3.connect(str(old), timeout=BUSY_TIMEOUT_S)
        try:
            copy_database(source, new)
        finally:
            source.close()  # the last connection: SQLite checkpoints and removes old's -wal and -shm
    os.replace(old, old.with_name(old.name + ".moved"))
