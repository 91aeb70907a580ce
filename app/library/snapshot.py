"""A consistent copy of a library database, made by SQLite itself.

SQLite's online backup API copies every page the source connection sees (the WAL's committed pages
included) while other connections keep working, and never opens the file as a plain file (see
``app.home`` on why that matters). The copy is written beside ``target`` and renamed into place, so an
interrupted copy never leaves a half file under the real name.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def copy_database(source: sqlite3.Connection, target: Path) -> None:
    """Copy the database behind ``source`` to ``target``."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    copy = sqlite3.connect(str(partial))
    try:
        source.backup(copy)
    finally:
        copy.close()
    os.replace(partial, target)
