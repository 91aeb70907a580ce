"""A full disk, a damaged database and a data folder that cannot exist: one sentence, library kept."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from fault_checks import Run, one_sentence
from photo_files import write_photos

from app import vectorcache
from app.library import db as library_db

DB = Path(".library") / "library.db"


def _full_after_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection the app opens from now on finds the database full (no page can be added)."""
    connect = library_db.connect

    def full(path: str | Path) -> object:
        db = connect(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(library_db, "connect", full)


def _integrity(path: Path) -> tuple[str, int]:
    conn = sqlite3.connect(path)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ok = conn.execute("SELECT count(*) FROM photos WHERE status = 'ok'").fetchone()[0]
    finally:
        conn.close()
    return check, ok


def test_disk_full_during_index_keeps_the_library_and_resumes(
    photos: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("index", str(photos))[0] == 0
    write_photos(photos, 30, prefix="new", first_colour=10)
    with monkeypatch.context() as patch:
        _full_after_open(patch)
        code, _, err = run("index", str(photos))
    line = one_sentence(err, "index")
    assert code == 2 and "disk is full" in line and "nothing indexed so far is lost" in line
    assert _integrity(tmp_path / "home" / DB) == ("ok", 4)
    code, out, _ = run("index", str(photos))
    assert code == 0 and "34 photos searchable" in out


def _cache_disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "captions.i64")

    monkeypatch.setattr(vectorcache.CacheWriter, "finish", no_space)


def test_disk_full_writing_the_vector_cache_during_search(
    photos: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("index", str(photos))[0] == 0
    vectorcache.remove_all(tmp_path / "home" / DB)  # the next search rebuilds it
    with monkeypatch.context() as patch:
        _cache_disk_full(patch)
        code, _, err = run("search", "red", "--all")
    line = one_sentence(err, "search")
    assert code == 2 and "disk is full" in line and "free some space" in line
    assert not list(vectorcache.cache_root(tmp_path / "home" / DB).rglob(".build-*"))  # no half cache
    code, out, _ = run("search", "red", "--all")
    assert code == 0 and "4 of 4 photos match" in out


def test_disk_full_writing_the_vector_cache_during_index(
    photos: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _cache_disk_full(patch)
        code, _, err = run("index", str(photos))
    assert code == 2 and "nothing indexed so far is lost" in one_sentence(err, "index")
    assert _integrity(tmp_path / "home" / DB) == ("ok", 4)


def _damage(db_path: Path) -> None:
    """Garbage over every page but the first (the header stays, so SQLite opens the file)."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    size = db_path.stat().st_size
    with open(db_path, "r+b") as file:
        file.seek(page)
        file.write(b"\xa5" * (size - page))


@pytest.mark.parametrize("argv", [("status",), ("search", "red"), ("index", "PHOTOS")])
def test_malformed_database_is_named_damaged(
    photos: Path, tmp_path: Path, run: Run, argv: tuple[str, ...]
) -> None:
    assert run("index", str(photos))[0] == 0
    db_path = tmp_path / "home" / DB
    _damage(db_path)
    code, _, err = run(*(str(photos) if a == "PHOTOS" else a for a in argv))
    line = one_sentence(err, argv[0])
    assert code == 2 and f"the library {db_path} is damaged" in line and "multigrain recover" in line


def test_data_folder_that_cannot_be_created(photos: Path, tmp_path: Path, run: Run, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # root may write anywhere, but not under a regular file
    monkeypatch.setenv("MULTIGRAIN_HOME", str(blocker / "multigrain"))
    code, _, err = run("index", str(photos))
    line = one_sentence(err, "index")
    assert code == 2 and "cannot create the library's folder" in line and "MULTIGRAIN_HOME" in line
