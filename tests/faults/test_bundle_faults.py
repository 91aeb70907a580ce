"""Bundles whose files were swapped or edited: ``verify``, ``status``, search and index refuse them in
one sentence, before any photo is read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fault_checks import Run, one_sentence
from photo_files import write_photos

from app import bundle_check
from core.hashing import sha256_file
from export.bundle import BundleError, bundle_identity
from export.runtime import Runtime


@pytest.fixture
def bundle(fp32_bundle: Path) -> Path:
    """The session's tiny fp32 bundle (tests/conftest.py); tests change only copies of it."""
    return fp32_bundle


def _swapped(bundle: Path, where: Path, graph: str, other: str, identity_too: bool) -> Path:
    """A copy of ``bundle`` with ``graph``'s file replaced by ``other``'s, its sha256 edited to match in
    the manifest (and, with ``identity_too``, the identity recomputed as well: a careful forger)."""
    copy = where / f"swapped-{graph}"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    target = manifest["graphs"][graph]["file"]
    shutil.copyfile(copy / manifest["graphs"][other]["file"], copy / target)
    manifest["files"][target] = sha256_file(copy / target)
    if identity_too:
        keys = ("image_size", "image_mean", "image_std", "max_tokens", "max_words")
        manifest["identity"] = bundle_identity(
            manifest["model"], manifest["variant"], manifest["files"], {k: manifest[k] for k in keys}
        )
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_verify_recomputes_the_identity_from_the_files(bundle: Path, tmp_path: Path, run: Run) -> None:
    swapped = _swapped(bundle, tmp_path, "vision", "concepts", identity_too=False)
    code, _, err = run("verify", str(swapped), "--providers", "cpu")
    line = one_sentence(err, "verify")
    assert code == 2 and "is not the one its files give" in line and "export it again" in line


def test_verify_checks_each_graph_against_its_role(bundle: Path, tmp_path: Path, run: Run) -> None:
    swapped = _swapped(bundle, tmp_path, "vision", "concepts", identity_too=True)
    code, _, err = run("verify", str(swapped), "--providers", "cpu")
    line = one_sentence(err, "verify")
    assert code == 2 and "vision.onnx is not a vision graph (it lacks images, embed, tokens" in line


def test_status_checks_the_hashes_and_remembers_them(
    bundle: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    hashed: list[Path] = []
    monkeypatch.setattr(bundle_check, "sha256_file", lambda file: hashed.append(file) or sha256_file(file))
    code, out, _ = run("status", "--bundle", str(bundle))
    assert code == 0 and "model bundle: " in out and "refused" not in out and len(hashed) == 6
    code, out, _ = run("status", "--bundle", str(bundle))
    assert code == 0 and len(hashed) == 6  # nothing changed: nothing read again

    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    with open(tampered / "vocab.txt", "a") as vocab:
        vocab.write("extra\n")
    code, out, _ = run("status", "--bundle", str(tampered))
    assert code == 0 and "model bundle: refused: " in out and "vocab.txt does not match its sha256" in out


def test_index_refuses_a_swapped_graph_before_reading_a_photo(
    bundle: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    swapped = _swapped(bundle, tmp_path, "vision", "concepts", identity_too=True)
    write_photos(tmp_path / "photos", 2)
    code, _, err = run("index", str(tmp_path / "photos"), "--bundle", str(swapped))
    assert code == 2 and "vision.onnx is not a vision graph" in one_sentence(err, "index")
    assert not (tmp_path / "home" / "thumbs").exists()  # no photo was read


def test_search_refuses_a_swapped_text_graph(bundle: Path, tmp_path: Path) -> None:
    swapped = _swapped(bundle, tmp_path, "text", "itm", identity_too=True)
    runtime = Runtime(swapped, providers="cpu")
    with pytest.raises(BundleError, match=r"text\.onnx is not a text graph"):
        runtime.encode_texts(["a red square"])
