"""When a photo was taken, read from its header alone, so that an index run can encode the newest first.

The date is EXIF DateTimeOriginal where the file has one, else the file's modification time. The EXIF
date comes first because a folder copied from a phone or a card gives every file the same mtime (the
copy's time) while the cameras' dates differ; ordering by mtime alone would then be the scan order.

Cost: ``Image.open`` parses only a JPEG's markers up to its pixels and ``getexif`` the EXIF block it
found there, so no pixel is decoded: 231 us a file on the 2-core build machine while other work loaded
it (``multigrain bench-newest``), 4.6 s for 20,000 files before the first batch starts. Formats
whose EXIF may sit after the pixels (PNG: Pillow decodes the whole image to look for it) are dated by
mtime unless the header already gave the EXIF block. Nothing here raises: a file whose header
cannot be read is dated by mtime and its real problem is reported when the indexer decodes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from PIL import Image

from app.library.decode import exif_taken_at

# Formats whose EXIF block, if any, is in the header Image.open has already read.
_EXIF_IN_HEADER = frozenset({"JPEG", "MPO", "WEBP", "TIFF", "HEIF"})

T = TypeVar("T")


def local_seconds(taken_at: str | None, mtime_ns: int | None) -> float:
    """Seconds of local wall-clock time (as if it were UTC): EXIF ``taken_at``, else the file's mtime.

    Local, because "photos from 1 May" means the day on the camera's clock, wherever it was.
    """
    if taken_at:
        try:
            moment = datetime.fromisoformat(taken_at).replace(tzinfo=None)
            return (moment - datetime(1970, 1, 1)).total_seconds()
        except ValueError:
            pass
    if mtime_ns is None:
        return float("nan")
    moment = datetime.fromtimestamp(mtime_ns / 1e9)
    return (moment - datetime(1970, 1, 1)).total_seconds()


def header_taken_at(path: str) -> str | None:
    """EXIF DateTimeOriginal of ``path`` as ISO 8601, read without decoding pixels; None if it has none
    or its header cannot be read."""
    try:
        # Only a regular file: opening a FIFO named like a photo would wait forever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with Image.open(path) as image:
            if image.format not in _EXIF_IN_HEADER and "exif" not in image.info:
                return None
            return exif_taken_at(image.getexif())
    except Exception:  # any header problem: the decode reports it; the date falls back to mtime
        return None


def newest_first(
    items: Sequence[T],
    path_of: Callable[[T], str],
    mtime_ns_of: Callable[[T], int],
    cancelled: Callable[[], bool] = lambda: False,
) -> list[T] | None:
    """``items`` ordered newest first by ``local_seconds(EXIF date, mtime)``; items of the same moment
    keep their order. None when ``cancelled()`` turned true while the dates were read."""
    keys: list[float] = []
    for i, item in enumerate(items):
        if i % 256 == 0 and cancelled():
            return None
        keys.append(-local_seconds(header_taken_at(path_of(item)), mtime_ns_of(item)))
    if cancelled():
        return None
    order = sorted(range(len(items)), key=keys.__getitem__)  # sorted is stable: ties keep scan order
    return [items[i] for i in order]
