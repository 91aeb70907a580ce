"""The library database: migrations, refusal of newer schemas, backups, paths, vectors, folder filters."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.library import store
from app.library.blobs import from_blob, to_blob
from app.library.db import connect, open_db
from app.library.errors import DatabaseTooNewError, LibraryError
from app.library.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, user_version
from app.library.runs import last_run


def test_new_database_is_current_and_in_wal_mode(tmp_path: Path) -> None:
    db = open_db(tmp_path / "lib" / "library.db")
    assert user_version(db) == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"folders", "photos", "vectors", "captions", "caption_vectors", "index_runs"} <= set(
        db.table_names()
    )
    assert not list(tmp_path.glob("lib/*.bak-v*"))  # nothing to back up in a new database
    db.close()
    reopened = open_db(tmp_path / "lib" / "library.db")
    assert user_version(reopened) == SCHEMA_VERSION
    reopened.close()


def test_migration_of_an_old_database_backs_it_up_first(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    db = open_db(path)
    folder = store.add_folder(db, "/photos")
    db.close()
    v2 = ("ALTER TABLE photos ADD COLUMN rating INTEGER", "CREATE INDEX photos_rating ON photos(rating)")
    db = connect(path)
    assert migrate(db, path, (*MIGRATIONS, v2)) == SCHEMA_VERSION
    assert user_version(db) == SCHEMA_VERSION + 1
    assert "rating" in db["photos"].columns_dict
    db.close()
    backup = tmp_path / f"library.db.bak-v{SCHEMA_VERSION}"
    with closing(sqlite3.connect(backup)) as old:
        assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert old.execute("SELECT id, path FROM folders").fetchall() == [(folder, "/photos")]
        assert "rating" not in [row[1] for row in old.execute("PRAGMA table_info(photos)")]


def test_a_failing_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    open_db(path).close()
    broken = ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL")
    db = connect(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, path, (*MIGRATIONS, broken))
    assert user_version(db) == SCHEMA_VERSION and "extra" not in db.table_names()
    db.close()


def test_database_from_a_newer_app_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    open_db(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseTooNewError, match="newer Multigrain"):
        open_db(path)
    with sqlite3.connect(path) as conn:  # untouched
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_files_that_are_not_libraries_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not sqlite at all " * 100)
    with pytest.raises(LibraryError, match="not a Multigrain library"):
        open_db(tmp_path / "notes.db")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    with pytest.raises(LibraryError, match="other tables"):
        open_db(tmp_path / "other.db")


def test_a_library_created_by_another_connection_meanwhile_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GUI opens a new library from two threads at start: one may read version 0, then find the
    schema the other has just created. That is our library, not a foreign file."""
    from app.library import migrations

    path = tmp_path / "lib.db"
    late = connect(path)
    real = migrations.user_version
    calls = []

    def version_then_race(db):  # the first read sees the empty file; the other opener then migrates
        calls.append(db)
        found = real(db)
        if len(calls) == 1:
            open_db(path).close()
        return found

    monkeypatch.setattr(migrations, "user_version", version_then_race)
    assert migrate(late, path) == 0
    assert real(late) == SCHEMA_VERSION
    late.close()


def test_vectors_round_trip_as_float16(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    rng = np.random.default_rng(1)
    embedding = rng.standard_normal(32).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    regions = rng.standard_normal((14, 32)).astype(np.float32)
    store.put_vectors(db, "ab" * 32, "m1", embedding, "boxes-v1", regions)
    got = store.get_vectors(db, "ab" * 32, "m1")
    assert got is not None and got.box_set == "boxes-v1" and got.regions.shape == (14, 32)
    assert got.embedding.dtype == np.float32 and np.abs(got.embedding - embedding).max() < 1e-3
    assert len(db.execute("SELECT embedding FROM vectors").fetchone()[0]) == 32 * 2
    assert store.get_vectors(db, "ab" * 32, "another-model") is None
    assert np.array_equal(from_blob(to_blob(np.ones(3)), (3,)), np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError):
        to_blob(np.array([np.nan]))


def test_odd_paths_round_trip_and_folder_filters_are_exact(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    latin1 = os.fsdecode(b"/ph/caf\xe9_100%/x.jpg")  # not UTF-8: a lone surrogate in the str
    paths = [
        latin1,
        "/ph/😀 party/x.jpg",
        "/ph/a_b/x.jpg",
        "/ph/axb/x.jpg",
        "/ph/A_B/y.jpg",
        "/ph/a_b2/z.jpg",
    ]
    folder = store.add_folder(db, "/ph")
    for path in paths:
        store.save_photo(db, store.PhotoRecord(path, folder, 1, 1, "ok"))
    stored = {row[0] for row in db.execute("SELECT path FROM photos")}
    assert stored == set(paths)
    assert os.fsencode(latin1) in {os.fsencode(p) for p in stored}

    def under(folder_path: str) -> set[str]:
        return set(store.photo_states(db, folder_path, "m", "b"))

    assert under("/ph/a_b") == {"/ph/a_b/x.jpg"}  # not axb (an unescaped _), A_B (LIKE's case) or a_b2
    assert under(os.fsdecode(b"/ph/caf\xe9_100%")) == {latin1}
    assert under("/ph/😀 party/") == {"/ph/😀 party/x.jpg"}
    assert under("/ph") == set(paths)


def test_folders_and_runs(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    first = store.add_folder(db, "/a")
    assert store.add_folder(db, "/a") == first
    store.save_photo(db, store.PhotoRecord("/a/1.jpg", first, 1, 1, "ok", "h1"))
    assert [f.path for f in store.list_folders(db)] == ["/a"]
    store.remove_folder(db, "/a")
    assert store.count_photos(db) == 0  # cascaded
    run = store.start_run(db, "m")
    store.finish_run(db, run, "done", store.RunCounts(total=3, encoded=2, failed=1))
    row = db.execute(
        "SELECT status, total, encoded, failed, finished_at IS NOT NULL FROM index_runs"
    ).fetchone()
    assert row == ("done", 3, 2, 1, 1)


def test_captions_and_pruning(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    folder = store.add_folder(db, "/a")
    store.save_photo(db, store.PhotoRecord("/a/1.jpg", folder, 1, 1, "ok", "keep"))
    caption = store.put_caption(db, "keep", "user", "my cat")
    store.put_caption_vector(db, caption, "m", np.ones(4) / 2)
    store.put_caption(db, "gone", "exif", "OLYMPUS DIGITAL CAMERA")
    for digest in ("keep", "gone"):
        store.put_vectors(db, digest, "m", np.ones(4) / 2, "b", np.ones((2, 4)) / 2)
    assert store.prune_vectors(db) == 1
    assert store.hashes_with_vectors(db, ["keep", "gone"], "m", "b") == {"keep"}
    assert store.captions_for(db, "keep") == {"user": "my cat"} and store.captions_for(db, "gone") == {}


def test_v1_library_with_float16_regions_migrates_and_stays_readable(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from app.library.blobs import from_int8_blob, to_int8_blob
    from app.library.migrations import V1

    path = tmp_path / "old.db"
    old = Database(str(path))
    migrate(old, path, (V1,))
    rng = np.random.default_rng(0)
    regions = rng.standard_normal((14, 32)).astype(np.float32)
    regions /= np.linalg.norm(regions, axis=1, keepdims=True)
    old.execute(
        "INSERT INTO vectors (content_hash, model, dim, embedding, box_set, region_count, regions, "
        "created_at) VALUES ('h', 'm', 32, ?, 'set', 14, ?, 0)",
        [to_blob(regions[0]), to_blob(regions)],
    )
    old.conn.commit()
    old.close()

    db = open_db(path)
    assert user_version(db) == SCHEMA_VERSION and (tmp_path / "old.db.bak-v1").exists()
    stored = store.get_vectors(db, "h", "m")
    assert np.allclose(stored.regions, regions, atol=1e-3), "float16 rows written by schema 1 still read"
    store.put_vectors(db, "h2", "m", regions[0], "set", regions)
    assert db.execute(
        "SELECT regions_dtype, length(regions) FROM vectors WHERE content_hash='h2'"
    ).fetchone() == (
        "int8",
        14 * 4 + 14 * 32,
    )
    again = store.get_vectors(db, "h2", "m").regions
    cos = (again * regions).sum(1) / np.linalg.norm(again, axis=1)
    assert cos.min() > 0.9995
    assert np.array_equal(from_int8_blob(to_int8_blob(np.zeros((2, 4))), (2, 4)), np.zeros((2, 4)))


def test_a_run_whose_process_is_gone_reads_as_interrupted(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    assert last_run(db) is None
    run = store.start_run(db, "m")
    assert last_run(db).status == "running"  # this process owns it  # type: ignore[union-attr]
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    db.execute("UPDATE index_runs SET pid = ? WHERE id = ?", [int(gone.stdout), run])
    assert last_run(db).status == "interrupted"  # type: ignore[union-attr]
    db.execute("UPDATE index_runs SET host = 'another-machine' WHERE id = ?", [run])
    summary = last_run(db)
    assert summary is not None and (summary.status, summary.host) == ("running", "another-machine")
    store.finish_run(db, run, "cancelled", store.RunCounts(total=5, encoded=2))
    summary = last_run(db)
    assert summary is not None and (summary.status, summary.total, summary.encoded) == ("cancelled", 5, 2)
