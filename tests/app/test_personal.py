"""Taught names in the app: the schema-4 tables, `multigrain teach` (torch in a child process) and
`multigrain names`, and search and grounding using a taught name through the runtime."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from photo_files import write_jpeg, write_photos

from app.library.db import open_db
from app.personal.store import Label, LearnedName, find_name, list_names, name_table, save_taught
from app.personal.teach import others_for, parse_photo
from app.personal.usage import names_for
from cli.main import main
from core.errors import KnownError
from core.names import BadNameError
from export.runtime import Runtime


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----- the library's tables ---------------------------------------------------------------------------
def _learned(model: str = "m-fp32-1", value: float = 0.5, dim: int = 8) -> LearnedName:
    return LearnedName(model, "weights-sha", "token", np.full(dim, value, np.float32), 1, 1.0)


def _label(digest: str = "h1") -> Label:
    return Label(digest, "/photos/a.jpg", (0.1, 0.2, 0.3, 0.4), False)


def test_a_schema_3_library_gains_the_name_tables(tmp_path: Path) -> None:
    from app.library.db import connect
    from app.library.migrations import MIGRATIONS, migrate, user_version

    path = tmp_path / "library.db"
    old = connect(path)
    migrate(old, path, MIGRATIONS[:3])
    old.execute("INSERT INTO folders (path, added_at) VALUES ('/photos', 1.0)")
    old.conn.commit()
    old.close()
    db = open_db(path)
    assert user_version(db) == len(MIGRATIONS) and (tmp_path / "library.db.bak-v3").is_file()
    assert {"names", "name_photos", "name_params"} <= set(db.table_names())
    assert db.execute("SELECT path FROM folders").fetchall() == [("/photos",)]
    save_taught(db, "Rex", "dog", [_label()], _learned())
    with pytest.raises(sqlite3.IntegrityError):  # the key is unique whatever the spelling
        db.execute("INSERT INTO names (name, key, kind, slot, created_at) VALUES ('REX', 'rex', 'dog', 5, 0)")


def test_names_are_unique_in_any_case_and_keep_their_slot(tmp_path: Path) -> None:
    db = open_db(tmp_path / "library.db")
    rex = save_taught(db, "Rex", "dog", [_label()], _learned())
    bella = save_taught(db, "Bella", "dog", [_label("h2")], _learned())
    again = save_taught(db, "REX", "dog", [_label("h3"), _label("h4")], _learned(value=2.0))
    assert (rex.slot, bella.slot) == (0, 1) and again.id == rex.id and again.slot == 0
    assert [r.name for r in list_names(db)] == ["Bella", "REX"] and again.photos == 2
    table = name_table(db, "m-fp32-1", None, (64, 8))
    assert table.slots == {"Bella": 1, "REX": 0} and table.embeddings[0, 0] == 2.0
    # Another bundle of the same checkpoint (int8) finds the rows by the weights' hash.
    assert set(name_table(db, "m-int8-2", "weights-sha", (64, 8)).slots) == {"Bella", "REX"}
    assert not name_table(db, "m-int8-2", "other-weights", (64, 8))
    assert not name_table(db, "m-fp32-1", None, (64, 16))  # another width is never mixed in
    with pytest.raises(BadNameError):
        save_taught(db, "?!", "dog", [], _learned())


def test_names_cli_lists_renames_and_forgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "library.db"
    db = open_db(path)
    save_taught(db, "Rex", "dog", [_label()], _learned())
    code, out, _ = run(capsys, "names", "--db", str(path), "-v")
    assert code == 0 and "Rex  (dog, 1 photos" in out and "/photos/a.jpg:0.100,0.200,0.300,0.400" in out
    code, out, _ = run(capsys, "names", "--db", str(path), "--rename", "rex", "Max")
    assert code == 0 and "renamed 'rex' to 'Max'" in out
    assert find_name(db, "max").slot == 0 and find_name(db, "rex") is None  # type: ignore[union-attr]
    assert name_table(db, "m-fp32-1", None, (64, 8)).slots == {"Max": 0}  # what it learned is kept
    code, _, err = run(capsys, "names", "--db", str(path), "--forget", "Rex")
    assert code == 2 and "no name 'Rex'" in err
    code, out, _ = run(capsys, "names", "--db", str(path), "--forget", "MAX")
    assert code == 0 and "forgot 'Max'" in out
    assert db.execute("SELECT count(*) FROM name_params").fetchone()[0] == 0  # gone with the name
    assert db.execute("SELECT count(*) FROM name_photos").fetchone()[0] == 0
    assert "no taught names" in run(capsys, "names", "--db", str(path))[1]


def test_photo_arguments_and_negative_boxes() -> None:
    assert parse_photo("a:b.jpg").box is None and parse_photo("a:b.jpg").path == "a:b.jpg"
    assert parse_photo("x/a.jpg:0.1,0.2,0.5, 0.5") == parse_photo("x/a.jpg:.1,.2,.5,.5")
    assert parse_photo("x/a.jpg:0.1,0.2,0.5,0.5").box == (0.1, 0.2, 0.5, 0.5)
    with pytest.raises(KnownError, match="not inside the photo"):
        parse_photo("a.jpg:10,20,300,200")  # pixels are refused, not misread
    others = others_for((0.0, 0.0, 0.5, 0.5))
    assert [0.5, 0.5, 0.5, 0.5] in others and [0.0, 0.0, 0.5, 0.5] not in others


# ----- teaching end to end ----------------------------------------------------------------------------
@pytest.fixture
def library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Path]:
    """Six indexed photos in the default library, the tiny fp32 bundle as the default bundle."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MULTIGRAIN_BUNDLE", str(fp32_bundle))
    photos = tmp_path / "photos"
    write_photos(photos, 5)
    write_jpeg(photos / "rex.jpg", (200, 120, 40), size=(64, 48))
    code, _, err = run(capsys, "index", str(photos))
    assert code == 0, err
    yield photos


def test_teach_then_search_and_ground_with_the_name(
    library: Path,
    tmp_path: Path,
    fp32_bundle: Path,
    tiny_model,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch
    from PIL import Image

    from app.query import make_query
    from app.search import Searcher
    from core.name_look import look_crop, with_look
    from core.name_ranking import W_LOOK, W_PHOTO_ALONE
    from core.search_settings import Cutoff, SearchSettings
    from engine.personal.names import NameParams, TaughtName, encode_named

    rex = str(library / "rex.jpg")
    other = str(library / "p000.jpg")
    boxed = f"{rex}:0.1,0.2,0.5,0.6"
    code, out, err = run(capsys, "teach", "Rex", "--kind", "dog", boxed, other, "--steps", "3")
    assert code == 0, err
    assert "p000.jpg: no box given; proposed" in out and "step 3/3" in out
    assert "photos re-encoded: 2 (the teaching photos), library photos re-encoded: 0" in out
    assert "teaching on cpu" in out and " s on cpu (model " in out  # CUDA when the child finds one
    assert "contrasted with 4 library photos" in out  # the six, less the two teaching photos

    db_path = tmp_path / "home" / ".library" / "library.db"
    db = open_db(db_path, writable=False)
    [row] = list_names(db)
    assert (row.name, row.kind, row.photos) == ("Rex", "dog", 2)
    runtime = Runtime(fp32_bundle, providers="cpu")
    names = names_for(db, runtime)
    assert names is not None and names.slots == {"Rex": row.slot}

    # The learned row reaches the graph: the runtime agrees with the engine's named encoder.
    token = torch.from_numpy(names.embeddings[row.slot].copy())
    first = runtime.manifest["names"]["first_id"]
    ids, mask, _ = runtime.tokenize(["Rex", "a photo of rex on the grass"], names)
    taught = [TaughtName("Rex", first + row.slot, NameParams(token.numel(), token, rank_one=False))]
    with torch.no_grad():
        expected = encode_named(tiny_model, torch.from_numpy(ids), torch.from_numpy(mask), taught).embed
    named = runtime.encode_texts(["Rex", "a photo of rex on the grass"], names=names)[0]
    assert np.abs(named - expected.numpy()).max() <= 1e-4
    plain = runtime.encode_texts(["rex"])[0]
    assert np.abs(named[0] - plain[0]).max() > 1e-3  # not the word "rex"

    # Search encodes the query with the name; a query without it is exactly what it was.
    searcher = Searcher(db, db_path, runtime)
    np.testing.assert_array_equal(searcher.encode(make_query("REX")).vectors[0], named[0])
    general = searcher.encode(make_query("a red square")).vectors[0]
    np.testing.assert_array_equal(general, runtime.encode_texts(["a red square"])[0][0])
    code, out, err = run(capsys, "search", "Rex", "--json", "--all", "--top", "6")
    assert code == 0, err
    assert len(json.loads(out)["results"]) == 6

    # A query with the name re-orders its first photos (here all six) by the name's box in each. The check
    # computes that order from the runtime's own calls; for the name alone the box decides, and the box
    # head is held at a small box in the top left: the tiny model's box covers most of each photo, whose
    # concept then ranks as the whole photo does, and the test could not tell a re-order from none.
    assert W_PHOTO_ALONE == 0.0
    corner = np.array([0.15, 0.15, 0.3, 0.3], np.float32)
    monkeypatch.setattr(
        runtime, "predict_boxes", lambda hidden, mask, tokens: np.tile(corner, (len(tokens), 1))
    )
    plain_order = Searcher(db, db_path, runtime, name_rerank=0).search(make_query("Rex"), 6, use_cutoff=False)
    reordered = Searcher(db, db_path, runtime, name_rerank=6).search(make_query("Rex"), 6, use_cutoff=False)
    head = plain_order.hits
    _, tokens = runtime.encode_images([Image.open(hit.path).convert("RGB") for hit in head])
    embed = runtime.encode_texts(["Rex"], names=names)[0][0]
    box_cos = runtime.encode_regions(tokens, np.tile([0.0, 0.0, 0.3, 0.3], (6, 1, 1)))[:, 0] @ embed
    # Teaching gave Rex a look: the crop of that box in each photo, against it, takes W_LOOK of the score.
    look = names.looks["Rex"]
    assert look.shape == (runtime.embed_dim,) and abs(float(np.linalg.norm(look)) - 1.0) < 1e-5
    crops = [look_crop(Image.open(hit.path).convert("RGB"), (0.0, 0.0, 0.3, 0.3)) for hit in head]
    score = with_look(box_cos, runtime.encode_images(crops)[0] @ look, W_LOOK)
    assert not np.allclose(score, box_cos)
    expected = [head[i].path for i in np.argsort(-score, kind="stable")]
    assert [hit.path for hit in reordered.hits] == expected
    assert expected != [hit.path for hit in head]  # the names' boxes did change the order here
    # A query of the name alone draws no line (none calibrated on phrases describes a name's score);
    # with the re-order off, or with other words, the phrase calibration's line is there as before.
    # Six photos are too few for a library's own score statistics: the world's reference is set here.
    lined = SearchSettings(cutoff=Cutoff(z=0.0, null_median=0.0, null_scale=0.1))
    alone = Searcher(db, db_path, runtime, lined).search(make_query("Rex"), 6)
    off = Searcher(db, db_path, runtime, lined, name_rerank=0).search(make_query("Rex"), 6)
    assert alone.cutoff.source == "none" and alone.matched == alone.considered == 6
    assert off.cutoff.source == "world"
    worded = Searcher(db, db_path, runtime, lined).search(make_query("Rex on the grass"), 6)
    assert worded.cutoff.source == "world"
    square = make_query("a red square")
    assert [h.path for h in Searcher(db, db_path, runtime, name_rerank=4).search(square, 6).hits] == [
        h.path for h in Searcher(db, db_path, runtime, name_rerank=0).search(square, 6).hits
    ]
    code, out, err = run(capsys, "ground", rex, "Rex", "--json")
    assert code == 0, err
    assert json.loads(out)["text"] == "Rex"


def test_teaching_is_refused_on_an_old_bundle_and_one_without_its_checkpoint(
    library: Path, tmp_path: Path, fp32_bundle: Path, tiny_model, capsys: pytest.CaptureFixture[str]
) -> None:
    from old_bundles import old_format_bundle

    photo = str(library / "rex.jpg")
    old = old_format_bundle(fp32_bundle, tiny_model, tmp_path / "old")
    code, _, err = run(capsys, "teach", "Rex", "--kind", "dog", photo, "--bundle", str(old))
    assert code == 2 and "too old to learn names" in err and "export it again" in err

    unrecorded = Path(shutil.copytree(fp32_bundle, tmp_path / "unrecorded"))
    manifest = json.loads((unrecorded / "manifest.json").read_text())
    del manifest["source"]["checkpoint_path"]  # as a bundle exported before format 2 recorded it
    (unrecorded / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run(capsys, "teach", "Rex", "--kind", "dog", photo, "--bundle", str(unrecorded))
    assert code == 2 and "does not record the checkpoint it was exported from" in err
    code, _, err = run(capsys, "teach", "Rex", "--kind", "dog", *[photo] * 21)
    assert code == 2 and "from 1 to 20 photos" in err
    assert run(capsys, "names")[1].startswith("no taught names")  # nothing was stored


def test_names_look_gives_an_old_name_its_look_from_the_library_photos(
    library: Path, tmp_path: Path, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name stored without a look (taught before looks, or from a version-1 pack) gets one from its
    photos found by content hash; one whose photos are not in the library keeps the box alone."""
    from PIL import Image

    from app.library.hashing import content_hash
    from app.personal.store import learned_for
    from app.personal.teach import look_of

    db_path = tmp_path / "home" / ".library" / "library.db"
    runtime = Runtime(fp32_bundle, providers="cpu")
    weights = runtime.manifest["source"]["weights_sha256"]
    rex = library / "rex.jpg"
    db = open_db(db_path)
    token = np.zeros(runtime.name_table_shape()[1], np.float32)
    old = LearnedName(runtime.identity, weights, "token", token, 1, 1.0)  # no look
    box = (0.1, 0.2, 0.5, 0.6)
    save_taught(db, "Rex", "dog", [Label(content_hash(str(rex)), "/moved/away/rex.jpg", box, False)], old)
    save_taught(db, "Bella", "dog", [Label("d" * 64, "", box, False)], old)
    db.close()
    code, out, err = run(capsys, "names", "--db", str(db_path))
    assert code == 0 and out.count("no look yet (`multigrain names look` makes one)") == 2, (out, err)

    code, out, err = run(capsys, "names", "--db", str(db_path), "look")
    assert code == 0, err
    assert "Rex: look made from 1 of its 1 photo" in out  # found by its bytes, not its old path
    assert "Bella: none of its 1 photo is in this library; searched by its box alone" in out
    db = open_db(db_path, writable=False)
    rex_row, bella_row = find_name(db, "Rex"), find_name(db, "Bella")
    assert rex_row is not None and bella_row is not None
    rex_learned = learned_for(db, rex_row.id, runtime.identity, weights)
    bella_learned = learned_for(db, bella_row.id, runtime.identity, weights)
    assert rex_learned is not None and bella_learned is not None and bella_learned[0].look is None
    expected = look_of(runtime, [Image.open(rex).convert("RGB")], [box])
    np.testing.assert_allclose(rex_learned[0].look, expected, rtol=1e-5, atol=1e-6)
    assert set(names_for(db, runtime).looks) == {"Rex"}
    db.close()
    code, out, _ = run(capsys, "names", "--db", str(db_path), "look")
    assert code == 0 and "Rex: has a look already" in out


def test_importing_an_older_pack_makes_the_look_from_the_photos_the_library_has(
    library: Path, tmp_path: Path, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from app.library.hashing import content_hash
    from app.personal.pack import PackName, PackPhoto, write_pack
    from app.personal.store import learned_for
    from app.personal.teach import look_of

    runtime = Runtime(fp32_bundle, providers="cpu")
    weights = runtime.manifest["source"]["weights_sha256"]
    rex = library / "rex.jpg"
    box = (0.1, 0.2, 0.5, 0.6)
    token = np.full(runtime.name_table_shape()[1], 0.01, np.float32)
    photos = (PackPhoto(content_hash(str(rex)), box, False), PackPhoto("e" * 64, box, False))
    pack = tmp_path / "old.mgthing"
    item = PackName("Rex", "dog", "token", runtime.identity, weights, token, photos)
    write_pack(pack, [item], "2026-11-30")
    with zipfile.ZipFile(pack) as archive:
        assert json.loads(archive.read("pack.json"))["version"] == 1  # no look: an older pack's form
    db_path = tmp_path / "home" / ".library" / "library.db"
    code, out, err = run(capsys, "names", "--db", str(db_path), "import", str(pack))
    assert code == 0, err
    assert "1 of its 2 photos are in this library" in out
    assert "its look made from its 1 photo in this library" in out
    db = open_db(db_path, writable=False)
    row = find_name(db, "Rex")
    assert row is not None
    found = learned_for(db, row.id, runtime.identity, weights)
    assert found is not None and found[0].look is not None
    expected = look_of(runtime, [Image.open(rex).convert("RGB")], [box])
    np.testing.assert_allclose(found[0].look, expected, rtol=1e-5, atol=1e-6)
    db.close()
