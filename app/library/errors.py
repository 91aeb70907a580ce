"""The library's known errors: a database that cannot be opened, is too new, busy, or changed underfoot."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.errors import KnownError


class LibraryError(KnownError):
    """The library database cannot be opened or used as it is."""


class DatabaseTooNewError(LibraryError):
    """The database was written by a newer Multigrain; this app must not touch it."""


class DatabaseBusyError(LibraryError):
    """Another program holds the database's write lock for longer than we wait."""


class DatabaseIOError(LibraryError):
    """SQLite's files changed under an open connection (its ``-wal``/``-shm`` were removed or replaced).

    Every connection of this process to the file must be closed before a new one works again: SQLite
    shares one mapping of the ``-shm`` file per process, and a stale one keeps failing (see
    ``is_io_error``)."""


class DiskFullError(LibraryError):
    """The disk (or the database's ``max_page_count``) is full. A SQLite transaction that cannot be written
    is rolled back whole, so the batches committed before it stay in the library."""


class DamagedLibraryError(LibraryError):
    """SQLite found pages of the database that do not make sense ("database disk image is malformed")."""


def disk_full_message(path: str | Path, detail: str) -> str:
    """One sentence: what happened, what is kept, what to do."""
    return (
        f"the disk is full ({detail}) while writing beside {path}; nothing indexed so far is lost: "
        "free some space and run the same command again"
    )


def damaged_message(path: str | Path, detail: str) -> str:
    """One sentence: what happened, that nothing will be written, what to run (see ``integrity``)."""
    return (
        f"the library {path} is damaged ({detail}). Nothing will be written to it until you run "
        "`multigrain recover`, which restores the last good backup and keeps what can still be read"
    )


def is_io_error(err: BaseException) -> bool:
    """True for SQLite's "disk I/O error", raw or already turned into a ``DatabaseIOError``."""
    return isinstance(err, DatabaseIOError) or (
        isinstance(err, sqlite3.OperationalError) and "disk I/O error" in str(err)
    )
