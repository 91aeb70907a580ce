"""Dating photos from their headers (to index the newest first), without decoding their pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from photo_files import write_jpeg
from PIL import Image, ImageFile

from app.library.dates import header_taken_at
from app.library.split import Split, default_split


@pytest.fixture
def no_pixels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Decoding any pixel fails the test (counted, since ``header_taken_at`` swallows exceptions)."""
    decoded: list[object] = []
    real = ImageFile.ImageFile.load

    def counting(self: ImageFile.ImageFile) -> object:
        decoded.append(self)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    yield
    assert decoded == [], "pixels were decoded"


def test_exif_date_is_read_without_decoding_pixels(tmp_path: Path, no_pixels: None) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2021:08:09 10:11:12"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    write_jpeg(tmp_path / "dated.jpg", (1, 2, 3), (400, 300), exif=exif)
    write_jpeg(tmp_path / "plain.jpg", (1, 2, 3))
    assert header_taken_at(str(tmp_path / "dated.jpg")) == "2021-08-09T10:11:12+02:00"
    assert header_taken_at(str(tmp_path / "plain.jpg")) is None


def test_a_png_is_dated_by_mtime_rather_than_decoded(tmp_path: Path, no_pixels: None) -> None:
    # Pillow decodes a whole PNG to look for an EXIF chunk after the pixels: not worth it for a date.
    Image.new("RGB", (40, 30)).save(tmp_path / "no-exif.png")
    assert header_taken_at(str(tmp_path / "no-exif.png")) is None


def test_unreadable_headers_give_no_date(tmp_path: Path, no_pixels: None) -> None:
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "folder.jpg").mkdir()
    for name in ("text.jpg", "empty.jpg", "folder.jpg", "missing.jpg"):
        assert header_taken_at(str(tmp_path / name)) is None


def test_the_default_split_follows_the_cores() -> None:
    assert default_split(1) == Split(decoders=1, encoders=1, intra_op=1, run_batch=1)
    assert default_split(2) == Split(decoders=2, encoders=2, intra_op=1, run_batch=1)
    assert default_split(16).encoders == 4 and default_split(16).intra_op == 4
    gpu = default_split(8, gpu=True)
    assert gpu.encoders == 1 and gpu.run_batch > 1 and gpu.decoders == 8
