"""A renamed folder leaves no ghosts, and `multigrain forget` removes a folder from the library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from photo_files import write_photos

from app.index_library import index_library
from app.library import store
from app.library.db import open_db
from cli.main import main


def index(db_path: Path, folders: list[Path] | None) -> None:
    db = open_db(db_path)
    try:
        paths = None if folders is None else [str(f) for f in folders]
        index_library(db, db_path, FakeRuntime(), paths, db_path.parent / "thumbs")
    finally:
        db.close()


def library(db_path: Path) -> tuple[list[str], list[str]]:
    db = open_db(db_path)
    try:
        photos = sorted(r[0] for r in db.execute("SELECT path FROM photos"))
        return [f.path for f in store.list_folders(db)], photos
    finally:
        db.close()


def test_a_renamed_folder_leaves_no_ghosts(tmp_path: Path) -> None:
    old, new = tmp_path / "holiday", tmp_path / "holiday 2024"
    write_photos(old, 4)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, [old])
    os.rename(old, new)
    index(db_path, [new])
    folders, photos = library(db_path)
    assert folders == [str(new)]
    assert photos == sorted(str(new / f"p{i:03d}.jpg") for i in range(4))


def test_an_unplugged_folder_keeps_photos_found_nowhere_else(tmp_path: Path) -> None:
    drive, other = tmp_path / "drive", tmp_path / "other"
    write_photos(drive, 3)
    write_photos(other, 2, prefix="o", first_colour=40)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, [drive, other])
    os.rename(drive, tmp_path / "unplugged")  # the drive is away: its photos stay searchable
    index(db_path, None)
    folders, photos = library(db_path)
    assert str(drive) in folders and len(photos) == 5


def test_forget_removes_a_folder_and_its_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MULTIGRAIN_BUNDLE", str(tmp_path / "no-bundle"))  # no model: the cache waits
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    write_photos(keep, 2)
    write_photos(drop, 3, prefix="d", first_colour=30)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, [keep, drop])

    assert main(["forget", str(drop), "--db", str(db_path)]) == 0
    assert "forgot" in capsys.readouterr().out
    folders, photos = library(db_path)
    assert folders == [str(keep)] and len(photos) == 2
    assert drop.is_dir() and len(list(drop.iterdir())) == 3  # the files are untouched

    assert main(["forget", str(tmp_path / "nowhere"), "--db", str(db_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a folder of the library" in err and str(keep) in err and "Traceback" not in err


def test_forget_takes_a_link_to_a_folder_of_the_library(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photos(photos, 2)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, [photos])
    os.symlink(photos, tmp_path / "alias")
    assert main(["forget", str(tmp_path / "alias"), "--db", str(db_path)]) == 0
    assert library(db_path) == ([], [])


def search_lines(db_path: Path, *extra: str) -> list[str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["search", "a photo", "--db", str(db_path), "--top", "10", *extra]) == 0
    return out.getvalue().splitlines()


def test_search_never_lists_a_deleted_file_and_marks_an_unreachable_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    here, drive = tmp_path / "here", tmp_path / "drive"
    write_photos(here, 3)
    write_photos(drive, 2, prefix="d", first_colour=30)
    db_path = tmp_path / "lib" / "library.db"
    index(db_path, [here, drive])
    monkeypatch.setattr("app.commands.load_model", lambda args: FakeRuntime())
    (here / "p000.jpg").unlink()  # deleted, its folder still there
    os.rename(drive, tmp_path / "away")  # the whole folder unreachable

    results = json.loads("\n".join(search_lines(db_path, "--json", "--all")))["results"]
    paths = {Path(r["path"]).name: r["missing"] for r in results}
    assert paths == {"p001.jpg": False, "p002.jpg": False, "d000.jpg": True, "d001.jpg": True}
    text = [line for line in search_lines(db_path, "--all") if ".jpg" in line]
    assert len(text) == 4 and sum("missing" in line for line in text) == 2
    assert not any("p000.jpg" in line for line in text)
