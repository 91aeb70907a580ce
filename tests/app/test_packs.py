"""Concept packs: `multigrain names export|import`, the pack's checks and every refusal (each leaves the
library as it was), and the round trip on the test-tiny bundle with a name taught for real."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pack_files import EMBED_DIM, HIDDEN, OTHER_WEIGHTS, PHOTO_HASH, WEIGHTS, fake_bundle, look_of, teach_rows
from photo_files import write_jpeg, write_photos

from app.library.db import open_db
from app.personal.card import CARD_FILE, NOT_MEASURED, card_from_bench, describe_card
from app.personal.pack import MANIFEST, MAX_PACK_BYTES, PackError, manifest_hash, read_pack
from app.personal.store import find_name, labels_of, list_names
from cli.main import main
from core.names import NAME_SLOTS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(db_path: Path) -> list[list[tuple]]:
    """Every row of the names tables (what "nothing written" compares)."""
    db = open_db(db_path, writable=False)
    try:
        return [
            db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("names", "name_photos", "name_params")
        ]
    finally:
        db.close()


@pytest.fixture
def packs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """Library A with Rex and Bella, an empty library B, the bundle both use, and Rex's pack."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    teach_rows(a, ["Rex", "Bella"])
    open_db(b).close()
    bundle = fake_bundle(tmp_path / "bundle")
    pack = tmp_path / "Rex.mgthing"
    code, out, err = run(
        capsys, "names", "export", "Rex", "--out", str(pack), "--db", str(a), "--bundle", str(bundle)
    )
    assert code == 0, err
    assert "wrote" in out and "Rex (dog, 1 photo), learned on tiny-fp32-111111111111" in out
    return {"a": a, "b": b, "bundle": bundle, "pack": pack}


def import_(capsys, packs: dict[str, Path], pack: Path | None = None, *extra: str) -> tuple[int, str, str]:
    target = str(pack or packs["pack"])
    return run(
        capsys, "names", "--db", str(packs["b"]), "import", target, "--bundle", str(packs["bundle"]), *extra
    )


def refused(capsys, packs: dict[str, Path], pack: Path | None = None, *extra: str) -> str:
    """Import, expect a refusal (exit 2, one sentence, no traceback) and nothing written to library B."""
    before = snapshot(packs["b"])
    code, out, err = import_(capsys, packs, pack, *extra)
    assert code == 2 and out == "" and err.startswith("multigrain names: ") and "Traceback" not in err, (
        out,
        err,
    )
    assert snapshot(packs["b"]) == before
    return err


# ----- the pack --------------------------------------------------------------------------------------
def test_a_pack_holds_the_learned_row_hashes_and_boxes_but_no_photo_or_path(packs, capsys) -> None:
    data = packs["pack"].read_bytes()
    assert len(data) < 4096
    with zipfile.ZipFile(packs["pack"]) as archive:
        assert archive.namelist() == [MANIFEST, "embeddings/0.npy"]
        manifest = json.loads(archive.read(MANIFEST))
        token = np.load(io.BytesIO(archive.read("embeddings/0.npy")), allow_pickle=False)
        texts = b"".join(archive.read(n) for n in archive.namelist())
    assert b"/home/me" not in texts and b"Rex.jpg" not in texts  # never a path
    [rex] = manifest["names"]
    assert (rex["name"], rex["kind"], rex["method"]) == ("Rex", "dog", "token")
    assert (rex["model"], rex["checkpoint"]) == ("tiny-fp32-111111111111", WEIGHTS)
    assert rex["photos"] == [{"content_hash": PHOTO_HASH, "box": [0.1, 0.2, 0.3, 0.4], "proposed": False}]
    assert (
        rex["card"]["photos"] == 1
        and rex["card"]["seconds"] == 2.5
        and rex["card"]["benchmark"] == NOT_MEASURED
    )
    assert token.dtype == np.dtype("<f4") and token.shape == (HIDDEN,)
    np.testing.assert_array_equal(token, np.linspace(-1, 1, HIDDEN, dtype=np.float32))
    assert manifest["content_sha256"] == manifest_hash(manifest)
    assert read_pack(packs["pack"]).content_sha256 == manifest["content_sha256"]


def test_import_stores_the_name_ready_for_search(packs, capsys) -> None:
    from app.personal.store import name_table

    code, out, err = import_(capsys, packs)
    assert code == 0, err
    assert (
        "imported Rex (dog): learned on tiny-fp32-111111111111; 0 of its 1 photo are in this library" in out
    )
    assert "taught from 1 photo in 2.5 s" in out and "not measured" in out
    db = open_db(packs["b"], writable=False)
    row = find_name(db, "rex")
    assert row is not None and row.slot == 0 and row.kind == "dog"
    [label] = labels_of(db, row.id)
    assert (label.content_hash, label.path, label.box) == (PHOTO_HASH, "", (0.1, 0.2, 0.3, 0.4))
    table = name_table(db, "tiny-fp32-111111111111", WEIGHTS, (NAME_SLOTS, HIDDEN))
    np.testing.assert_array_equal(table.embeddings[0], np.linspace(-1, 1, HIDDEN, dtype=np.float32))
    db.close()
    code, out, _ = run(capsys, "names", "--db", str(packs["b"]), "-v")
    assert code == 0 and f"(not in this library: sha256 {PHOTO_HASH[:12]}…)" in out


def test_another_bundle_of_the_same_checkpoint_takes_the_pack(packs, tmp_path, capsys) -> None:
    from app.personal.store import name_table

    int8 = fake_bundle(tmp_path / "int8", identity="tiny-int8-222222222222")
    code, _, err = run(
        capsys, "names", "--db", str(packs["b"]), "import", str(packs["pack"]), "--bundle", str(int8)
    )
    assert code == 0, err
    db = open_db(packs["b"], writable=False)
    assert set(name_table(db, "tiny-int8-222222222222", WEIGHTS, (NAME_SLOTS, HIDDEN)).slots) == {"Rex"}
    db.close()


def test_export_of_several_names_and_its_refusals(packs, tmp_path, capsys) -> None:
    out = tmp_path / "both.mgthing"
    a, bundle = str(packs["a"]), str(packs["bundle"])
    code, _, err = run(
        capsys, "names", "export", "bella", "REX", "rex", "--out", str(out), "--db", a, "--bundle", bundle
    )
    assert code == 0, err
    assert [n.name for n in read_pack(out).names] == ["Bella", "Rex"]  # Rex named twice: once in the pack

    code, _, err = run(
        capsys, "names", "export", "Max", "--out", str(tmp_path / "m.mgthing"), "--db", a, "--bundle", bundle
    )
    assert code == 2 and "no name 'Max'" in err and not (tmp_path / "m.mgthing").exists()
    other = fake_bundle(tmp_path / "other", identity="big-fp32-333333333333", weights=OTHER_WEIGHTS)
    code, _, err = run(
        capsys,
        "names",
        "export",
        "Rex",
        "--out",
        str(tmp_path / "o.mgthing"),
        "--db",
        a,
        "--bundle",
        str(other),
    )
    assert code == 2 and "Rex has learned nothing for the model big-fp32-333333333333" in err
    assert "taught for tiny-fp32-111111111111" in err and not (tmp_path / "o.mgthing").exists()
    code, _, err = run(
        capsys, "names", "export", "Rex", "--out", str(tmp_path), "--db", a, "--bundle", bundle
    )
    assert code == 2 and "is a folder" in err
    code, _, err = run(capsys, "names", "--forget", "Rex", "export", "Rex", "--out", str(out), "--db", a)
    assert code == 2 and "takes no --forget" in err and len(snapshot(packs["a"])[0]) == 2  # Rex kept


def test_a_pack_that_would_be_refused_is_never_written(packs, tmp_path, capsys) -> None:
    teach_rows(packs["a"], ["Milo\x07"])  # a bell typed into a name: a pack refuses control characters
    out = tmp_path / "milo.mgthing"
    out.write_bytes(b"an earlier file")
    argv = [
        "names",
        "export",
        "Milo\x07",
        "--out",
        str(out),
        "--db",
        str(packs["a"]),
        "--bundle",
        str(packs["bundle"]),
    ]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "the pack would be refused on import" in err and "control characters" in err
    assert out.read_bytes() == b"an earlier file" and not list(tmp_path.glob("*.tmp"))


def test_the_card_quotes_the_checkpoints_measured_figures(tmp_path, capsys) -> None:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    bench = {
        "general_before": {"tr_r1": 43.4, "ir_r1": 40.74},
        "rows": [
            {"method": "kind word", "k": 0, "r1": 5.0, "r5": 11.7},  # a baseline: not in the card
            {
                "method": "token",
                "k": 5,
                "r1": 11.667,
                "r5": 65.0,
                "mrr": 0.34,
                "grounding": 83.333,
                "grounding_photos": 48,
                "queries": 60,
                "general_after": {"tr_r1": 43.4, "ir_r1": 40.74},
            },
        ],
        "settings": {"steps": 40},
    }
    card = card_from_bench(bench, WEIGHTS, "multigrain bench-personal ...", "2026-12-01")
    (checkpoint / CARD_FILE).write_text(json.dumps(card))
    a, pack = tmp_path / "a.db", tmp_path / "Rex.mgthing"
    teach_rows(a, ["Rex"])
    bundle = fake_bundle(tmp_path / "bundle", checkpoint=checkpoint)
    assert (
        run(capsys, "names", "export", "Rex", "--out", str(pack), "--db", str(a), "--bundle", str(bundle))[0]
        == 0
    )
    [rex] = read_pack(pack).names
    bench_card = rex.card["benchmark"]
    assert bench_card["method"] == "token" and bench_card["rows"][0]["personal_r5"] == 65.0
    lines = describe_card(rex.card)
    assert "personal R@5 65.0 %" in lines[1] and "grounding 83.3 %" in lines[1] and "unchanged" in lines[1]

    # A bench that also ranked as the app does: the card quotes that, and keeps the global figures.
    next(r for r in bench["rows"] if r["method"] == "token")["app"] = {"r1": 45.0, "r5": 75.0, "mrr": 0.588}
    row = card_from_bench(bench, WEIGHTS, "...", "2026-12-01")["methods"]["token"][0]
    assert (row["personal_r5"], row["personal_r5_global"], row["personal_r1"]) == (75.0, 65.0, 45.0)

    # Figures measured on other weights are not quoted.
    (checkpoint / CARD_FILE).write_text(json.dumps({**card, "weights_sha256": OTHER_WEIGHTS}))
    assert (
        run(capsys, "names", "export", "Rex", "--out", str(pack), "--db", str(a), "--bundle", str(bundle))[0]
        == 0
    )
    assert read_pack(pack).names[0].card["benchmark"] == NOT_MEASURED


def test_the_demo_checkpoints_card_is_for_its_weights() -> None:
    from app.personal.card import benchmark_for
    from core.hashing import sha256_file

    demo = Path(__file__).resolve().parents[2] / "models" / "demo"
    figures = benchmark_for(demo, sha256_file(demo / "model.safetensors"), "token")
    assert isinstance(figures, dict)
    five = next(r for r in figures["rows"] if r["k"] == 5)
    # docs/personal.md, the third round's seed-1 table: as the app ranks, and by the global embedding.
    assert (five["personal_r5"], five["personal_r5_global"], round(five["grounding"], 1)) == (
        80.0,
        65.0,
        77.1,
    )
    assert five["general_tr_r1_before"] == five["general_tr_r1_after"] == 43.4


# ----- refusals: the model, the library --------------------------------------------------------------
def test_a_pack_learned_on_another_checkpoint_is_refused_naming_both(packs, tmp_path, capsys) -> None:
    other = fake_bundle(tmp_path / "other", identity="big-fp32-333333333333", weights=OTHER_WEIGHTS)
    packs["bundle"] = other
    err = refused(capsys, packs)
    assert "Rex was learned on the model tiny-fp32-111111111111 (checkpoint weights aaaaaaaaaaaa…)" in err
    assert "this library uses big-fp32-333333333333 (weights bbbbbbbbbbbb…)" in err


def test_a_bundle_that_cannot_take_names_is_refused(packs, tmp_path, capsys) -> None:
    packs["bundle"] = fake_bundle(tmp_path / "old", names=False)
    assert "too old to use taught names" in refused(capsys, packs)


def test_a_name_already_taught_is_refused_unless_renamed(packs, capsys) -> None:
    teach_rows(packs["b"], ["REX"])
    err = refused(capsys, packs)
    assert "already has the name 'REX'" in err and "--as NEWNAME" in err
    assert "already has the name 'REX'" in refused(capsys, packs, None, "--as", "rex")
    assert "cannot be a name" in refused(capsys, packs, None, "--as", "?!")
    code, out, err = import_(capsys, packs, None, "--as", "Rex Two")
    assert code == 0, err
    assert "imported Rex Two (dog, the pack's Rex)" in out
    db = open_db(packs["b"], writable=False)
    assert [r.name for r in list_names(db)] == ["REX", "Rex Two"]
    db.close()


def test_as_is_refused_for_a_pack_of_several_names(packs, tmp_path, capsys) -> None:
    both = tmp_path / "both.mgthing"
    argv = [
        "names",
        "export",
        "Rex",
        "Bella",
        "--out",
        str(both),
        "--db",
        str(packs["a"]),
        "--bundle",
        str(packs["bundle"]),
    ]
    assert run(capsys, *argv)[0] == 0
    assert "--as renames one name, but the pack holds 2 (Rex, Bella)" in refused(
        capsys, packs, both, "--as", "Max"
    )


def test_a_library_without_a_free_slot_is_refused(packs, capsys) -> None:
    teach_rows(packs["b"], [f"dog {i}" for i in range(NAME_SLOTS)])
    err = refused(capsys, packs)
    assert f"knows {NAME_SLOTS} names" in err and "forget some first" in err


def test_a_pack_learned_with_another_method_is_refused(packs, tmp_path, capsys) -> None:
    pack = rebuild(packs["pack"], tmp_path / "m.mgthing", lambda m, f: m["names"][0].update(method="rank1"))
    assert "learned with the 'rank1' method" in refused(capsys, packs, pack)


# ----- refusals: the file ----------------------------------------------------------------------------
def rebuild(
    source: Path,
    target: Path,
    edit: Callable[[dict[str, Any], dict[str, bytes]], None] | None = None,
    rehash: bool = True,
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None,
) -> Path:
    """A copy of a pack with its manifest and files edited; with ``rehash`` every hash is recomputed, so
    only the later checks (types, shapes, values, the model) can catch the edit."""
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        files = {n: archive.read(n) for n in archive.namelist() if n != MANIFEST}
    if edit is not None:
        edit(manifest, files)
    if rehash:
        import hashlib

        for entry in manifest["names"]:
            for spec in (entry["embedding"], entry.get("look") or {}):
                if spec.get("file") in files:
                    spec["sha256"] = hashlib.sha256(files[spec["file"]]).hexdigest()
        manifest["content_sha256"] = manifest_hash(manifest)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
        for info, data in extra or []:
            archive.writestr(info, data)
    return target


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _pickled() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"run": "code"}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _set_token(
    array: np.ndarray, describe: bool = True
) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    """Replace Rex's embedding file; ``describe``: and its shape in the manifest."""

    def edit(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
        files["embeddings/0.npy"] = _npy(array)
        if describe:
            manifest["names"][0]["embedding"]["shape"] = list(array.shape)

    return edit


GOOD = np.linspace(-1, 1, HIDDEN, dtype=np.float32)
TAMPERED = {
    "kind edited, hash not": (
        lambda m, f: m["names"][0].update(kind="cat"),
        False,
        "does not match its content hash",
    ),
    "embedding edited, hash not": (
        lambda m, f: f.update({"embeddings/0.npy": _npy(GOOD * 2)}),
        False,
        "embeddings/0.npy does not match its sha256",
    ),
    "float64": (_set_token(GOOD.astype(np.float64)), True, "holds float64, not float32"),
    "big-endian": (_set_token(GOOD.astype(">f4")), True, "not float32"),
    "two rows": (_set_token(np.stack([GOOD, GOOD]), describe=False), True, "has shape (2, 8), not (8,)"),
    "described as two rows": (_set_token(np.stack([GOOD, GOOD])), True, "described as 'float32' [2, 8]"),
    "shorter than described": (_set_token(GOOD[:4], describe=False), True, "has shape (4,), not (8,)"),
    "NaN": (_set_token(np.where(np.arange(HIDDEN) == 3, np.nan, GOOD).astype(np.float32)), True, "NaN"),
    "huge": (_set_token(GOOD * 1e6), True, "beyond 1000"),
    "cut short": (
        lambda m, f: f.update({"embeddings/0.npy": _npy(GOOD)[:8] + b"\x00" * 8}),
        True,
        "is not a numpy array",
    ),
    "pickle": (lambda m, f: f.update({"embeddings/0.npy": _pickled()}), True, "is not a numpy array"),
    "box outside": (
        lambda m, f: m["names"][0]["photos"][0].update(box=[0.5, 0.5, 0.8, 0.2]),
        True,
        "is not inside the photo",
    ),
    "escape in the name": (
        lambda m, f: m["names"][0].update(name="Rex\x1b[2J"),
        True,
        "holds control characters",
    ),
    "extra field": (lambda m, f: m.update(run="rm -rf /"), True, "other fields than a pack's"),
    "not a hash": (lambda m, f: m["names"][0]["photos"][0].update(content_hash="../x"), True, "not a sha256"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_pack_is_refused(packs, tmp_path, capsys, case: str) -> None:
    edit, rehash, why = TAMPERED[case]
    pack = rebuild(packs["pack"], tmp_path / "t.mgthing", edit, rehash)
    err = refused(capsys, packs, pack)
    assert why in err, err
    assert "damaged or edited" in err


def test_a_pack_of_another_width_is_refused(packs, tmp_path, capsys) -> None:
    """The same checkpoint with another width can only be an edited pack (all hashes redone)."""
    pack = rebuild(packs["pack"], tmp_path / "w.mgthing", _set_token(np.zeros(16, np.float32)))
    assert "embedding has 16 values but the model tiny-fp32-111111111111 takes 8" in refused(
        capsys, packs, pack
    )


def _member(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


MEMBERS = {
    "absolute": (_member("/etc/cron.d/x"), "a path outside the pack"),
    "dot dot": (_member("../evil.npy"), "a path outside the pack"),
    "dot dot inside": (_member("embeddings/../../x.npy"), "a path outside the pack"),
    "windows drive": (_member("C:/x.npy"), "a path outside the pack"),
    "symlink": (_member("embeddings/1.npy", stat.S_IFLNK | 0o777), "a symbolic link"),
    "folder": (_member("embeddings/", stat.S_IFDIR | 0o755), "the folder"),
    "unknown file": (_member("README.txt"), "which no pack has"),
    "unused embedding": (_member("embeddings/7.npy"), "which no name uses"),
    "twice": (_member(MANIFEST), "twice"),
}


@pytest.mark.parametrize("case", list(MEMBERS))
def test_an_archive_with_unexpected_members_is_refused(packs, tmp_path, capsys, case: str) -> None:
    info, why = MEMBERS[case]
    # zipfile itself warns when it writes a name twice
    with pytest.warns(UserWarning) if case == "twice" else contextlib.nullcontext():
        pack = rebuild(packs["pack"], tmp_path / "m.mgthing", extra=[(info, b"x")])
    err = refused(capsys, packs, pack)
    assert why in err, err


def test_an_oversized_file_is_refused_before_it_is_read(packs, tmp_path, capsys, monkeypatch) -> None:
    big = tmp_path / "big.mgthing"
    shutil.copy(packs["pack"], big)
    with big.open("ab") as f:
        f.truncate(MAX_PACK_BYTES + 1)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr("app.personal.pack.zipfile.ZipFile", never)
    err = refused(capsys, packs, big)
    assert "is 1.0 MB; a concept pack is at most 1024 kB" in err and "nothing was read" in err


def test_too_many_names_and_a_zip_bomb_are_refused(packs, tmp_path, capsys) -> None:
    def many(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
        manifest["names"] = manifest["names"] * (NAME_SLOTS + 1)

    assert "it lists 65 names" in refused(capsys, packs, rebuild(packs["pack"], tmp_path / "n.mgthing", many))

    bomb = tmp_path / "bomb.mgthing"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, b" " * (4 << 20))  # 4 MB of spaces, a few kB on disk
    assert bomb.stat().st_size < MAX_PACK_BYTES
    assert "over its limit" in refused(capsys, packs, bomb)


NOT_PACKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes": (lambda p: p.write_bytes(os.urandom(300)), "not a zip archive"),
    "empty": (lambda p: p.write_bytes(b""), "not a zip archive"),
    "a zip of something else": (lambda p: _zip(p, {"photo.jpg": b"\xff\xd8"}), "has no pack.json"),
    "no manifest": (lambda p: _zip(p, {"embeddings/0.npy": _npy(GOOD)}), "has no pack.json"),
    "not JSON": (lambda p: _zip(p, {MANIFEST: b"\xff\xfe"}), "is not JSON"),
    "NaN in JSON": (lambda p: _zip(p, {MANIFEST: b'{"format": NaN}'}), "is not JSON"),
    "another format": (lambda p: _zip(p, {MANIFEST: b'{"format": "bundle"}'}), "not a concept pack's"),
    "a list": (lambda p: _zip(p, {MANIFEST: b"[]"}), "not a concept pack's"),
    "a folder": (lambda p: p.mkdir(), "it is not a file"),
    "missing": (lambda p: None, "cannot read"),
}


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("case", list(NOT_PACKS))
def test_a_file_that_is_not_a_pack_is_refused(packs, tmp_path, capsys, case: str) -> None:
    make, why = NOT_PACKS[case]
    path = tmp_path / "x.mgthing"
    make(path)
    assert why in refused(capsys, packs, path)


def test_a_pack_from_a_newer_multigrain_says_so(packs, tmp_path, capsys) -> None:
    pack = rebuild(packs["pack"], tmp_path / "v.mgthing", lambda m, f: m.update(version=3))
    assert "made by a newer Multigrain (pack version 3" in refused(capsys, packs, pack)


# ----- looks (pack version 2) ---------------------------------------------------------------------------
@pytest.fixture
def looked(packs, tmp_path, capsys) -> Path:
    """Rex's pack from a library where Rex has a look."""
    c = tmp_path / "c.db"
    teach_rows(c, ["Rex"], looks=True)
    pack = tmp_path / "RexLook.mgthing"
    code, _, err = run(
        capsys, "names", "export", "Rex", "--out", str(pack), "--db", str(c), "--bundle", str(packs["bundle"])
    )
    assert code == 0, err
    return pack


def test_a_look_travels_in_a_version_2_pack_and_a_pack_without_one_stays_version_1(
    packs, looked, capsys
) -> None:
    from app.personal.store import learned_for, name_table

    with zipfile.ZipFile(looked) as archive:
        assert archive.namelist() == [MANIFEST, "embeddings/0.npy", "looks/0.npy"]
        assert json.loads(archive.read(MANIFEST))["version"] == 2
    with zipfile.ZipFile(packs["pack"]) as archive:
        assert json.loads(archive.read(MANIFEST))["version"] == 1  # older copies can still read it
    code, _, err = import_(capsys, packs, looked)
    assert code == 0, err
    db = open_db(packs["b"], writable=False)
    row = find_name(db, "Rex")
    assert row is not None
    found = learned_for(db, row.id, "tiny-fp32-111111111111", WEIGHTS)
    assert found is not None and found[0].look is not None
    np.testing.assert_array_equal(found[0].look, look_of(0))
    table = name_table(db, "tiny-fp32-111111111111", WEIGHTS, (NAME_SLOTS, HIDDEN), EMBED_DIM)
    np.testing.assert_array_equal(table.looks["Rex"], look_of(0))
    assert name_table(db, "tiny-fp32-111111111111", WEIGHTS, (NAME_SLOTS, HIDDEN), 4).looks == {}
    db.close()


def _set_look(array: np.ndarray) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    def edit(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
        files["looks/0.npy"] = _npy(array)
        manifest["names"][0]["look"]["shape"] = list(array.shape)

    return edit


BAD_LOOKS = {
    "not unit length": (_set_look(look_of(0) * 0.5), "is not of unit length"),
    "beyond one": (_set_look(look_of(0) * 3), "beyond 1.001"),
    "NaN": (_set_look(np.full(EMBED_DIM, np.nan, np.float32)), "NaN"),
    "another width": (_set_look(np.array([1.0, 0, 0, 0], np.float32)), "makes 8"),
    "in a version 1 pack": (lambda m, f: m.update(version=1), "is not a taught name's entry"),
    "file missing": (lambda m, f: f.pop("looks/0.npy"), "'looks/0.npy' is not in the pack"),
    "shared with the embedding": (
        lambda m, f: (
            m["names"][0]["look"].update(file="embeddings/0.npy"),
            f.update({"embeddings/0.npy": f.pop("looks/0.npy")}),  # a unit vector: it passes as both
        ),
        "two vectors share embeddings/0.npy",
    ),
}


@pytest.mark.parametrize("case", list(BAD_LOOKS))
def test_a_bad_look_is_refused(packs, looked, tmp_path, capsys, case: str) -> None:
    edit, why = BAD_LOOKS[case]
    err = refused(capsys, packs, rebuild(looked, tmp_path / "bad.mgthing", edit))
    assert why in err, err


def test_a_pack_error_is_a_known_error() -> None:
    from core.errors import KnownError

    assert issubclass(PackError, KnownError)


# ----- the round trip on test-tiny, taught for real ---------------------------------------------------
def test_a_name_taught_in_one_library_searches_the_same_in_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fp32_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.personal.usage import encode_texts, names_for
    from export.runtime import Runtime

    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MULTIGRAIN_BUNDLE", str(fp32_bundle))
    photos_a, photos_b = tmp_path / "a", tmp_path / "b"
    write_photos(photos_a, 4)
    write_jpeg(photos_a / "rex.jpg", (200, 120, 40), size=(64, 48))
    shutil.copytree(photos_a, photos_b)  # library B has the same photos elsewhere
    lib_a, lib_b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    assert run(capsys, "index", str(photos_a), "--db", lib_a)[0] == 0
    assert run(capsys, "index", str(photos_b), "--db", lib_b)[0] == 0
    code, _, err = run(
        capsys,
        "teach",
        "Rex",
        "--kind",
        "dog",
        f"{photos_a / 'rex.jpg'}:0.1,0.2,0.5,0.6",
        "--steps",
        "3",
        "--db",
        lib_a,
    )
    assert code == 0, err

    pack = tmp_path / "Rex.mgthing"
    code, out, err = run(capsys, "names", "export", "Rex", "--out", str(pack), "--db", lib_a)
    assert code == 0, err
    assert str(photos_a).encode() not in pack.read_bytes()
    code, out, err = run(capsys, "names", "import", str(pack), "--db", lib_b)
    assert code == 0, err
    assert "1 of its 1 photo are in this library" in out

    runtime = Runtime(fp32_bundle, providers="cpu")
    queries = ["Rex", "Rex on the beach"]
    embeds = []
    for lib in (lib_a, lib_b):
        db = open_db(lib, writable=False)
        names = names_for(db, runtime)
        assert names is not None and set(names.slots) == {"Rex"}
        embeds.append(encode_texts(runtime, queries, names)[0])
        if lib == lib_b:  # the teaching photo's label points at B's own copy
            row = find_name(db, "Rex")
            assert row is not None
            [label] = labels_of(db, row.id)
            assert label.path == str(photos_b / "rex.jpg") and label.box == (0.1, 0.2, 0.5, 0.6)
        db.close()
    np.testing.assert_array_equal(embeds[0], embeds[1])
    assert np.abs(embeds[1][0] - runtime.encode_texts(["rex"])[0][0]).max() > 1e-3  # not the plain word
    code, out, err = run(capsys, "search", "Rex on the beach", "--json", "--all", "--db", lib_b)
    assert code == 0, err
    assert json.loads(out)["results"]
