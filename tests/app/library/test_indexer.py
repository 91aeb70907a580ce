"""The indexer, on a real SQLite file and generated photos, with a fake model that counts its work."""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from fake_runtime import FakeRuntime
from photo_files import png_claiming, set_mtime, solid, write_jpeg, write_photos
from PIL import Image
from sqlite_utils import Database

from app.library import dates, hashing, indexer, store
from app.library.db import open_db
from app.library.encoder import ImageEncoder
from app.library.indexer import Indexer, Progress
from app.library.thumbs import thumb_path
from app.vectors import load_index
from core.region_boxes import BOX_SET_NAME, BOXES


@dataclass
class Library:
    db: Database
    runtime: FakeRuntime
    indexer: Indexer
    photos: Path
    thumbs: Path

    def rows(self) -> dict[str, tuple]:
        """path relative to the photo folder -> (status, error, content_hash, width, height, taken_at)."""
        rows = self.db.execute(
            "SELECT path, status, error, content_hash, width, height, taken_at FROM photos"
        )
        return {os.path.relpath(row[0], self.photos): tuple(row[1:]) for row in rows}

    def vector_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM vectors").fetchone()[0])


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    db = open_db(tmp_path / "library.db")
    runtime = FakeRuntime()
    photos = tmp_path / "photos"
    photos.mkdir()
    thumbs = tmp_path / "thumbs"
    yield Library(db, runtime, Indexer(db, runtime, thumbs, batch_size=4, workers=2), photos, thumbs)
    db.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths the indexer reads (hashes), in order."""
    seen: list[str] = []
    real = indexer.content_hash

    def counting(path: str) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(indexer, "content_hash", counting)
    return seen


def test_first_run_indexes_everything(lib: Library) -> None:
    assert isinstance(lib.runtime, ImageEncoder)  # the fake has the runtime's surface
    write_photos(lib.photos, 5)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    (lib.photos / "sub").mkdir()
    write_jpeg(lib.photos / "sub" / "dated.jpg", (9, 9, 9), exif=exif)
    updates: list[Progress] = []
    report = lib.indexer.index([lib.photos], progress=updates.append)

    assert report.status == "done" and report.counts.encoded == 6 and report.counts.total == 6
    assert lib.runtime.images_encoded == 6 and lib.runtime.region_calls == lib.runtime.image_calls == 2
    rows = lib.rows()
    assert {r[0] for r in rows.values()} == {"ok"} and len(rows) == 6
    assert rows[os.path.join("sub", "dated.jpg")][3:] == (40, 30, "2020-01-02T03:04:05")
    vector = store.get_vectors(lib.db, rows["p000.jpg"][2], lib.runtime.identity)
    assert vector is not None and vector.box_set == BOX_SET_NAME and vector.regions.shape == (len(BOXES), 8)
    assert abs(float(np.linalg.norm(vector.embedding)) - 1) < 2e-3
    assert len(BOXES) == 14 and not any(np.allclose(box, (0, 0, 1, 1)) for box in BOXES)
    with Image.open(thumb_path(lib.thumbs, rows["p000.jpg"][2])) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (40, 30)  # never enlarged
    assert (updates[0].done, updates[-1].done, updates[-1].total) == (0, 6, 6)
    assert updates[-1].eta_s == 0 and updates[-1].rate > 0 and updates[-1].current
    run = lib.db.execute("SELECT status, total, encoded FROM index_runs").fetchall()
    assert run == [("done", 6, 6)]


def test_reindex_reads_only_new_and_changed_files(lib: Library, reads: list[str]) -> None:
    paths = write_photos(lib.photos, 6)
    lib.indexer.index([lib.photos])
    encoded, reads[:] = lib.runtime.images_encoded, []

    write_jpeg(paths[2], (255, 255, 0))  # new content
    set_mtime(paths[2], 1_700_000_000_000_000_000)
    set_mtime(paths[3], 1_600_000_000_000_000_000)  # touched only: read again, but same content
    new = write_jpeg(lib.photos / "new.jpg", (0, 0, 255))
    report = lib.indexer.index([lib.photos])

    assert sorted(reads) == sorted([paths[2], paths[3], new])
    assert lib.runtime.images_encoded - encoded == 2  # paths[3] kept its vectors
    assert (report.counts.unchanged, report.counts.encoded, report.counts.reused) == (4, 2, 1)
    assert lib.vector_count() == 7  # the old content of paths[2] was pruned

    reads[:] = []
    assert lib.indexer.index([lib.photos]).counts.unchanged == 7 and reads == []


def test_rename_and_move_keep_vectors(lib: Library) -> None:
    paths = write_photos(lib.photos, 4)
    lib.indexer.index([lib.photos])
    before = lib.rows()
    encoded = lib.runtime.images_encoded
    (lib.photos / "moved").mkdir()
    os.rename(paths[0], lib.photos / "renamed.jpg")
    os.rename(paths[1], lib.photos / "moved" / "p001.jpg")
    report = lib.indexer.index([lib.photos])

    assert lib.runtime.images_encoded == encoded
    assert (report.counts.reused, report.counts.removed, report.counts.encoded) == (2, 2, 0)
    after = lib.rows()
    assert after["renamed.jpg"][2] == before["p000.jpg"][2]
    assert after[os.path.join("moved", "p001.jpg")][2] == before["p001.jpg"][2]
    assert "p000.jpg" not in after and len(after) == 4 and lib.vector_count() == 4


def test_duplicates_are_encoded_once(lib: Library) -> None:
    original = write_photos(lib.photos, 1)[0]
    for name in ("b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"):  # spread over two batches of 4
        shutil.copy(original, lib.photos / name)
    report = lib.indexer.index([lib.photos])
    assert lib.runtime.images_encoded == 1 and report.counts.reused == 5 and lib.vector_count() == 1
    assert len({row[2] for row in lib.rows().values()}) == 1
    assert len(list(lib.thumbs.rglob("*.jpg"))) == 1


def test_deletions_are_noticed_and_their_vectors_pruned(lib: Library) -> None:
    paths = write_photos(lib.photos, 3)
    lib.indexer.index([lib.photos])
    gone_hash = lib.rows()["p001.jpg"][2]
    os.remove(paths[1])
    report = lib.indexer.index([lib.photos])
    assert report.counts.removed == 1 and set(lib.rows()) == {"p000.jpg", "p002.jpg"}
    assert lib.vector_count() == 2 and not thumb_path(lib.thumbs, gone_hash).exists()


def test_missing_folder_keeps_its_photos(lib: Library, tmp_path: Path) -> None:
    other = tmp_path / "drive"
    write_photos(lib.photos, 2)
    write_photos(other, 2, prefix="d", first_colour=10)
    lib.indexer.index([lib.photos, other])
    os.rename(other, tmp_path / "unplugged")
    report = lib.indexer.index()  # every folder of the library
    assert report.missing_folders == [str(other)] and report.counts.removed == 0
    assert store.count_photos(lib.db, "ok") == 4 and lib.vector_count() == 4


def test_model_change_means_new_vectors_not_mixed(lib: Library, tmp_path: Path) -> None:
    write_photos(lib.photos, 3)
    lib.indexer.index([lib.photos])
    other = FakeRuntime(identity="fake-model-v2")
    report = Indexer(lib.db, other, lib.thumbs, batch_size=4).index([lib.photos])
    assert other.images_encoded == 3 and report.counts.encoded == 3
    models = lib.db.execute("SELECT model, count(*) FROM vectors GROUP BY model ORDER BY model").fetchall()
    assert models == [("fake-model-v1", 3), ("fake-model-v2", 3)]


def test_broken_files_are_recorded_and_indexing_goes_on(
    lib: Library, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    d = lib.photos
    write_photos(d, 3)
    (d / "empty.jpg").write_bytes(b"")
    noise = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(noise, "JPEG")
    (d / "truncated.jpg").write_bytes(noise.getvalue()[:2000])
    (d / "notes.jpg").write_text("dear diary\n")
    png_claiming(d / "bomb.png", 100_000, 100_000)
    write_jpeg(d / "locked.jpg", (5, 5, 5))
    os.chmod(d / "locked.jpg", 0)  # enough when not root; root reads anything, so also:
    real_open = open

    def no_access(path: object, *args: object, **kwargs: object) -> object:
        if os.fspath(path).endswith("locked.jpg"):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(hashing, "open", no_access, raising=False)
    os.symlink(d / "nowhere.jpg", d / "broken.jpg")
    os.symlink(d / "loop.jpg", d / "loop.jpg")
    (d / "folder.jpg").mkdir()
    write_jpeg(d / "folder.jpg" / "inside.jpg", (7, 7, 7))

    report = lib.indexer.index([d])
    rows = lib.rows()
    errors = {name: row[1] for name, row in rows.items() if row[0] == "error"}
    assert errors == {
        "empty.jpg": "empty file (0 bytes)",
        "truncated.jpg": "truncated JPEG (the file ends before the image does)",
        "notes.jpg": "not an image (a text file named .jpg)",
        "bomb.png": "image too large (10,000,000,000 pixels, limit 200,000,000)",
        "locked.jpg": "cannot read the file: permission denied",
        "broken.jpg": f"broken symbolic link -> {d / 'nowhere.jpg'} (its target does not exist)",
        "loop.jpg": "symbolic link loop",
    }
    ok = sorted(name for name, row in rows.items() if row[0] == "ok")
    assert ok == [os.path.join("folder.jpg", "inside.jpg"), "p000.jpg", "p001.jpg", "p002.jpg"]
    assert report.counts.failed == 7 and report.status == "done" and lib.runtime.images_encoded == 4

    reads[
        :
    ] = []  # failed files are not read again (nor counted failed again) until they change, unless asked
    again = lib.indexer.index([d]).counts
    assert again.unchanged == 4 + 7 and again.failed == 0 and reads == []
    assert lib.indexer.index([d], retry_errors=True).counts.failed == 7
    assert len(reads) == 5


def test_awkward_photos_are_indexed(lib: Library) -> None:
    d = lib.photos
    Image.new("CMYK", (20, 10), (0, 255, 0, 0)).save(d / "cmyk.jpg")
    Image.fromarray(np.full((10, 20), 50000, dtype=np.uint16)).save(d / "grey16.png")
    palette = Image.new("P", (20, 10), 1)
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    palette.save(d / "palette.png", transparency=0)
    frames = [solid((200, 0, 0), (20, 10)), solid((0, 0, 200), (20, 10))]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 8
    write_jpeg(d / "rotated.jpg", (0, 90, 0), (40, 30), exif=exif)
    write_jpeg(os.fsencode(d) + b"/\xe9t\xe9-latin1.jpg", (1, 100, 200))
    write_jpeg(d / "🌅 sunset.JPG", (250, 120, 0))

    report = lib.indexer.index([d])
    rows = lib.rows()
    assert report.counts.failed == 0 and {row[0] for row in rows.values()} == {"ok"} and len(rows) == 7
    assert rows["rotated.jpg"][3:5] == (30, 40) and rows["cmyk.jpg"][3:5] == (20, 10)
    assert os.fsdecode(os.fsencode(d) + b"/\xe9t\xe9-latin1.jpg") in {
        row[0] for row in lib.db.execute("SELECT path FROM photos")
    }
    assert lib.runtime.images_encoded == 7
    assert lib.indexer.index([d]).counts.unchanged == 7  # the odd names compare equal next time


@pytest.mark.parametrize("encoders", [1, 2])
def test_cancel_between_batches_then_resume(lib: Library, encoders: int) -> None:
    lib.indexer = Indexer(lib.db, lib.runtime, lib.thumbs, batch_size=4, encoders=encoders, run_batch=1)
    write_photos(lib.photos, 10)
    cancel = threading.Event()

    def stop_after_first_batch(progress: Progress) -> None:
        if progress.done >= 4:
            cancel.set()

    report = lib.indexer.index([lib.photos], progress=stop_after_first_batch, cancel=cancel)
    assert report.status == "cancelled"
    assert store.count_photos(lib.db, "ok") == 4 and store.count_photos(lib.db, "pending") == 6
    assert lib.db.execute("SELECT status FROM index_runs").fetchall() == [("cancelled",)]
    report = lib.indexer.index([lib.photos])
    assert report.status == "done" and report.counts.encoded == 6 and lib.runtime.images_encoded == 10
    assert store.count_photos(lib.db, "ok") == 10


@pytest.mark.parametrize("encoders", [1, 2])
def test_a_failing_model_fails_the_run_and_keeps_committed_batches(lib: Library, encoders: int) -> None:
    lib.indexer = Indexer(lib.db, lib.runtime, lib.thumbs, batch_size=4, encoders=encoders, run_batch=1)
    write_photos(lib.photos, 8)
    real = lib.runtime.encode_images

    def fails_in_second_batch(*args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        if lib.runtime.images_encoded >= 4:  # batches run one after another: this is the second
            raise RuntimeError("model exploded")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    lib.runtime.encode_images = fails_in_second_batch  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="exploded"):
        lib.indexer.index([lib.photos])
    assert store.count_photos(lib.db, "ok") == 4 and store.count_photos(lib.db, "pending") == 4
    assert lib.db.execute("SELECT status FROM index_runs").fetchall() == [("failed",)]


# ----- newest first ------------------------------------------------------------------------------------
def _dated(path: Path, colour: tuple[int, int, int], taken: str | None, mtime_year: int) -> None:
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken
    write_jpeg(path, colour, exif=exif)
    set_mtime(path, int((datetime(mtime_year, 6, 1) - datetime(1970, 1, 1)).total_seconds()) * 10**9)


def _commit_order(lib: Library, **options: object) -> list[str]:
    """The files in the order the indexer committed them (one photo a batch)."""
    order: list[str] = []
    one_by_one = Indexer(lib.db, lib.runtime, lib.thumbs, batch_size=1, **options)  # type: ignore[arg-type]
    one_by_one.index(
        [lib.photos], progress=lambda p: order.append(os.path.basename(p.current)) if p.done else None
    )
    return order


def test_newest_photos_are_indexed_first_by_exif_date_else_mtime(lib: Library) -> None:
    d = lib.photos
    # Copied from a card: the EXIF photos have this year's mtime, whatever their date.
    _dated(d / "a-2012.jpg", (10, 0, 0), "2012:03:04 05:06:07", 2025)
    _dated(d / "b-2023.jpg", (20, 0, 0), "2023:01:01 00:00:00", 2025)
    _dated(d / "c-2018.jpg", (30, 0, 0), "2018:07:07 07:07:07", 2025)
    _dated(d / "d-no-exif-2020.jpg", (40, 0, 0), None, 2020)  # no EXIF date: its mtime
    _dated(d / "e-no-exif-2005.jpg", (50, 0, 0), None, 2005)
    Image.new("RGB", (8, 8), (60, 0, 0)).save(d / "f-png-2015.png")  # PNG: dated by mtime, not decoded
    set_mtime(
        d / "f-png-2015.png", int((datetime(2015, 1, 1) - datetime(1970, 1, 1)).total_seconds()) * 10**9
    )

    assert _commit_order(lib) == [
        "b-2023.jpg",
        "d-no-exif-2020.jpg",
        "c-2018.jpg",
        "f-png-2015.png",
        "a-2012.jpg",
        "e-no-exif-2005.jpg",
    ]


def test_scan_order_when_asked(lib: Library) -> None:
    _dated(lib.photos / "a.jpg", (10, 0, 0), "2012:03:04 05:06:07", 2012)
    _dated(lib.photos / "b.jpg", (20, 0, 0), "2023:01:01 00:00:00", 2023)
    assert _commit_order(lib, newest_first=False) == ["a.jpg", "b.jpg"]


def test_a_changed_photo_keeps_its_place_by_date_and_odd_headers_do_not_stop_the_run(lib: Library) -> None:
    d = lib.photos
    _dated(d / "old.jpg", (10, 0, 0), "2001:01:01 00:00:00", 2025)
    (d / "not-a-photo.jpg").write_text("hello")  # no header to date: mtime; the decode records the error
    _dated(d / "new.jpg", (20, 0, 0), "2024:01:01 00:00:00", 2025)
    set_mtime(
        d / "not-a-photo.jpg", int((datetime(2010, 1, 1) - datetime(1970, 1, 1)).total_seconds()) * 10**9
    )
    assert _commit_order(lib) == ["new.jpg", "not-a-photo.jpg", "old.jpg"]
    assert lib.rows()["not-a-photo.jpg"][:2] == ("error", "not an image (a text file named .jpg)")


def test_cancelled_while_dating_writes_nothing(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    write_photos(lib.photos, 3)
    cancel = threading.Event()
    monkeypatch.setattr(dates, "header_taken_at", lambda path: cancel.set())  # cancelled at the first file
    report = lib.indexer.index([lib.photos], cancel=cancel)
    assert report.status == "cancelled" and store.count_photos(lib.db, "pending") == 0


# ----- searchable while indexing -----------------------------------------------------------------------
def test_committed_photos_are_searchable_before_the_run_ends(lib: Library, tmp_path: Path) -> None:
    write_photos(lib.photos, 6, prefix="old")
    lib.indexer.index([lib.photos])
    for i, name in enumerate(["x", "y", "z", "w", "v", "u", "t", "s"]):  # newer than the six above
        _dated(lib.photos / f"{name}.jpg", (200, 10 * i, 90), f"2030:01:0{i + 1} 00:00:00", 2025)
    seen: list[tuple[int, int, int]] = []  # (done, progress.searchable, photos a search finds)

    def search_now(p: Progress) -> None:
        reader = open_db(tmp_path / "library.db", writable=False)  # as another process would
        try:
            index = load_index(reader, tmp_path / "library.db", lib.runtime.identity, BOX_SET_NAME)
            seen.append((p.done, p.searchable, index.n))
        finally:
            reader.close()

    lib.indexer.index([lib.photos], progress=search_now)
    assert seen == [(0, 6, 6), (4, 10, 10), (8, 14, 14)]


def test_searchable_counts_a_changed_photo_once(lib: Library) -> None:
    paths = write_photos(lib.photos, 3)
    lib.indexer.index([lib.photos])
    write_jpeg(paths[0], (1, 2, 3))  # changed: out of search until read again, then one photo again
    (lib.photos / "p001.jpg").write_text("now broken")  # was searchable, is not any more
    seen: list[int] = []
    lib.indexer.index([lib.photos], progress=lambda p: seen.append(p.searchable))
    assert seen == [1, 2]
