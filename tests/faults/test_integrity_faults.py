"""Damage is found, marked and stops all writing; backups are made after changes; `recover` rebuilds the
library from the last good backup plus what can still be read; a read-only library can be searched."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from photo_files import write_photos

from app.index_library import index_library
from app.library import integrity
from app.library.db import open_db
from app.library.errors import DamagedLibraryError, LibraryError
from app.library.recovery import recover
from cli.main import main

PAGE = 4096


def index(db_path: Path, runtime: FakeRuntime, folders: list[Path]):
    db = open_db(db_path)
    try:
        return index_library(db, db_path, runtime, [str(f) for f in folders], db_path.parent / "thumbs")
    finally:
        db.close()


def photo_count(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM photos WHERE status = 'ok'").fetchone()[0]
    finally:
        conn.close()


def checkpoint(db_path: Path) -> None:
    """Move the WAL's pages into the file (as a closed library has them), so damage lands in them."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def damage(db_path: Path, pages: Iterable[int]) -> None:
    """Write garbage over whole pages of the file (never the header page)."""
    checkpoint(db_path)
    with open(db_path, "r+b") as file:  # the test's own process holds no connection to it
        for page in pages:
            file.seek(page * PAGE)
            file.write(bytes((i * 37 + page) % 251 for i in range(PAGE)))


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    write_photos(photos / "a", 30, prefix="a")
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, FakeRuntime(), [photos / "a"])
    return db_path, photos


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_run_that_changed_the_library_leaves_a_backup_and_the_newest_few_are_kept(
    library: tuple[Path, Path],
) -> None:
    db_path, photos = library
    first = integrity.list_backups(db_path)
    assert len(first) == 1 and photo_count(first[0]) == 30
    runtime = FakeRuntime()
    update = index(db_path, runtime, [photos / "a"])  # nothing changed: no new backup
    assert update.backup is None and integrity.list_backups(db_path) == first
    for n in range(4):
        write_photos(photos / "a", 1, prefix=f"new{n}", first_colour=100 + n)
        os.utime(db_path.parent, None)
        update = index(db_path, runtime, [photos / "a"])
        assert update.backup is not None and photo_count(update.backup) == 31 + n
        # Backups are named by the second: make the next one a new name.
        update.backup.rename(update.backup.with_name(f"library-2000010{n}-000000.db"))
    kept = integrity.list_backups(db_path)
    assert len(kept) == integrity.KEEP_BACKUPS


def test_damage_is_found_marked_and_stops_all_writing(
    library: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db_path, photos = library
    damage(db_path, range(3, 6))
    code, out, _ = cli(capsys, "check", "--db", str(db_path))
    assert code == 1 and "DAMAGED" in out and "multigrain recover" in out
    assert integrity.damage_reason(db_path) is not None

    before = db_path.read_bytes()
    write_photos(photos / "a", 1, prefix="late", first_colour=90)
    with pytest.raises(DamagedLibraryError, match="multigrain recover"):
        index(db_path, FakeRuntime(), [photos / "a"])
    assert db_path.read_bytes() == before  # nothing was written

    code, _, err = cli(capsys, "status", "--db", str(db_path))
    assert code == 2 and "is damaged" in err and "multigrain recover" in err


def schema_pages(db_path: Path) -> set[int]:
    """Pages holding the schema itself: once it outgrows page 1, damage there stops every open, which
    is not the reading path this file tests."""
    conn = sqlite3.connect(db_path)
    try:
        return {p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'sqlite_schema'")}
    finally:
        conn.close()


def test_damage_met_while_reading_marks_the_library(library: tuple[Path, Path]) -> None:
    db_path, _ = library
    skip = schema_pages(db_path)  # SQLite numbers pages from 1; ``damage`` counts them from 0
    damage(db_path, [page for page in range(2, 40) if page + 1 not in skip])
    db = open_db(db_path, writable=False)
    try:
        with pytest.raises(DamagedLibraryError):
            from app.library.db import known_sqlite_errors

            with known_sqlite_errors(db_path):
                db.execute("SELECT * FROM vectors").fetchall()
                db.execute("SELECT * FROM photos").fetchall()
    finally:
        db.close()
    assert integrity.damage_reason(db_path) is not None


def test_recover_rebuilds_from_the_backup_and_keeps_what_is_readable(
    library: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path, photos = library
    write_photos(photos / "b", 5, prefix="b", first_colour=50)  # indexed after the first backup...
    index(db_path, FakeRuntime(), [photos / "b"])
    for extra in integrity.list_backups(db_path)[:-1]:
        extra.unlink()  # ... so only the older backup (30 photos) remains
    damage(db_path, range(3, 6))
    cli(capsys, "check", "--db", str(db_path))
    assert integrity.damage_reason(db_path) is not None

    runtime = FakeRuntime()
    monkeypatch.setattr("app.commands.load_model", lambda args: runtime)
    code, out, err = cli(capsys, "recover", "--db", str(db_path))
    assert code == 0, err
    assert "rebuilt" in out and "re-indexed 2 folders" in out
    assert integrity.damage_reason(db_path) is None
    assert photo_count(db_path) == 35  # the backup's 30, and the 5 newer ones found again
    conn = sqlite3.connect(db_path)
    assert integrity.check(conn, full=True).ok
    conn.close()
    assert runtime.images_encoded < 35  # what survived in the backup or the damaged file was not re-encoded
    assert list(db_path.parent.glob("library.db.damaged-*"))  # the damaged file is kept


def test_recover_without_any_backup_keeps_the_readable_rows(library: tuple[Path, Path]) -> None:
    db_path, _ = library
    for b in integrity.list_backups(db_path):
        b.unlink()
    damage(db_path, range(3, 4))
    report = recover(db_path)
    assert report.base is None and report.salvaged["folders"] == 1
    conn = sqlite3.connect(db_path)
    assert integrity.check(conn, full=True).ok
    conn.close()


def test_a_library_on_a_read_only_disk_can_be_searched(
    library: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.search import Searcher

    db_path, _ = library
    checkpoint(db_path)
    mount = tmp_path / "mnt"
    mount.mkdir()
    bound = subprocess.run(["mount", "--bind", str(db_path.parent), str(mount)], capture_output=True)
    if bound.returncode:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
        db = open_db(mount / "library.db", writable=False)
        try:
            searcher = Searcher(db, mount / "library.db", FakeRuntime())
            from app.query import make_query

            response = searcher.search(make_query("a photo"), top=3, use_cutoff=False)
            assert len(response.hits) == 3
        finally:
            db.close()
        with pytest.raises(LibraryError, match=r"cannot write|unable to open|read-only|readonly"):
            open_db(mount / "library.db")  # writing is refused, in words
    finally:
        unmounted = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
        assert unmounted.returncode == 0, unmounted.stderr


class _Interrupted:
    """A connection whose check was stopped from another thread (``sqlite3.Connection.interrupt``)."""

    def execute(self, _sql: str) -> object:
        raise sqlite3.OperationalError("interrupted")


def test_an_interrupted_check_is_not_damage(tmp_path: Path) -> None:
    db_path = tmp_path / "library.db"
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        integrity.check_library(db_path, _Interrupted())  # type: ignore[arg-type]
    assert integrity.damage_reason(db_path) is None


def test_closing_the_window_stops_a_running_check_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick check of a large library reads for seconds (9.6 s cold at 100k photos); the window's
    close interrupts it instead of waiting."""
    import threading

    from app.gui.indexing import IndexController
    from app.gui.tasks import serial_pool

    photos = tmp_path / "photos"
    write_photos(photos, 3)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, FakeRuntime(), [photos])
    started, interrupted = threading.Event(), threading.Event()

    def slow_check(path: Path, conn: sqlite3.Connection, full: bool = False) -> integrity.CheckReport:
        started.set()
        try:  # a query that runs until interrupted, as quick_check on a cold 500 MB file nearly does
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
            ).fetchone()
        except sqlite3.OperationalError:
            interrupted.set()
            raise
        raise AssertionError("not interrupted")

    monkeypatch.setattr("app.gui.indexing.check_library", slow_check)
    controller = IndexController(db_path, holder=None, pool=serial_pool())  # type: ignore[arg-type]
    controller.check_health()
    assert started.wait(10)
    controller.shutdown()
    assert interrupted.is_set() and integrity.damage_reason(db_path) is None
