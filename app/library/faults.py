"""The library's environment failures as one sentence each, for a whole command or GUI task.

SQLite's errors are translated by ``db.known_sqlite_errors`` where a connection is opened; this wraps a
whole use case (index, search, status), because the indexer's and the cache's writes run deep inside it
and any of them may meet a full disk or a damaged page. A full disk reaches us two ways: SQLite's
"database or disk is full", and ``OSError(ENOSPC)`` from the files written beside the database (the
vector cache, thumbnails). Both leave the library consistent: SQLite rolls back the transaction it could
not write, and the vector cache builds in a staging folder that is removed on failure.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from app.library.db import known_sqlite_errors
from app.library.errors import DiskFullError, disk_full_message

_FULL = {errno.ENOSPC, errno.EDQUOT}


@contextlib.contextmanager
def library_faults(path: str | Path) -> Iterator[None]:
    """Turn a full disk or a damaged/busy/unopenable database met while using the library at ``path``
    into a ``LibraryError`` with one sentence; anything else passes through untouched."""
    try:
        with known_sqlite_errors(path):
            yield
    except sqlite3.Error:
        raise  # not an environment failure known_sqlite_errors recognises: a bug, shown loudly
    except OSError as err:
        if err.errno not in _FULL:
            raise
        where = f" at {err.filename}" if err.filename else ""
        raise DiskFullError(disk_full_message(path, f"{err.strerror or err}{where}")) from err
