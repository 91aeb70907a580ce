"""``multigrain recover``: a damaged library rebuilt from its newest sound backup and its readable rows.

See ``integrity`` for how damage is found and marked, and how backups are made. The newest backup that
passes ``integrity_check`` (or, with none, an empty library) is the base; every row of the damaged file
that can still be read is copied over it, rowids kept and the damaged file's rows winning (they are the
newer); rows whose parent row was lost are dropped. The damaged file is kept beside the library as
``<db>.damaged-<time>``, with its -wal and -shm (never to be applied to the new file). The caller then
re-indexes: the indexer is incremental, so it encodes only what the rebuilt library lacks.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.library.db import open_db
from app.library.errors import LibraryError
from app.library.integrity import check, damage_mark, list_backups
from app.library.snapshot import copy_database

SALVAGE_WINDOW = 500  # rows read per query while salvaging: a bad page loses at most its window


@dataclass
class RecoveryReport:
    base: Path | None  # the backup recovery started from (None: an empty library)
    kept_damaged: Path  # where the damaged file now lies
    salvaged: dict[str, int] = field(default_factory=dict)  # table -> rows copied from the damaged file
    unreadable_windows: int = 0  # windows of rows that could not be read (lost unless in the backup)


def _sound(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return check(conn, full=True).ok
    finally:
        conn.close()


def _salvage_table(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy every readable row of ``table`` (rowids kept, the damaged file's rows winning); returns
    (rows copied, windows that could not be read)."""
    columns = [r[1] for r in target.execute(f"PRAGMA table_info({table})")]
    try:
        found = {r[1] for r in source.execute(f"PRAGMA table_info({table})")}
        top = source.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return 0, 1
    shared = [c for c in columns if c in found]
    names = ", ".join(shared)
    marks = ", ".join("?" * (len(shared) + 1))
    copied = lost = 0
    for start in range(0, int(top) + 1, SALVAGE_WINDOW):
        try:
            rows = source.execute(
                f"SELECT rowid, {names} FROM {table} WHERE rowid >= ? AND rowid < ?",
                [start, start + SALVAGE_WINDOW],
            ).fetchall()
        except sqlite3.DatabaseError:
            lost += 1
            continue
        target.executemany(f"INSERT OR REPLACE INTO {table} (rowid, {names}) VALUES ({marks})", rows)
        copied += len(rows)
    return copied, lost


def _side_files(db_path: Path) -> list[Path]:
    return [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm")]


def recover(db_path: Path) -> RecoveryReport:
    """Rebuild the library at ``db_path`` from its newest sound backup and its own readable rows.

    The caller then re-indexes (the indexer adds back photos the rebuilt library lacks). No other
    Multigrain may have the library open meanwhile."""
    base = next((b for b in list_backups(db_path) if _sound(b)), None)
    staging = db_path.with_name(db_path.name + ".recovering")
    for leftover in [staging, *_side_files(staging)]:
        leftover.unlink(missing_ok=True)
    if base is not None:
        source = sqlite3.connect(f"file:{base}?mode=ro", uri=True)
        try:
            copy_database(source, staging)
        finally:
            source.close()
    fresh = open_db(staging, check_damage=False)  # the schema, migrated to this app's version
    fresh.close()

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    kept = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    report = RecoveryReport(base, kept)
    target = sqlite3.connect(str(staging))
    try:
        target.execute("PRAGMA foreign_keys = OFF")  # rows arrive table by table
        if db_path.exists():
            damaged = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                tables = [r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    if table.startswith("sqlite_"):
                        continue
                    copied, lost = _salvage_table(damaged, target, table)
                    report.salvaged[table] = copied
                    report.unreadable_windows += lost
            finally:
                damaged.close()
        # Rows whose parent was lost (a photo whose folder row was unreadable) cannot stand.
        for table, rowid, _parent, _fk in target.execute("PRAGMA foreign_key_check").fetchall():
            target.execute(f"DELETE FROM {table} WHERE rowid = ?", [rowid])
        target.commit()
    finally:
        target.close()
    if not _sound(staging):
        raise LibraryError(
            f"{db_path}: recovery produced a library that fails its own check; nothing changed"
        )

    for path in [db_path, *_side_files(db_path)]:  # the old -wal must never be applied to the new file
        if path.exists():
            os.replace(path, path.with_name(kept.name + path.name[len(db_path.name) :]))
    os.replace(staging, db_path)
    damage_mark(db_path).unlink(missing_ok=True)
    return report
