"""A bundle that carries taught names (format 3): what export writes, the identity it gets, the named
path's parity with the engine's named encoder, and what ``verify`` says of it, as a folder or one file."""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest
import torch

from cli.main import main
from core.hashing import sha256_file
from core.names import NAME_SLOTS
from engine.model.xvlm import XVLM
from engine.personal.names import NameParams, TaughtName, encode_named
from export.build import ExportError, export_bundle
from export.bundle import FORMAT_VERSION, NAMES_FILE, BundleError, load_bundle, write_manifest
from export.carried_names import CarriedName, write_names
from export.runtime import Runtime

TEXTS = ["Rex", "a photo of rex and Bella on the grass", "bella"]


def _names(hidden: int) -> list[CarriedName]:
    rng = np.random.default_rng(5)  # rows at the scale of trained word embeddings, as teaching gives
    return [
        CarriedName("Rex", "dog", 7, rng.normal(0, 0.05, hidden).astype(np.float32)),
        CarriedName("Bella", "dog", NAME_SLOTS - 1, rng.normal(0, 0.05, hidden).astype(np.float32)),
    ]


@pytest.fixture(scope="module")
def names_file(tmp_path_factory: pytest.TempPathFactory, tiny_model: XVLM) -> pathlib.Path:
    path = tmp_path_factory.mktemp("names") / "names.json"
    write_names(path, _names(tiny_model.cfg.text.hidden_size), tiny_model.cfg.text.hidden_size, NAME_SLOTS)
    return path


def _things(factory, checkpoint, model, fp32, names_file, variant: str) -> pathlib.Path:
    out = factory.mktemp("things") / variant
    export_bundle(checkpoint, out, variant, model=model, fp32_graphs=fp32, names_file=names_file, log=print)
    return out


@pytest.fixture(scope="module")
def things_fp32(tmp_path_factory, tiny_checkpoint, tiny_model, fp32_bundle, names_file) -> pathlib.Path:
    return _things(tmp_path_factory, tiny_checkpoint, tiny_model, fp32_bundle, names_file, "fp32")


def test_the_bundle_carries_the_names_and_has_its_own_identity(
    things_fp32: pathlib.Path, fp32_bundle: pathlib.Path
) -> None:
    things, plain = load_bundle(things_fp32).manifest, load_bundle(fp32_bundle).manifest
    assert things["format_version"] == FORMAT_VERSION == 3 and plain["format_version"] == 2
    assert set(things["files"]) == set(plain["files"]) | {NAMES_FILE}
    assert things["files"]["text.onnx"] == plain["files"]["text.onnx"]  # the very same graph: names are data
    assert things["identity"] != plain["identity"] and things["identity"].startswith("test-tiny-fp32-")
    assert (
        set(things["drift"]["inputs"]) == {"random", "real", "named", "carried"} and things["drift"]["pass"]
    )
    assert things["drift"]["inputs"]["carried"]["batch"] == 6  # three texts per name


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_the_carried_names_encode_as_the_engine_does(
    variant: str, tmp_path_factory, tiny_checkpoint, tiny_model: XVLM, fp32_bundle, names_file
) -> None:
    folder = _things(tmp_path_factory, tiny_checkpoint, tiny_model, fp32_bundle, names_file, variant)
    runtime = Runtime(folder, providers="cpu")
    assert [(n.name, n.kind, n.slot) for n in runtime.carried] == [("Rex", "dog", 7), ("Bella", "dog", 63)]
    carried = runtime.carried_names
    assert carried is not None
    ids, mask, _ = runtime.tokenize(TEXTS, carried)
    first = runtime.manifest["names"]["first_id"]
    taught = [
        TaughtName(
            n,
            first + s,
            NameParams(carried.embeddings.shape[1], torch.from_numpy(carried.embeddings[s]), False),
        )
        for n, s in carried.slots.items()
    ]
    with torch.no_grad():
        expected = encode_named(
            tiny_model, torch.from_numpy(ids), torch.from_numpy(mask), taught
        ).embed.numpy()
    got = runtime.encode_texts(TEXTS, names=carried)[0]
    cosine = (got * expected).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(expected, axis=-1))
    if variant == "fp32":
        assert np.abs(got - expected).max() <= 1e-4
    assert cosine.min() >= 0.99, cosine
    plain = runtime.encode_texts(["rex"])[0]
    assert np.abs(got[0] - plain[0]).max() > 1e-3  # the carried row, not the word "rex"
    drift = load_bundle(folder).manifest["drift"]["inputs"]["carried"]["metrics"]["named_text_embed"]
    assert drift["cosine_min"] >= 0.99


def test_verify_checks_a_single_file_bundle_with_its_names(
    things_fp32: pathlib.Path, tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path, capsys
) -> None:
    from export.bundle_archive import write_archive

    archive = write_archive(things_fp32, tmp_path / "mine.mgbundle")
    code = main(["verify", str(archive), "--checkpoint", str(tiny_checkpoint), "--providers", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every member is a plain file listed in its manifest" in out
    assert "carries 2 taught name(s): Rex (dog), Bella (dog) (slots in range, names unique" in out
    assert "named_text_embed  carried" in out and "PASS" in out


def test_an_edited_names_file_is_refused(things_fp32: pathlib.Path, tmp_path: pathlib.Path, capsys) -> None:
    copy = pathlib.Path(shutil.copytree(things_fp32, tmp_path / "copy"))
    names = json.loads((copy / NAMES_FILE).read_text())
    names["names"][0]["embedding"][0] += 1.0
    (copy / NAMES_FILE).write_text(json.dumps(names))
    with pytest.raises(BundleError, match=r"names\.json does not match its sha256"):
        load_bundle(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"][NAMES_FILE] = sha256_file(copy / NAMES_FILE)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="is not the one its files give"):  # the identity covers the names
        load_bundle(copy)
    names["names"][0]["slot"] = NAME_SLOTS  # out of range, with hashes and identity made to agree
    (copy / NAMES_FILE).write_text(json.dumps(names))
    fields = {
        k: v for k, v in manifest.items() if k not in ("format_version", "identity", "files", "created")
    }
    write_manifest(copy, fields)
    code = main(["verify", str(copy), "--providers", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "not a usable names file: 'Rex' has slot 64; slots run from 0 to 63" in err


def test_export_refuses_names_of_another_width(
    tmp_path: pathlib.Path, tiny_checkpoint: pathlib.Path, tiny_model: XVLM, fp32_bundle: pathlib.Path
) -> None:
    wrong = tmp_path / "names.json"
    write_names(wrong, [CarriedName("Rex", "dog", 0, np.zeros(5, np.float32))], 5, NAME_SLOTS)
    with pytest.raises(ExportError, match=r"cannot export with these names: .*this model's text width is 32"):
        export_bundle(
            tiny_checkpoint, tmp_path / "out", model=tiny_model, fp32_graphs=fp32_bundle, names_file=wrong
        )
    assert not (tmp_path / "out").exists()
