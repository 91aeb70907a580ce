"""`multigrain export-labels`: every caption source and every taught name's box as X-VLM records that the
record readers load, boxes on the pixels the loader sees (EXIF orientation), missing and changed files
skipped and counted, bad targets refused with nothing lost. Torch-free (a fake model indexes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fake_runtime import FakeRuntime
from photo_files import write_jpeg, write_photos
from PIL import Image, ImageOps

from app.finetune.labels import export_labels
from app.index_library import index_library
from app.library import store
from app.library.db import open_db
from app.library.hashing import content_hash
from app.personal.store import Label, LearnedName, save_taught
from cli.main import main
from core import finetune, records
from core.errors import KnownError

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>
<rdf:li xml:lang="x-default">a boat on the lake</rdf:li></rdf:Alt></dc:description></rdf:Description>
</rdf:RDF></x:xmpmeta>"""
RED_SQUARE = (30, 8, 12, 10)  # x, y, w, h of Rex in the rotated photo's stored pixels


def _learned() -> LearnedName:
    return LearnedName("fake-model-v1", "weights", "token", np.zeros(8, np.float32), 1, 1.0)


def _rotated_photo(path: Path) -> tuple[float, float, float, float]:
    """A 64 x 40 stored JPEG with EXIF orientation 6 (a phone held upright) and a red square; returns the
    square's box as fractions of the upright photo, as a person would draw it in the window."""
    stored = Image.new("RGB", (64, 40), (20, 90, 20))
    x, y, w, h = RED_SQUARE
    stored.paste((230, 10, 10), (x, y, x + w, y + h))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    with Image.open(path) as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened).convert("RGB")).astype(int)
    red = np.argwhere((upright[..., 0] > 150) & (upright[..., 1] < 80))
    (top, left), (bottom, right) = red.min(axis=0), red.max(axis=0) + 1
    height, width = upright.shape[:2]
    return (left / width, top / height, (right - left) / width, (bottom - top) / height)


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A library with each caption source, a rotated photo of Rex, Bella taught from a photo outside
    the library's folders, one photo whose file went and one that changed; returns (db, folder, paths)."""
    folder = tmp_path / "photos"
    plain = write_photos(folder, 3)
    paths = {"sidecar": plain[0], "xmp": plain[1], "bare": plain[2]}
    Path(plain[0] + ".txt").write_text("a dog on the beach")
    (folder / "p001.xmp").write_text(XMP)
    exif = Image.Exif()
    exif[0x010E] = "sunset over the hills"
    paths["exif"] = write_jpeg(folder / "exif.jpg", (200, 120, 30), exif=exif.tobytes())
    paths["user"] = write_jpeg(folder / "typed.jpg", (30, 60, 200))
    paths["rex"] = str(folder / "rex.jpg")
    rex_box = _rotated_photo(folder / "rex.jpg")
    paths["gone"] = write_jpeg(folder / "gone.jpg", (90, 90, 90))
    Path(paths["gone"] + ".txt").write_text("a grey day")
    paths["changed"] = write_jpeg(folder / "changed.jpg", (10, 200, 200))
    Path(paths["changed"] + ".txt").write_text("a teal wall")
    db_path = tmp_path / "lib" / "library.db"
    db = open_db(db_path)
    index_library(db, db_path, FakeRuntime(), [str(folder)], db_path.parent / "thumbs")
    user_hash = content_hash(paths["user"])
    store.put_caption(db, user_hash, "user", "my red bicycle")
    store.put_caption(db, user_hash, "sidecar", "my red bicycle")  # the same words twice count once
    (tmp_path / "elsewhere").mkdir()
    outside = write_jpeg(tmp_path / "elsewhere" / "bella.jpg", (5, 5, 5))
    rex = Label(content_hash(paths["rex"]), paths["rex"], rex_box, False)
    save_taught(db, "Rex", "dog", [rex], _learned())
    bella = Label(content_hash(outside), outside, (0.0, 0.5, 0.5, 0.5), False)
    save_taught(db, "Bella", "cat", [bella], _learned())
    db.close()
    os.remove(paths["gone"])
    write_jpeg(paths["changed"], (10, 10, 200))  # other pixels, so other bytes, after indexing
    paths["bella"] = outside
    return db_path, folder, paths


def _export(db_path: Path, out: Path):
    db = open_db(db_path, writable=False)
    try:
        return export_labels(db, db_path, out)
    finally:
        db.close()


def test_every_caption_source_and_name_becomes_a_record(library, tmp_path: Path) -> None:
    db_path, _, paths = library
    out = tmp_path / "records"
    report = _export(db_path, out)
    assert (report.missing, report.changed, report.unreadable) == (1, 1, 0)
    assert report.names == {"Rex": 1, "Bella": 1}

    pairs = {r.image: r.captions for r in records.read_image_text(out / finetune.IMAGE_TEXT)}
    assert pairs == {
        paths["sidecar"]: ["a dog on the beach"],
        paths["xmp"]: ["a boat on the lake"],
        paths["exif"]: ["sunset over the hills"],
        paths["user"]: ["my red bicycle"],
        paths["rex"]: ["Rex", "Rex the dog"],  # the name as its own word
        paths["bella"]: ["Bella", "Bella the cat"],
    }
    assert report.image_text == 6 and report.captions == 8 and paths["bare"] not in pairs
    retrieval = records.read_retrieval_train(out / finetune.RETRIEVAL)
    assert len(retrieval) == report.retrieval == 8

    regions = {r.image: r for r in records.read_regions(out / finetune.REGIONS)}
    assert set(regions) == {paths["rex"], paths["bella"]} and report.boxes == 2
    [rex] = regions[paths["rex"]].elems
    assert rex.captions == ["Rex", "Rex the dog"] and rex.kind == "object"
    # The loader reads the stored pixels (no EXIF rotation): the box must cover the red square there.
    assert rex.box == pytest.approx(RED_SQUARE, abs=0.01)
    x, y, w, h = (round(v) for v in rex.box)
    crop = np.asarray(records.open_image(paths["rex"]).crop((x, y, x + w, y + h))).astype(int)
    assert crop[..., 0].mean() > 180 and crop[..., 1].mean() < 60
    grounding = records.read_grounding(out / finetune.GROUNDING)
    assert sorted(g.text for g in grounding) == ["Bella", "Rex"]
    assert dict((g.text, g.box) for g in grounding)["Bella"] == (0.0, 15.0, 20.0, 15.0)  # 40 x 30 photo

    summary = json.loads((out / finetune.SUMMARY).read_text())
    assert summary["records"]["image_text"] == 6 and summary["skipped"] == {
        "missing": 1,
        "changed": 1,
        "unreadable": 0,
    }


def test_the_command_says_counts_per_kind_and_replaces_its_own_folder(
    library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path, _, _ = library
    out = tmp_path / "records"
    assert main(["export-labels", str(out), "--db", str(db_path)]) == 0
    printed = capsys.readouterr().out
    assert "image-caption records: 6 photos, 8 captions" in printed
    assert "region records: 2 photos with 2 name boxes" in printed and "grounding records: 2" in printed
    assert "names, as words: Bella (1 photo), Rex (1 photo)" in printed
    assert "1 photo whose file is gone, 1 photo changed on disk" in printed
    (out / "pretrain" / "stale.jsonl").write_text("{}\n")
    assert main(["export-labels", str(out), "--db", str(db_path)]) == 0  # an earlier export: replaced
    assert not (out / "pretrain" / "stale.jsonl").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".records")]  # no staging left


def test_a_folder_of_other_files_and_an_unlabelled_library_are_refused(
    library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path, _, _ = library
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("keep me")
    with pytest.raises(KnownError, match="already holds other files"):
        _export(db_path, mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]

    empty = tmp_path / "empty.db"
    open_db(empty).close()
    assert main(["export-labels", str(tmp_path / "none"), "--db", str(empty)]) == 2
    assert "no captions and no taught names" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert main(["export-labels", str(tmp_path / "x"), "--db", str(tmp_path / "nope.db")]) == 2
    assert "no library at" in capsys.readouterr().err
