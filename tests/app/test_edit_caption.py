"""A person's caption: stored as the 'user' source, embedded, and written into an XMP sidecar without
losing what the sidecar already says."""

from __future__ import annotations

from pathlib import Path

from app.edit_caption import sidecar_path, write_sidecar
from app.library.captions import parse_xmp_description

LIGHTROOM = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">old words</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_a_new_sidecar_holds_the_caption(tmp_path: Path) -> None:
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"")
    written = write_sidecar(str(photo), "two dogs & a <ball>")
    assert written == str(tmp_path / "beach.xmp")
    assert parse_xmp_description(Path(written).read_bytes()) == "two dogs & a <ball>"


def test_an_existing_sidecar_keeps_its_other_fields(tmp_path: Path) -> None:
    photo = tmp_path / "beach.jpg"
    (tmp_path / "beach.jpg.xmp").write_text(LIGHTROOM)  # darktable's name, the only one there
    assert sidecar_path(str(photo)) == tmp_path / "beach.jpg.xmp"
    write_sidecar(str(photo), "new words")
    text = (tmp_path / "beach.jpg.xmp").read_text()
    assert parse_xmp_description(text) == "new words" and "old words" not in text
    assert 'Rating="4"' in text
