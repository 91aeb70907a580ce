"""Captions: sidecar text, XMP (sidecar and embedded), EXIF ImageDescription; updates and embedding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from photo_files import solid, write_photos
from PIL import Image
from search_fakes import TextTable, axis
from sqlite_utils import Database

from app.library import store
from app.library.captions import index_captions, parse_xmp_description
from app.library.db import open_db
from app.library.indexer import Indexer
from app.query import make_query
from app.search import Searcher
from core.search_settings import SearchSettings

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="fr-FR">un chien sur la plage</rdf:li>
     <rdf:li xml:lang="x-default">{text}</rdf:li>
    </rdf:Alt>
   </dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


@dataclass
class Setup:
    db: Database
    runtime: TextTable
    photos: Path
    indexer: Indexer

    def run(self) -> dict[str, dict[str, str]]:
        self.indexer.index([self.photos])
        index_captions(self.db, self.runtime)
        return self.captions()

    def captions(self) -> dict[str, dict[str, str]]:
        """photo file name -> {source: text}."""
        rows = self.db.execute(
            "SELECT p.path, c.source, c.text FROM photos p JOIN captions c ON c.content_hash = p.content_hash"
        )
        out: dict[str, dict[str, str]] = {}
        for path, source, text in rows:
            out.setdefault(Path(path).name, {})[source] = text
        return out


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    runtime = TextTable({"a dog on the beach": axis(0)})
    photos = tmp_path / "photos"
    write_photos(photos, 4)
    yield Setup(db, runtime, photos, Indexer(db, runtime, tmp_path / "thumbs"))
    db.close()


def test_sidecar_text_files(setup: Setup) -> None:
    (setup.photos / "p000.jpg.txt").write_text("  a dog\n on the beach ")
    (setup.photos / "p001.txt").write_text("\ufeffa cat")
    (setup.photos / "p002.txt").write_text("...")  # no words: no caption
    assert setup.run() == {"p000.jpg": {"sidecar": "a dog on the beach"}, "p001.jpg": {"sidecar": "a cat"}}
    vectors = setup.db.execute("SELECT count(*) FROM caption_vectors").fetchone()[0]
    assert vectors == 2


def test_xmp_sidecar_and_embedded(setup: Setup) -> None:
    (setup.photos / "p000.xmp").write_text(XMP.format(text="a dog on the beach"))
    (setup.photos / "p001.jpg.xmp").write_text("<not xml")
    solid((10, 200, 10)).save(
        setup.photos / "p003.jpg", "JPEG", xmp=XMP.format(text="a green field").encode()
    )
    assert setup.run() == {
        "p000.jpg": {"xmp": "a dog on the beach"},
        "p003.jpg": {"xmp": "a green field"},
    }


def test_xmp_forms() -> None:
    attribute = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:description="short form"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    assert parse_xmp_description(attribute) == "short form"
    other_prefix = XMP.format(text="prefix free").replace("dc:", "d:").replace("xmlns:dc=", "xmlns:d=")
    assert parse_xmp_description(other_prefix) == "prefix free"  # namespaces, not prefixes, count
    no_default = XMP.format(text="x").replace(' xml:lang="x-default"', ' xml:lang="de"').replace(">x<", "><")
    assert parse_xmp_description(no_default) == "un chien sur la plage"
    assert parse_xmp_description(b"\x00\xff garbage") is None
    assert parse_xmp_description("") is None


def test_exif_image_description(setup: Setup) -> None:
    for name, text in (("p000.jpg", "a dog on the beach"), ("p001.jpg", "OLYMPUS DIGITAL CAMERA")):
        exif = Image.Exif()
        exif[0x010E] = text
        with Image.open(setup.photos / name) as image:
            image.load()
            image.save(setup.photos / name, "JPEG", exif=exif)
    assert setup.run() == {"p000.jpg": {"exif": "a dog on the beach"}}


def test_changed_and_removed_sidecars(setup: Setup) -> None:
    sidecar = setup.photos / "p000.txt"
    sidecar.write_text("a dog")
    assert setup.run() == {"p000.jpg": {"sidecar": "a dog"}}
    sidecar.write_text("a dog on the beach")
    assert setup.run() == {"p000.jpg": {"sidecar": "a dog on the beach"}}
    assert setup.db.execute("SELECT count(*) FROM caption_vectors").fetchone()[0] == 1  # the old one went
    sidecar.unlink()
    assert setup.run() == {}


def test_user_captions_are_kept(setup: Setup) -> None:
    setup.run()
    digest = setup.db.execute("SELECT content_hash FROM photos LIMIT 1").fetchone()[0]
    store.put_caption(setup.db, digest, "user", "my own words")
    index_captions(setup.db, setup.runtime)
    assert store.captions_for(setup.db, digest) == {"user": "my own words"}


def test_captions_lift_a_photo_in_search(setup: Setup, tmp_path: Path) -> None:
    (setup.photos / "p002.txt").write_text("a dog on the beach")
    setup.run()
    db_path = tmp_path / "library.db"
    query = make_query("a dog on the beach")
    without = Searcher(setup.db, db_path, setup.runtime, SearchSettings(w_caption=0.0)).search(
        query, use_cutoff=False
    )
    with_captions = Searcher(setup.db, db_path, setup.runtime, SearchSettings(w_caption=1.0)).search(
        query, use_cutoff=False
    )
    assert [h.cosines.caption for h in without.hits].count(None) == 3
    assert Path(with_captions.hits[0].path).name == "p002.jpg"
    before = {h.path: h.score for h in without.hits}
    after = {h.path: h.score for h in with_captions.hits}
    lifted = [p for p in after if after[p] > before[p] + 1e-6]
    assert [Path(p).name for p in lifted] == ["p002.jpg"]
