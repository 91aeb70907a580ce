"""``multigrain check`` and ``multigrain recover``: the library's health from the command line."""

from __future__ import annotations

import argparse
import sqlite3

from app import commands
from app.commands import db_path_of, shown
from app.home import thumbs_dir
from app.library import integrity
from core.errors import KnownError


def check(args: argparse.Namespace) -> int:
    """0 when the library is sound, 1 when it is damaged (and then marked so: see ``integrity``)."""
    path = db_path_of(args)
    if not path.is_file():
        raise KnownError(f"no library at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        report = integrity.check_library(path, conn, full=args.full)
    finally:
        conn.close()
    kind = "integrity_check" if args.full else "quick_check"
    if report.ok:
        previously = integrity.damage_reason(path)
        print(f"library {shown(str(path))}: sound ({kind}, {report.seconds:.1f} s)")
        if previously is not None:
            print(f"  it is still marked damaged ({previously}): `multigrain recover` clears the mark")
        return 0
    print(f"library {shown(str(path))}: DAMAGED ({kind}, {report.seconds:.1f} s)")
    for problem in report.problems[:5]:
        print(f"  {problem}")
    print("Nothing will be written to it until you run `multigrain recover`.")
    return 1


def recover(args: argparse.Namespace) -> int:
    from app.index_library import index_library
    from app.library import store
    from app.library.db import open_db
    from app.library.recovery import recover as recover_library

    path = db_path_of(args)
    if not path.is_file():
        raise KnownError(f"no library at {path}")
    report = recover_library(path)
    source = f"the backup {report.base.name}" if report.base else "an empty library (no sound backup)"
    print(f"rebuilt {shown(str(path))} from {source} and the rows still readable:")
    for table, rows in report.salvaged.items():
        print(f"  {table}: {rows} rows")
    if report.unreadable_windows:
        print(f"  {report.unreadable_windows} unreadable stretches of rows were left behind")
    print(f"the damaged file is kept as {shown(str(report.kept_damaged))}")
    db = open_db(path)
    try:
        folders = [f.path for f in store.list_folders(db)]
        if not folders:
            return 0
        runtime = commands.load_model(args)  # looked up at call time: tests replace the model
        update = index_library(db, path, runtime, None, thumbs_dir(path))
    finally:
        db.close()
    counts = update.report.counts
    print(
        f"re-indexed {len(folders)} folders: {counts.encoded} photos encoded again, "
        f"{update.cache.n} searchable"
    )
    return 0
