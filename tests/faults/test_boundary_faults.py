"""Indexing stays inside the chosen folders, never indexes a folder twice through an alias, and runs
one indexer per library at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from photo_files import write_photos

from app.library.db import open_db
from app.library.index_lock import IndexerBusyError, current_indexer
from app.library.indexer import Indexer

REPO = Path(__file__).resolve().parents[2]


def run_index(db_path: Path, folders: list[Path], **kwargs: object):
    db = open_db(db_path)
    try:
        return Indexer(db, FakeRuntime(), db_path.parent / "thumbs").index(
            [str(f) for f in folders], **kwargs
        )
    finally:
        db.close()


def photo_paths(db_path: Path) -> list[str]:
    db = open_db(db_path)
    try:
        return sorted(r[0] for r in db.execute("SELECT path FROM photos"))
    finally:
        db.close()


def test_a_link_out_of_the_folders_is_reported_not_followed(tmp_path: Path) -> None:
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    write_photos(photos, 2, prefix="in")
    write_photos(elsewhere, 3, prefix="out", first_colour=30)
    os.symlink(elsewhere, photos / "to-elsewhere")
    os.symlink("/", photos / "to-root")
    db_path = tmp_path / "lib" / "library.db"
    report = run_index(db_path, [photos])
    assert report.counts.total == 2 and len(photo_paths(db_path)) == 2
    messages = {Path(p.path).name: p.message for p in report.problems}
    assert "outside the folders being indexed" in messages["to-elsewhere"]
    assert "--follow-links" in messages["to-root"]

    os.unlink(photos / "to-root")  # asked for: the link to another photo folder is followed
    report = run_index(db_path, [photos], follow_links=True)
    assert len(photo_paths(db_path)) == 5


def test_a_link_inside_the_folders_is_still_followed(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photos(photos / "real", 2)
    (photos / "other").mkdir()
    os.symlink(photos / "real" / "p000.jpg", photos / "other" / "alias.jpg")
    db_path = tmp_path / "lib" / "library.db"
    run_index(db_path, [photos])
    assert [Path(p).name for p in photo_paths(db_path)] == ["alias.jpg", "p000.jpg", "p001.jpg"]


@pytest.mark.parametrize("alias_of", ["folder", "parent", "subfolder"])
def test_an_alias_of_a_folder_already_indexed_adds_nothing(tmp_path: Path, alias_of: str) -> None:
    photos = tmp_path / "photos"
    write_photos(photos / "sub", 3)
    db_path = tmp_path / "lib" / "library.db"
    known = {"folder": photos, "parent": photos / "sub", "subfolder": photos}[alias_of]
    run_index(db_path, [known])
    before = photo_paths(db_path)
    alias = tmp_path / "alias"
    os.symlink(photos, alias)
    target = {"folder": alias, "parent": alias, "subfolder": alias / "sub"}[alias_of]
    report = run_index(db_path, [target])
    assert photo_paths(db_path) == before  # no photo listed a second time under the alias
    assert report.counts.encoded == 0


HOLD = """
import sys, time
from pathlib import Path
from app.library.index_lock import index_lock
with index_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_one_indexer_per_library_and_the_second_is_told_who(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photos(photos, 2)
    db_path = tmp_path / "lib" / "library.db"
    run_index(db_path, [photos])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert current_indexer(db_path).pid == holder.pid
        with pytest.raises(IndexerBusyError, match=f"process {holder.pid} on "):
            run_index(db_path, [photos])
        status = subprocess.run(
            [sys.executable, "-m", "cli.main", "status", "--db", str(db_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"indexing now: process {holder.pid} on " in status.stdout, status.stderr
    finally:
        holder.kill()
        holder.wait()
    assert current_indexer(db_path) is None  # the lock went with the killed process
    assert run_index(db_path, [photos]).status == "done"
