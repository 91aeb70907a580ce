"""Small generated photo files for library tests (tens of pixels: every test stays quick)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from PIL import Image


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A photo-ish image: a solid colour with a darker square, so it is not flat."""
    image = Image.new("RGB", size, colour)
    image.paste(tuple(c // 2 for c in colour), (2, 2, size[0] // 2, size[1] // 2))
    return image


def write_jpeg(
    path: str | Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30), **save: object
) -> str:
    solid(colour, size).save(path, "JPEG", **save)
    return os.fspath(path)


def write_photos(folder: Path, count: int, prefix: str = "p", first_colour: int = 0) -> list[str]:
    """``count`` JPEGs of distinct colours (distinct content hashes; ``first_colour`` shifts them)."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = [
        ((10 + 7 * i) % 250, (200 - 5 * i) % 250, 60) for i in range(first_colour, first_colour + count)
    ]
    return [write_jpeg(folder / f"{prefix}{i:03d}.jpg", colour) for i, colour in enumerate(colours)]


def png_claiming(path: Path, width: int, height: int) -> None:
    """A tiny valid-looking PNG whose IHDR claims ``width`` x ``height`` (a decompression bomb's header)."""
    small = Path(str(path) + ".src.png")
    Image.new("1", (8, 8)).save(small, "PNG")
    data = bytearray(small.read_bytes())
    small.unlink()
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def set_mtime(path: str | Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))
