"""`multigrain export-things` end to end: a library's taught name travels in a new bundle (one file),
which verify passes, the Add-bundle code path installs, and a fresh library then finds "Rex" with the
same text embedding as the library that taught it; the library's own names win on a clash."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from photo_files import write_photos

from app.library.db import open_db
from app.personal.store import Label, LearnedName, save_taught
from app.personal.usage import merge_names
from app.query import make_query
from app.search import Searcher
from cli.main import main
from core.names import NameTable
from export.bundle import NAMES_FILE, load_bundle
from export.bundle_intake import install_bundle
from export.runtime import Runtime


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _row(hidden: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, hidden).astype(np.float32)


# ----- merging the library's names with a bundle's ------------------------------------------------------
def test_the_librarys_own_names_win_and_carried_ones_move_to_free_slots() -> None:
    rows = np.arange(4 * 2, dtype=np.float32).reshape(4, 2) + 1
    own = NameTable({"REX": 0, "Milo": 1}, np.stack([rows[0], rows[1], np.zeros(2), np.zeros(2)]))
    carried = NameTable(
        {"rex": 1, "Bella": 0, "Luna": 3}, np.stack([rows[2], rows[3], np.zeros(2), rows[0] * 9])
    )
    merged = merge_names(own, carried)
    assert merged is not None
    assert merged.slots == {"REX": 0, "Milo": 1, "Bella": 2, "Luna": 3}  # "rex" is the library's REX
    np.testing.assert_array_equal(merged.embeddings[0], rows[0])  # the library's row, not the bundle's
    np.testing.assert_array_equal(merged.embeddings[2], rows[2])  # Bella's row followed her to slot 2
    np.testing.assert_array_equal(merged.embeddings[3], rows[0] * 9)
    full = NameTable({"a": 0, "b": 1, "c": 2, "d": 3}, np.ones((4, 2), np.float32))
    assert merge_names(full, carried).slots == full.slots  # no room: the carried names are left out
    assert merge_names(None, carried) is carried and merge_names(own, None) is own


# ----- end to end ------------------------------------------------------------------------------------------
@pytest.fixture
def source(tmp_path: Path, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A library indexed with the tiny fp32 bundle that has learned Rex (as `teach` stores him)."""
    db_path = tmp_path / "source.db"
    write_photos(tmp_path / "photos", 3)
    code, _, err = run(
        capsys, "index", str(tmp_path / "photos"), "--db", str(db_path), "--bundle", str(fp32_bundle)
    )
    assert code == 0, err
    manifest = load_bundle(fp32_bundle).manifest
    hidden = manifest["config"]["text"]["hidden_size"]
    learned = LearnedName(
        manifest["identity"], manifest["source"]["weights_sha256"], "token", _row(hidden, 1), 1, 1.0
    )
    db = open_db(db_path)
    save_taught(
        db, "Milo", "cat", [Label("h0", str(tmp_path / "photos" / "p000.jpg"), (0, 0, 1, 1), False)], learned
    )
    look = np.zeros(manifest["embed_dim"], np.float32)
    look[2] = 1.0  # Rex was taught with a look; Milo before looks existed
    learned = LearnedName(learned.model, learned.checkpoint, "token", _row(hidden, 2), 1, 1.0, look)
    save_taught(
        db,
        "Rex",
        "dog",
        [Label("h1", str(tmp_path / "photos" / "p001.jpg"), (0.1, 0.1, 0.5, 0.5), False)],
        learned,
    )
    db.close()
    yield db_path


def _encode(db_path: Path, bundle: Path, text: str) -> np.ndarray:
    db = open_db(db_path)
    try:
        return Searcher(db, db_path, Runtime(bundle, providers="cpu")).encode(make_query(text)).vectors[0]
    finally:
        db.close()


def test_a_taught_name_travels_in_a_single_file_bundle(
    source: Path,
    tmp_path: Path,
    fp32_bundle: Path,
    tiny_checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "shared" / "with-rex"
    code, printed, err = run(
        capsys, "export-things", str(out), "--variant", "fp32", "--names", "rex", "--single-file",
        "--db", str(source), "--bundle", str(fp32_bundle),
    )  # fmt: skip
    archive = out.with_name("with-rex.mgbundle")
    assert code == 0, printed + err
    assert "[1/3] names to carry: Rex (dog)" in printed and "[3/3] done" in printed
    assert f"multigrain verify {archive} --checkpoint {tiny_checkpoint}" in printed
    with zipfile.ZipFile(archive) as zf:
        names = json.loads(zf.read(NAMES_FILE))
    assert [(n["name"], n["kind"], n["slot"]) for n in names["names"]] == [("Rex", "dog", 1)]  # not Milo
    assert names["names"][0]["look"].index(1.0) == 2  # his look travels with him

    code, printed, err = run(
        capsys, "verify", str(archive), "--checkpoint", str(tiny_checkpoint), "--providers", "cpu"
    )
    assert code == 0 and "carries 1 taught name(s): Rex (dog)" in printed and "PASS" in printed, printed + err

    installed = install_bundle(archive, tmp_path / "other-home" / "bundles")  # what Add bundle… runs
    assert installed.added and installed.path.name == "with-rex"
    fresh = tmp_path / "fresh.db"
    open_db(fresh).close()  # a library that never taught anything
    expected = _encode(source, fp32_bundle, "Rex")
    np.testing.assert_allclose(_encode(fresh, installed.path, "Rex"), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_encode(fresh, installed.path, "REX"), expected, rtol=0, atol=1e-6)
    assert np.abs(_encode(fresh, installed.path, "milo") - _encode(source, fp32_bundle, "Milo")).max() > 1e-3
    from app.personal.usage import names_at

    carried = names_at(fresh, Runtime(installed.path, providers="cpu"))
    assert carried is not None and set(carried.looks) == {"Rex"} and carried.looks["Rex"][2] == 1.0
    plain = _encode(fresh, fp32_bundle, "rex")  # the word, in a library without the name
    assert np.abs(_encode(fresh, installed.path, "Rex") - plain).max() > 1e-3

    # The fresh library's own names take slots 0 and 1; the carried Rex (slot 1) moves and means the same.
    manifest = load_bundle(installed.path).manifest
    hidden = manifest["config"]["text"]["hidden_size"]
    db = open_db(fresh)
    for seed, name in enumerate(("Bolt", "Luna")):
        save_taught(
            db,
            name,
            "car",
            [],
            LearnedName(manifest["identity"], "other", "token", _row(hidden, seed), 1, 1.0),
        )
    db.close()
    np.testing.assert_allclose(_encode(fresh, installed.path, "Rex"), expected, rtol=0, atol=1e-6)

    # The fresh library teaches its own Rex: its own wins over the one the bundle carries.
    own = _row(hidden, 9)
    db = open_db(fresh)
    save_taught(db, "rex", "dog", [], LearnedName(manifest["identity"], "other", "token", own, 1, 1.0))
    db.close()
    runtime = Runtime(installed.path, providers="cpu")
    table = np.zeros(runtime.name_table_shape(), np.float32)
    table[5] = own
    mine = runtime.encode_texts(["rex"], names=NameTable({"rex": 5}, table))[0][0]
    np.testing.assert_allclose(_encode(fresh, installed.path, "Rex"), mine, rtol=0, atol=1e-6)
    assert np.abs(mine - expected).max() > 1e-3


def test_export_things_refuses_in_words(
    source: Path, tmp_path: Path, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    code, _, err = run(
        capsys, "export-things", out, "--names", "Bolt", "--db", str(source), "--bundle", str(fp32_bundle)
    )
    assert code == 2 and "the library has no name 'Bolt' learned for the model" in err
    empty = tmp_path / "empty.db"
    open_db(empty).close()
    code, _, err = run(capsys, "export-things", out, "--db", str(empty), "--bundle", str(fp32_bundle))
    assert code == 2 and "the library has no taught names for the model" in err
    moved = Path(shutil.copytree(fp32_bundle, tmp_path / "moved"))
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["source"]["checkpoint_path"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run(capsys, "export-things", out, "--db", str(source), "--bundle", str(moved))
    assert code == 2 and "which is not here any more" in err
    assert not Path(out).exists()  # nothing written
