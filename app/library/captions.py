"""Captions people already wrote for their photos, found beside or inside the files, and embedded.

Sources, in the ``captions.source`` vocabulary:
- ``sidecar``: a text file ``photo.jpg.txt`` or ``photo.txt`` beside the photo (the first found);
- ``xmp``: ``dc:description`` of an XMP sidecar (``photo.xmp`` as Lightroom writes it, ``photo.jpg.xmp``
  as darktable does) or, if there is none, of the XMP packet inside the file;
- ``exif``: the EXIF ImageDescription tag, unless it is a camera's boilerplate ("OLYMPUS DIGITAL CAMERA").

``index_captions`` is a pass run after the indexer: sidecars are checked for every photo (against one
directory listing per folder, not a stat per photo), the files' own metadata only for photos indexed
since a given time (their headers are read again). Caption
rows are keyed by content hash like vectors; 'user' captions are never touched. Every caption without a
vector for the model is then embedded with the text encoder.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image
from sqlite_utils import Database

from app.library import store

MAX_SIDECAR_BYTES = 1 << 20  # a caption file larger than this is not a caption
MAX_CAPTION_CHARS = 2000
EMBED_BATCH = 64
_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_IMAGE_DESCRIPTION = 0x010E
# What cameras and phones write into ImageDescription when the user wrote nothing.
_BOILERPLATE = re.compile(
    r"^(olympus digital camera|sony dsc|digital camera|default|image|picture|camera|"
    r"samsung|lg|huawei|minolta digital camera|konica minolta digital camera|kodak.*|"
    r"[a-z]*\s*dsc|dcim|img_?\d*|\W*)$",
    re.IGNORECASE,
)


class TextEncoder(Protocol):
    """What the pass needs from a model (``export.runtime.Runtime`` has it)."""

    @property
    def identity(self) -> str: ...

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass
class CaptionReport:
    found: int = 0  # photos (distinct contents) with at least one caption
    updated: int = 0  # caption rows written or changed
    removed: int = 0  # caption rows whose source vanished
    embedded: int = 0  # captions embedded with the model


def clean(text: str | None) -> str | None:
    """A caption worth keeping: stripped, bounded, with at least one letter or digit."""
    if not text:
        return None
    text = " ".join(text.replace("\x00", " ").split())[:MAX_CAPTION_CHARS]
    return text if any(c.isalnum() for c in text) else None


def parse_xmp_description(data: bytes | str) -> str | None:
    """``dc:description`` of an XMP packet (its ``x-default`` entry, else the first), or None."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    start = data.find("<")
    if start < 0:
        return None
    # Tolerate the <?xpacket ...?> wrapper and trailing padding around the RDF document.
    end = data.rfind(">")
    try:
        root = ET.fromstring(data[start : end + 1])
    except ET.ParseError:
        return None
    for desc in root.iter(f"{{{_NS['rdf']}}}Description"):
        attribute = desc.get(f"{{{_NS['dc']}}}description")
        if clean(attribute):
            return clean(attribute)
        for element in desc.iter(f"{{{_NS['dc']}}}description"):
            items = element.findall(".//rdf:li", _NS)
            default = [li for li in items if li.get(_XML_LANG) == "x-default"]
            for li in default + items:
                if clean(li.text):
                    return clean(li.text)
            if clean(element.text):
                return clean(element.text)
    return None


def _read_small(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SIDECAR_BYTES + 1)
    except OSError:
        return None
    return None if len(data) > MAX_SIDECAR_BYTES else data


def sidecar_captions(photo: str, names: set[str]) -> dict[str, str]:
    """Captions from files beside ``photo``; ``names`` is its directory's listing."""
    folder, name = os.path.split(photo)
    stem = os.path.splitext(name)[0]
    found: dict[str, str] = {}
    for candidate in (f"{name}.txt", f"{stem}.txt"):
        if candidate in names:
            data = _read_small(os.path.join(folder, candidate))
            text = clean(data.decode("utf-8", "replace").lstrip("\ufeff")) if data else None
            if text:
                found["sidecar"] = text
                break
    for candidate in (f"{stem}.xmp", f"{name}.xmp", f"{stem}.XMP", f"{name}.XMP"):
        if candidate in names:
            data = _read_small(os.path.join(folder, candidate))
            text = parse_xmp_description(data) if data else None
            if text:
                found["xmp"] = text
                break
    return found


def embedded_captions(photo: str) -> dict[str, str]:
    """Captions inside the file: its XMP packet and EXIF ImageDescription (header only, no pixels)."""
    found: dict[str, str] = {}
    try:
        with Image.open(photo) as image:
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
            text = parse_xmp_description(xmp) if xmp else None
            if text:
                found["xmp"] = text
            description = image.getexif().get(_IMAGE_DESCRIPTION)
    except Exception:  # a file Pillow cannot parse has no caption; the indexer reports it
        return found
    if isinstance(description, bytes):
        description = description.decode("utf-8", "replace")
    text = clean(description) if isinstance(description, str) else None
    if text and not _BOILERPLATE.match(text):
        found["exif"] = text
    return found


def index_captions(
    db: Database,
    runtime: TextEncoder,
    since: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> CaptionReport:
    """Find captions of the library's photos and embed the new ones; see the module docstring.

    ``since``: photos indexed at or after this time (unix seconds) also have their own metadata read;
    None reads it for every photo."""
    report = CaptionReport()
    rows = store.captionable_photos(db)
    existing = store.automatic_captions(db)
    by_dir: dict[str, list[tuple[str, str, float | None]]] = {}
    for path, digest, indexed_at in rows:
        by_dir.setdefault(os.path.dirname(path), []).append((path, digest, indexed_at))
    seen: set[str] = set()
    for folder, photos in by_dir.items():
        try:
            names = set(os.listdir(folder))
        except OSError:
            continue  # an unplugged drive keeps its captions
        with db.atomic():  # one short write transaction per folder: the GUI's indexer is not held up
            for path, digest, indexed_at in photos:
                if digest in seen:
                    continue  # duplicates share one content's captions: the first path decides
                seen.add(digest)
                reread = since is None or (indexed_at is not None and indexed_at >= since)
                found = embedded_captions(path) if reread else {}
                found.update(sidecar_captions(path, names))  # a sidecar overrides the file's own XMP
                _apply(db, digest, found, existing, reread, report)
    report.embedded = embed_missing(db, runtime, progress)
    return report


def _apply(
    db: Database,
    digest: str,
    found: dict[str, str],
    existing: dict[tuple[str, str], str],
    reread: bool,
    report: CaptionReport,
) -> None:
    if found:
        report.found += 1
    for source, text in found.items():
        if existing.get((digest, source)) != text:
            store.put_caption(db, digest, source, text)
            report.updated += 1
    # Sources that were looked at and are gone: sidecars always; the file's own only when re-read.
    checked = ("sidecar", "xmp", "exif") if reread else ("sidecar",)
    for source in checked:
        if source not in found and (digest, source) in existing:
            store.delete_caption(db, digest, source)
            report.removed += 1


def embed_missing(db: Database, runtime: TextEncoder, progress: Callable[[str], None] | None = None) -> int:
    """Embed every caption of a present photo that has no vector for ``runtime``'s model."""
    todo = store.captions_to_embed(db, runtime.identity)
    for start in range(0, len(todo), EMBED_BATCH):
        chunk = todo[start : start + EMBED_BATCH]
        embeds = runtime.encode_texts([text for _, text in chunk])[0]
        with db.atomic():
            for (caption_id, _), vector in zip(chunk, embeds, strict=True):
                store.put_caption_vector(db, caption_id, runtime.identity, vector)
        if progress is not None:
            progress(f"embedded {min(start + EMBED_BATCH, len(todo))}/{len(todo)} captions")
    return len(todo)
