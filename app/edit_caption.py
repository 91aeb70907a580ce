"""A person's own caption for a photo: stored in the library, searchable at once, and, when they choose,
written to an XMP sidecar that other programs read.

Searchable at once without touching the photo: the caption's text is embedded with the text encoder
(one short text), and the vector cache is rebuilt from the stored vectors, so the next search blends
the caption term in (``app.search``: the caption part of the score) with nothing decoded or encoded
from the image. The caption's source is ``user``: the captions pass never overwrites it.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

from sqlite_utils import Database

from app import vectorcache
from app.library import store
from app.library.captions import MAX_CAPTION_CHARS, TextEncoder, clean, parse_xmp_description
from core.errors import KnownError
from core.region_boxes import BOX_SET_NAME

USER = "user"  # the captions.source of a caption typed in the window
_DC = "http://purl.org/dc/elements/1.1/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


class CaptionModel(TextEncoder, Protocol):
    """The text encoder and identity of the active model."""


def photo_caption(db: Database, photo_id: int) -> str:
    """The caption shown for a photo: the person's own, else the one found with the file, else ''."""
    digest = store.photo_content_hash(db, photo_id)
    if digest is None:
        return ""
    found = store.captions_for(db, digest)
    for source in (USER, "sidecar", "xmp", "exif"):
        if found.get(source):
            return found[source]
    return ""


def set_caption(
    db: Database,
    db_path: str | Path,
    runtime: CaptionModel,
    photo_id: int,
    text: str,
    write_xmp: bool = False,
) -> str | None:
    """Store ``text`` as the photo's own caption (empty: remove it), embed it, refresh the search index;
    with ``write_xmp``, also write it to the photo's XMP sidecar. Returns the sidecar written, if any."""
    digest = store.photo_content_hash(db, photo_id)
    path = store.photo_paths(db, [photo_id]).get(photo_id)
    if digest is None or path is None:
        raise KnownError("that photo is no longer in the library (or could not be read): update the library")
    caption = clean(text)
    if caption is not None and len(caption) > MAX_CAPTION_CHARS:
        raise KnownError(f"a caption can hold at most {MAX_CAPTION_CHARS:,} characters")
    vector = runtime.encode_texts([caption])[0][0] if caption else None  # before the write transaction
    with db.atomic():
        if caption is None:
            store.delete_caption(db, digest, USER)
        else:
            caption_id = store.put_caption(db, digest, USER, caption)
            store.put_caption_vector(db, caption_id, runtime.identity, vector)
    vectorcache.build(db, db_path, runtime.identity, BOX_SET_NAME)
    return write_sidecar(path, caption or "") if write_xmp else None


def sidecar_path(photo: str) -> Path:
    """The XMP sidecar of ``photo``: an existing ``photo.xmp`` or ``photo.jpg.xmp``, else ``photo.xmp``
    (as Lightroom names it)."""
    stem, full = Path(os.path.splitext(photo)[0] + ".xmp"), Path(photo + ".xmp")
    return full if full.is_file() and not stem.is_file() else stem


def write_sidecar(photo: str, text: str) -> str:
    """Write ``text`` as ``dc:description`` into the photo's XMP sidecar: a new sidecar, or the existing
    one with only its description changed. Returns the sidecar's path."""
    target = sidecar_path(photo)
    try:
        if target.is_file():
            target.write_text(_with_description(target.read_text(encoding="utf-8"), text), encoding="utf-8")
        else:
            target.write_text(_XMP.format(text=escape(text)), encoding="utf-8")
    except OSError as err:
        raise KnownError(f"could not write {target}: {err.strerror or err}") from err
    if (parse_xmp_description(target.read_bytes()) or "") != (clean(text) or ""):
        raise KnownError(f"{target}: the sidecar was written but its description does not read back")
    return str(target)


def _with_description(xmp: str, text: str) -> str:
    """``xmp`` with its ``dc:description`` set to ``text`` (an element added when it has none)."""
    for prefix, uri in (("x", "adobe:ns:meta/"), ("rdf", _RDF), ("dc", _DC)):
        ET.register_namespace(prefix, uri)
    start, end = xmp.find("<x:xmpmeta"), xmp.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        raise KnownError("the existing XMP sidecar is not one Multigrain can edit (no x:xmpmeta)")
    try:
        root = ET.fromstring(xmp[start : end + len("</x:xmpmeta>")])
    except ET.ParseError as err:
        raise KnownError(f"the existing XMP sidecar is not valid XML ({err})") from err
    description = next(root.iter(f"{{{_RDF}}}Description"), None)
    if description is None:
        raise KnownError("the existing XMP sidecar has no rdf:Description to hold a caption")
    description.attrib.pop(f"{{{_DC}}}description", None)
    for old in description.findall(f"{{{_DC}}}description"):
        description.remove(old)
    holder = ET.SubElement(description, f"{{{_DC}}}description")
    item = ET.SubElement(ET.SubElement(holder, f"{{{_RDF}}}Alt"), f"{{{_RDF}}}li")
    item.set("{http://www.w3.org/XML/1998/namespace}lang", "x-default")
    item.text = text
    return xmp[:start] + ET.tostring(root, encoding="unicode") + xmp[end + len("</x:xmpmeta>") :]
