"""Thumbnails: small JPEGs on disk, one per content hash, made from the image the indexer decoded.

Keyed by content hash, so duplicates share one file and a renamed photo keeps its thumbnail. Files are
sharded by the hash's first two hex digits (256 folders) to keep folder listings short, and written
to a temporary name then renamed, so a killed indexer never leaves half a JPEG under the real name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from core.errors import KnownError

THUMB_SIZE = 256  # longest side, pixels
QUALITY = 85


class ThumbnailError(KnownError):
    """The thumbnail folder cannot be written (full disk, permissions)."""


def thumb_path(thumbs_dir: str | Path, content_hash: str) -> Path:
    return Path(thumbs_dir) / content_hash[:2] / f"{content_hash}.jpg"


def save_thumbnail(
    image: Image.Image, thumbs_dir: str | Path, content_hash: str, size: int = THUMB_SIZE
) -> Path:
    """Write the thumbnail of an RGB ``image`` unless one exists; return its path."""
    target = thumb_path(thumbs_dir, content_hash)
    if target.exists():
        return target
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                small.save(file, "JPEG", quality=QUALITY, optimize=True)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise ThumbnailError(f"cannot write thumbnail {target}: {err.strerror or err}") from err
    return target


def prune_thumbnails(thumbs_dir: str | Path, keep: Iterable[str]) -> int:
    """Delete thumbnails whose hash is not in ``keep`` (and leftover partial files); return the count."""
    keep = set(keep)
    removed = 0
    root = Path(thumbs_dir)
    if not root.is_dir():
        return 0
    for shard in root.iterdir():
        if not shard.is_dir():
            continue
        for file in shard.iterdir():
            if file.name.endswith(".part") or (file.suffix == ".jpg" and file.stem not in keep):
                file.unlink(missing_ok=True)
                removed += 1
    return removed
