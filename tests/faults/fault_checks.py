"""Checks the fault tests share (a helper module, imported by name: tests/conftest.py puts it on the path)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

Run = Callable[..., tuple[int, str, str]]


def one_sentence(err: str, command: str) -> str:
    """The single line a known error prints; fails the test on a traceback or several lines."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("indexed ")]  # progress
    assert len(lines) == 1 and lines[0].startswith(f"multigrain {command}: "), err
    return lines[0]


def write_png_header_claiming(path: Path, width: int, height: int, colour_type: int = 2) -> Path:
    """A valid PNG of ``width`` x ``height`` black pixels (colour type 2: RGB; 0 with depth 1: grey) that
    is small on disk: its rows are all zero, which zlib compresses about a thousand to one."""
    depth = 8 if colour_type == 2 else 1
    row_bytes = 1 + (width * 3 if colour_type == 2 else (width + 7) // 8)  # filter byte + pixels
    compressor = zlib.compressobj(9)
    row = b"\0" * row_bytes
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path
