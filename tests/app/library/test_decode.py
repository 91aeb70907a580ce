"""Safe decode: odd but valid photos decode right; broken files are DecodeErrors with readable messages."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from icc_profiles import red_green_swapped
from photo_files import png_claiming, solid, write_jpeg
from PIL import Image, ImageCms

from app.library.decode import MAX_PIXELS, DecodeError, decode_image
from core.errors import KnownError


def near(pixel: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, expected, strict=True))


# ----- valid files in awkward forms -------------------------------------------------------------------
def test_plain_jpeg(tmp_path: Path) -> None:
    decoded = decode_image(write_jpeg(tmp_path / "a.jpg", (200, 40, 40)))
    assert decoded.image.mode == "RGB" and decoded.image.size == (40, 30)
    assert (decoded.width, decoded.height, decoded.format, decoded.taken_at) == (40, 30, "JPEG", None)
    assert near(decoded.image.getpixel((35, 25)), (200, 40, 40))


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (32, 24), (255, 0, 0, 0)).save(tmp_path / "c.jpg", "JPEG")  # pure cyan ink
    decoded = decode_image(tmp_path / "c.jpg")
    assert decoded.image.mode == "RGB"
    assert near(decoded.image.getpixel((5, 5)), (0, 255, 255))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_an_embedded_profile_decides_the_colours(tmp_path: Path, fmt: str) -> None:
    # Stored red under a profile that swaps red and green is green in sRGB, as a colour-managed viewer
    # shows it; the same pixels with an sRGB profile, none, or an unreadable one stay red.
    red = (200, 30, 30)
    for name, profile in [
        ("swapped", red_green_swapped()),
        ("srgb", ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()),
        ("junk", b"not an ICC profile" * 10),
        ("none", None),
    ]:
        extra: dict[str, object] = {"icc_profile": profile} if profile else {}
        if fmt == "JPEG":
            extra["quality"] = 95
        path = tmp_path / f"{name}.{fmt.lower()}"
        solid(red, (40, 30)).save(path, fmt, **extra)
        r, g, b = decode_image(path).image.getpixel((20, 15))
        if name == "swapped":  # LittleCMS gives (24, 201, 24) before JPEG's rounding
            assert g > 180 and r < 60 and b < 60, (name, (r, g, b))
        else:
            assert near((r, g, b), red), (name, (r, g, b))


def test_a_profile_and_an_exif_rotation_both_apply(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    solid((200, 30, 30), (40, 30)).save(tmp_path / "r.jpg", exif=exif, icc_profile=red_green_swapped())
    decoded = decode_image(tmp_path / "r.jpg", min_side=8)  # the draft path too
    assert decoded.image.size[0] < decoded.image.size[1] and (decoded.width, decoded.height) == (30, 40)
    r, g, b = decoded.image.getpixel((5, 5))
    assert g > 180 and r < 60 and b < 60, (r, g, b)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    pixels = np.full((20, 30), 40000, dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as written:
        assert written.mode.startswith("I")  # really a 16-bit file
    decoded = decode_image(tmp_path / "g16.png")
    assert decoded.image.mode == "RGB" and decoded.image.getpixel((3, 3)) == (156, 156, 156)  # 40000 >> 8


def test_palette_png_with_transparency_over_white(tmp_path: Path) -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (10, 0, 20, 20))
    image.save(tmp_path / "p.png", transparency=0)  # index 0 (black) is transparent
    decoded = decode_image(tmp_path / "p.png")
    assert decoded.image.getpixel((2, 2)) == (255, 255, 255)
    assert decoded.image.getpixel((15, 5)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_composited_over_white(tmp_path: Path, mode: str) -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (5, 0, 10, 10))
    image.convert(mode).save(tmp_path / "a.png")
    decoded = decode_image(tmp_path / "a.png")
    assert decoded.image.getpixel((1, 1)) == (255, 255, 255)
    assert decoded.image.getpixel((8, 1)) == (0, 0, 0)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = decode_image(tmp_path / "a.gif")
    assert decoded.format == "GIF" and near(decoded.image.getpixel((8, 8)), (255, 0, 0))


def test_exif_rotation_swaps_width_and_height(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    image = solid((30, 160, 30), (40, 30))
    image.paste((255, 255, 255), (0, 0, 10, 10))  # a white top-left corner
    image.save(tmp_path / "r.jpg", exif=exif)
    decoded = decode_image(tmp_path / "r.jpg")
    assert decoded.image.size == (30, 40) and (decoded.width, decoded.height) == (30, 40)
    assert near(decoded.image.getpixel((25, 3)), (255, 255, 255), tol=40)  # now at the top right


def test_exif_date_taken(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2021:07:04 10:20:30"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    write_jpeg(tmp_path / "d.jpg", (1, 2, 3), exif=exif)
    assert decode_image(tmp_path / "d.jpg").taken_at == "2021-07-04T10:20:30+02:00"
    unknown = Image.Exif()
    unknown.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    write_jpeg(tmp_path / "u.jpg", (1, 2, 3), exif=unknown)
    assert decode_image(tmp_path / "u.jpg").taken_at is None


def _exif_block(byte_order: str, entries: list[tuple[int, int, int, int]]) -> bytes:
    """An APP1 EXIF payload with one IFD of (tag, type, count, value-or-offset) entries, unchecked."""
    head = b"II*\x00" if byte_order == "<" else b"MM\x00*"
    ifd = struct.pack(f"{byte_order}H", len(entries))
    for tag, kind, count, value in entries:
        if kind == 3 and count == 1:  # a SHORT sits left-aligned in the 4-byte value field
            ifd += struct.pack(f"{byte_order}HHIH2x", tag, kind, count, value)
        else:
            ifd += struct.pack(f"{byte_order}HHII", tag, kind, count, value)
    return b"Exif\x00\x00" + head + struct.pack(f"{byte_order}I", 8) + ifd + b"\x00" * 4


@pytest.mark.parametrize(
    ("exif", "size"),
    [
        pytest.param(_exif_block("<", [(0x0112, 3, 1, 6)])[:-9], (40, 30), id="truncated-ifd"),
        pytest.param(_exif_block(">", [(0x0112, 3, 1, 99)]), (40, 30), id="orientation-99"),
        pytest.param(_exif_block("<", [(0x0112, 2, 4, 0x00636261)]), (40, 30), id="orientation-as-text"),
        pytest.param(_exif_block("<", [(0x0112, 3, 1, 0)]), (40, 30), id="orientation-0"),
        pytest.param(b"Exif\x00\x00\xff\xfe garbage \x00\x01\x02", (40, 30), id="garbage"),
        pytest.param(
            _exif_block("<", [(0x0112, 3, 1, 6), (0x010F, 2, 100, 0x1000)]), (30, 40), id="valid-6-bad-offset"
        ),
    ],
)
def test_corrupt_exif_does_not_lose_the_photo(tmp_path: Path, exif: bytes, size: tuple[int, int]) -> None:
    write_jpeg(tmp_path / "e.jpg", (90, 90, 200), exif=exif)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's own "Corrupt EXIF data" notes
        with Image.open(tmp_path / "e.jpg") as written:
            assert written.info["exif"] == exif  # the damaged block is in the file
        decoded = decode_image(tmp_path / "e.jpg")
    assert decoded.image.size == size and (decoded.width, decoded.height) == size
    assert near(decoded.image.getpixel((size[0] - 3, size[1] - 3)), (90, 90, 200))


def test_jpeg_draft_decodes_small_but_reports_full_size(tmp_path: Path) -> None:
    big = Image.effect_noise((1600, 1200), 40).convert("RGB")
    big.save(tmp_path / "big.jpg", quality=80)
    decoded = decode_image(tmp_path / "big.jpg", min_side=300)
    assert (decoded.width, decoded.height) == (1600, 1200)
    assert decoded.image.size == (400, 300)  # 1/4 scale keeps both sides >= 300; 1/8 would not
    assert decode_image(tmp_path / "big.jpg").image.size == (1600, 1200)


def test_heic(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("this pillow-heif has no HEIF encoder, so no HEIC file can be written here")
    try:
        solid((220, 120, 20), (64, 48)).save(tmp_path / "h.heic", format="HEIF", quality=90)
    except (OSError, ValueError, KeyError) as err:
        pytest.skip(f"pillow-heif cannot write HEIC here: {err}")
    decoded = decode_image(tmp_path / "h.heic")
    assert (
        decoded.format == "HEIF"
        and decoded.image.mode == "RGB"
        and (decoded.width, decoded.height) == (64, 48)
    )
    assert near(decoded.image.getpixel((60, 44)), (220, 120, 20), tol=25)


# ----- files that must be refused with a sentence ---------------------------------------------------
def refusal(path: Path) -> str:
    with pytest.raises(DecodeError) as info:
        decode_image(path, min_side=64)
    assert isinstance(info.value, KnownError)
    return str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.jpg").write_bytes(b"")
    assert refusal(tmp_path / "e.jpg") == "empty file (0 bytes)"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "t.jpg").write_text("this is a shopping list, not a photo\n")
    assert refusal(tmp_path / "t.jpg") == "not an image (a text file named .jpg)"


def test_truncated_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(buffer, "JPEG")
    (tmp_path / "t.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert refusal(tmp_path / "t.jpg").startswith("truncated JPEG")


def test_truncated_png(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(buffer, "PNG")
    (tmp_path / "t.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert refusal(tmp_path / "t.png").startswith("truncated PNG")


def test_decompression_bomb_png(tmp_path: Path) -> None:
    png_claiming(tmp_path / "bomb.png", 100_000, 100_000)
    message = refusal(tmp_path / "bomb.png")
    assert message == f"image too large (10,000,000,000 pixels, limit {MAX_PIXELS:,})"


def test_image_just_over_the_limit_is_refused_even_when_warnings_are_errors(tmp_path: Path) -> None:
    side = int(MAX_PIXELS**0.5) + 10  # over the limit, under twice it: Pillow only warns
    png_claiming(tmp_path / "big.png", side, side)
    with warnings.catch_warnings(record=True):  # decode.py silences it; pytest's own filters may not
        assert refusal(tmp_path / "big.png").startswith("image too large")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert refusal(tmp_path / "big.png").startswith("image too large")


def test_folder_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "d.jpg").mkdir()
    assert refusal(tmp_path / "d.jpg").startswith("cannot read the file")
