"""The folder scan: which files are photos, hidden things, links, loops and odd names."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from photo_files import solid, write_jpeg

from app.library.scan import is_photo_name, scan_folders


def test_photo_names_are_matched_case_insensitively() -> None:
    for name in (
        "a.jpg",
        "b.JPEG",
        "c.Png",
        "d.webp",
        "e.GIF",
        "f.bmp",
        "g.tif",
        "h.TIFF",
        "i.heic",
        "j.HEIF",
    ):
        assert is_photo_name(name), name
    for name in ("a.txt", "b.jpg.part", "c", "d.mov", "jpg"):
        assert not is_photo_name(name), name


def test_walk_finds_photos_skips_hidden_and_is_sorted(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "b.jpg", (1, 1, 1))
    write_jpeg(tmp_path / "A.JPG", (2, 2, 2))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    solid((3, 3, 3)).save(tmp_path / "sub" / "deeper" / "c.png")
    write_jpeg(tmp_path / ".hidden.jpg", (4, 4, 4))
    (tmp_path / ".thumbnails").mkdir()
    write_jpeg(tmp_path / ".thumbnails" / "t.jpg", (5, 5, 5))
    result = scan_folders([str(tmp_path)])
    names = [os.path.relpath(f.path, tmp_path) for f in result.files]
    assert names == ["A.JPG", "b.jpg", os.path.join("sub", "deeper", "c.png")]
    assert not result.problems and not result.missing_roots
    first = result.files[0]
    assert first.root == str(tmp_path) and first.size == (tmp_path / "A.JPG").stat().st_size
    assert first.mtime_ns == (tmp_path / "A.JPG").stat().st_mtime_ns


def test_links_are_followed_once_and_loops_and_broken_links_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    write_jpeg(root / "sub" / "a.jpg", (1, 1, 1))
    outside = tmp_path / "outside"
    outside.mkdir()
    write_jpeg(outside / "o.jpg", (2, 2, 2))
    os.symlink(outside, root / "linked")  # a link to a folder outside the root: followed when asked
    os.symlink(root, root / "sub" / "up")  # a loop back to the root
    os.symlink(root / "sub", root / "again")  # a second link to a folder already walked
    os.symlink(tmp_path / "missing.jpg", root / "broken.jpg")
    os.symlink(root / "self.jpg", root / "self.jpg")  # a link to itself
    kept_in = scan_folders([str(root)])
    assert [os.path.relpath(f.path, root) for f in kept_in.files] == [os.path.join("sub", "a.jpg")]
    problems = {os.path.relpath(p.path, root): p for p in kept_in.problems}
    assert not problems["linked"].is_photo and "outside the folders" in problems["linked"].message
    result = scan_folders([str(root)], follow_links=True)
    found = sorted(os.path.relpath(f.path, root) for f in result.files)
    assert found == [os.path.join("linked", "o.jpg"), os.path.join("sub", "a.jpg")]
    problems = {os.path.relpath(p.path, root): p for p in result.problems}
    assert problems["broken.jpg"].is_photo and "broken symbolic link" in problems["broken.jpg"].message
    assert problems["self.jpg"].is_photo and problems["self.jpg"].message == "symbolic link loop"
    for link in ("again", os.path.join("sub", "up")):
        assert not problems[link].is_photo and "already scanned" in problems[link].message, link


def test_non_utf8_and_emoji_names(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.jpg"
    with open(raw, "wb") as file:
        file.write(b"x")
    write_jpeg(tmp_path / "🎉 party 🐶.jpeg", (1, 1, 1))
    result = scan_folders([str(tmp_path)])
    paths = {f.path for f in result.files}
    assert os.fsdecode(raw) in paths and str(tmp_path / "🎉 party 🐶.jpeg") in paths
    assert all(os.path.exists(p) for p in paths)  # the str opens the very same file


def test_special_files_missing_roots_and_cancel(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")  # reading it would block forever
    (tmp_path / "folder.jpg").mkdir()  # a folder with a photo's name is just a folder
    write_jpeg(tmp_path / "folder.jpg" / "in.jpg", (1, 1, 1))
    result = scan_folders([str(tmp_path), str(tmp_path / "unplugged")])
    assert [os.path.relpath(f.path, tmp_path) for f in result.files] == [os.path.join("folder.jpg", "in.jpg")]
    assert [p.message for p in result.problems if p.path.endswith("pipe.jpg")] == [
        "not a regular file (a device, pipe or socket with a photo's name)"
    ]
    assert result.missing_roots == [str(tmp_path / "unplugged")]
    cancel = threading.Event()
    cancel.set()
    assert scan_folders([str(tmp_path)], cancel).cancelled
