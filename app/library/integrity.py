"""The library's health: checks, a damage mark that stops all writing, backups, and recovery.

Damage. SQLite notices a damaged page only when it reads one, so a library can look healthy while
pages it seldom reads are garbage. ``check`` runs SQLite's own ``quick_check`` (or the slower
``integrity_check``) and ``foreign_key_check``; damage found by a check, or met as "database disk image
is malformed" during any use (``db.known_sqlite_errors``), is written to a small mark beside the
database (``<db>.damaged``). While the mark exists nothing writes to the library (``open_db`` refuses
to open it for writing, with a sentence that names ``multigrain recover``); searching still reads it.

Cost, measured on a 100,000-photo library (505 MB) on this project's 2-core machine: quick_check
0.35 s and a backup 1.1 s when the file is in the page cache, quick_check 9.6 s when it is not. So
nothing checks the whole file on every start: ``status`` and ``check`` do, the window does once in the
background after it opens, and every backup is preceded by one (a backup of a damaged file would
spread the damage).

Backups. After an index run that changed something, ``backup`` copies the library with SQLite's online
backup API into ``<db>.backups/`` and keeps the newest ``KEEP_BACKUPS``.

Recovery (``recovery.recover``). The newest backup that passes ``integrity_check`` (or, with none, an empty
library) is the base; every row of the damaged file that can still be read is copied over it, newer
rows winning; the damaged files are kept beside it as ``<db>.damaged-<time>`` (with their -wal and
-shm); then the caller re-indexes what is missing (the indexer is incremental).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from app.library.errors import DamagedLibraryError, damaged_message
from app.library.snapshot import copy_database

KEEP_BACKUPS = 3


@dataclass(frozen=True)
class CheckReport:
    problems: list[str]  # SQLite's own words, at most a few; empty when the library is sound
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


# ----- the damage mark -------------------------------------------------------------------------------
def damage_mark(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".damaged")


def damage_reason(db_path: Path) -> str | None:
    """Why the library at ``db_path`` is marked damaged, or None when it is not."""
    mark = damage_mark(db_path)
    if not mark.is_file():  # also when the library's folder is not there (or not a folder)
        return None
    try:
        return str(json.loads(mark.read_text())["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return "a damage mark that cannot be read"


def mark_damaged(db_path: Path, reason: str) -> None:
    """Write the mark (best effort: a library on a read-only mount cannot be marked, nor written)."""
    with contextlib.suppress(OSError):
        damage_mark(db_path).write_text(json.dumps({"reason": reason, "at": time.time()}))


def damaged_error(db_path: Path, reason: str) -> DamagedLibraryError:
    return DamagedLibraryError(damaged_message(db_path, reason))


def refuse_if_damaged(db_path: Path) -> None:
    reason = damage_reason(db_path)
    if reason is not None:
        raise damaged_error(db_path, reason)


# ----- checks ----------------------------------------------------------------------------------------
def check(conn: sqlite3.Connection, full: bool = False) -> CheckReport:
    """SQLite's ``quick_check`` (``integrity_check`` with ``full``) and ``foreign_key_check``."""
    started = time.perf_counter()
    problems: list[str] = []
    try:
        rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}(20)").fetchall()
        problems += [str(r[0]) for r in rows if r[0] != "ok"]
        dangling = conn.execute("PRAGMA foreign_key_check").fetchmany(20)
        problems += [f"row {r[1]} of {r[0]} points at a missing {r[2]}" for r in dangling]
    except sqlite3.OperationalError as err:
        if "interrupted" in str(err):  # stopped on purpose (the window closing): says nothing of damage
            raise
        problems.append(str(err))
    except sqlite3.DatabaseError as err:
        problems.append(str(err))
    return CheckReport(problems, time.perf_counter() - started)


def check_library(db_path: Path, conn: sqlite3.Connection, full: bool = False) -> CheckReport:
    """``check``, and the damage mark written (or, on a sound library, left as it was)."""
    report = check(conn, full)
    if not report.ok:
        mark_damaged(db_path, report.problems[0])
    return report


# ----- backups ---------------------------------------------------------------------------------------
def backups_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".backups")


def list_backups(db_path: Path) -> list[Path]:
    """The library's backups, newest first."""
    folder = backups_dir(db_path)
    return sorted(folder.glob("library-*.db"), reverse=True) if folder.is_dir() else []


def backup(conn: sqlite3.Connection, db_path: Path, keep: int = KEEP_BACKUPS) -> Path:
    """Copy the library (WAL contents included) into its backups folder; keep the newest ``keep``.

    Refuses, and marks the library, when a quick check finds damage: a damaged copy would replace a
    good backup."""
    report = check_library(db_path, conn)
    if not report.ok:
        raise damaged_error(db_path, report.problems[0])
    folder = backups_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    target = folder / f"library-{stamp}.db"
    copy_database(conn, target)
    for old in list_backups(db_path)[keep:]:
        old.unlink(missing_ok=True)
    return target
