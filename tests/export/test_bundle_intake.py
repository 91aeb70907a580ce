"""Single-file bundles and taking in a bundle (``export.bundle_archive``, ``export.bundle_intake``): a
folder and its archive install the same bundle; every refusal is a sentence, happens before anything is
installed, and leaves nothing behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bundle_files import make_bundle, members_of, rex, zip_members

import export.bundle_intake as intake
from export.bundle import FORMAT_VERSION, MANIFEST, BundleError
from export.bundle_archive import write_archive
from export.bundle_intake import Limits, install_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    make_bundle(tmp_path / "src" / "mine", [rex()])
    return tmp_path / "src" / "mine"


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    """The bundles folder to install into; its parent holds the temporary folder while installing."""
    return tmp_path / "home" / "bundles"


def left_behind(bundles: Path) -> list[str]:
    """Everything an install left in the app's folder (the bundles folder and its temporary folders)."""
    home = bundles.parent
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []


def test_a_folder_and_its_single_file_install_the_same_bundle(
    bundle: Path, bundles: Path, tmp_path: Path
) -> None:
    archive = write_archive(bundle, tmp_path / "mine.mgbundle")
    assert write_archive(bundle, tmp_path / "again.mgbundle").read_bytes() == archive.read_bytes()  # stable
    from_file = install_bundle(archive, bundles)
    assert from_file.added and from_file.path == bundles / "mine"
    assert members_of(from_file.path) == members_of(bundle)
    other = install_bundle(bundle, tmp_path / "other" / "bundles")
    assert other.added and members_of(other.path) == members_of(bundle)
    assert oct(from_file.path.stat().st_mode & 0o777) == "0o755"
    files = [f"bundles/mine/{name}" for name in members_of(bundle)]
    assert left_behind(bundles) == sorted(["bundles", "bundles/mine", *files])  # no temporary folder


def test_an_identity_already_installed_is_reported_not_duplicated(
    bundle: Path, bundles: Path, tmp_path: Path
) -> None:
    first = install_bundle(bundle, bundles)
    archive = write_archive(bundle, tmp_path / "copy.mgbundle")
    again = install_bundle(archive, bundles)
    assert not again.added and again.path == first.path and again.identity == first.identity
    assert sorted(p.name for p in bundles.iterdir()) == ["mine"]
    repo = tmp_path / "repo-bundles"
    elsewhere = install_bundle(bundle, repo)
    assert not install_bundle(archive, tmp_path / "fresh", also_in=[repo]).added  # the repository's too
    assert elsewhere.added and not (tmp_path / "fresh").exists()


def test_another_bundle_of_the_same_name_is_installed_beside_it(
    bundle: Path, bundles: Path, tmp_path: Path
) -> None:
    install_bundle(bundle, bundles)
    make_bundle(tmp_path / "b" / "mine", seed=1)
    second = install_bundle(tmp_path / "b" / "mine", bundles)
    assert second.added and second.path == bundles / "mine-2"


# ----- refusals of a single-file bundle -------------------------------------------------------------------
def _tampered(m: dict[str, bytes]) -> dict[str, bytes]:
    return m | {"text.onnx": m["text.onnx"][:-1] + bytes([m["text.onnx"][-1] ^ 1])}


def _manifest_edit(**changes: object):
    def edit(m: dict[str, bytes]) -> dict[str, bytes]:
        return m | {MANIFEST: json.dumps(json.loads(m[MANIFEST]) | changes).encode()}

    return edit


def _renamed(old: str, new: str):
    def edit(m: dict[str, bytes]) -> dict[str, bytes]:
        return {new if k == old else k: v for k, v in m.items()}

    return edit


ARCHIVE_REFUSALS = [
    ("tampered file", _tampered, None, r"text\.onnx does not match its sha256 in manifest\.json"),
    (
        "missing file",
        lambda m: {k: v for k, v in m.items() if k != "vocab.txt"},
        None,
        r"missing file vocab\.txt",
    ),
    ("extra file", lambda m: m | {"notes.txt": b"hi"}, None, r"extra file notes\.txt, not listed"),
    (
        "no manifest",
        lambda m: {k: v for k, v in m.items() if k != MANIFEST},
        None,
        "not a model bundle: it has no",
    ),
    (
        "newer format",
        _manifest_edit(format_version=FORMAT_VERSION + 1),
        None,
        "newer than this Multigrain supports",
    ),
    ("manifest not JSON", lambda m: m | {MANIFEST: b"{not json"}, None, "unreadable manifest"),
    (
        "identity edited",
        _manifest_edit(identity="fake-fp32-000000000000"),
        None,
        "is not the one its files give",
    ),
    (
        "parent path",
        _renamed("vocab.txt", "../vocab.txt"),
        None,
        r"'\.\./vocab\.txt' leads out of its folder",
    ),
    ("backslash parent", _renamed("vocab.txt", "..\\vocab.txt"), None, "leads out of its folder"),
    ("absolute path", _renamed("vocab.txt", "/tmp/vocab.txt"), None, "is an absolute path"),
    ("drive letter", _renamed("vocab.txt", "C:vocab.txt"), None, "has a drive letter"),
    ("in a folder", _renamed("vocab.txt", "sub/vocab.txt"), None, "is in a folder"),
    ("symbolic link", lambda m: m | {"link.txt": b"/etc/passwd"}, None, "'link.txt' is a symbolic link"),
    ("too many members", lambda m: m, Limits(files=3), "members, more than a bundle holds"),
    ("file too large", lambda m: m, Limits(file_bytes=2500), r"vision\.onnx is 3,000 bytes, over the 2,500"),
    ("too large in all", lambda m: m, Limits(total_bytes=5000), "its files come to .* over the 5,000"),
    ("manifest too large", lambda m: m, Limits(manifest_bytes=100), "manifest.json is .* not a manifest"),
]


@pytest.mark.parametrize(
    ("change", "limits", "message"), [r[1:] for r in ARCHIVE_REFUSALS], ids=[r[0] for r in ARCHIVE_REFUSALS]
)
def test_each_refusal_of_an_archive_is_a_sentence_and_leaves_nothing(
    bundle: Path, bundles: Path, tmp_path: Path, change, limits: Limits | None, message: str
) -> None:
    archive = zip_members(tmp_path / "bad.mgbundle", change(members_of(bundle)), links=("link.txt",))
    before = archive.read_bytes()
    with pytest.raises(BundleError, match=message) as refused:
        install_bundle(archive, bundles, limits=limits or Limits())
    assert str(archive) in str(refused.value)
    assert left_behind(bundles) == []  # not even the bundles folder, and no temporary folder
    assert archive.read_bytes() == before  # the person's file is untouched


@pytest.mark.parametrize("limits", [Limits(files=3), Limits(file_bytes=2500), Limits(total_bytes=5000)])
@pytest.mark.parametrize("hostile", ["../evil", "/abs", "C:evil", "sub/x"])
def test_sizes_and_paths_are_refused_before_anything_is_unpacked(
    bundle: Path, bundles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: Limits, hostile: str
) -> None:
    def never(*_: object) -> str:
        raise AssertionError("a member was unpacked before the archive passed its checks")

    monkeypatch.setattr(intake, "_copy", never)
    archive = zip_members(tmp_path / "big.mgbundle", members_of(bundle))
    with pytest.raises(BundleError, match="refused"):
        install_bundle(archive, bundles, limits=limits)
    hostile_archive = zip_members(tmp_path / "hostile.mgbundle", members_of(bundle) | {hostile: b"x"})
    with pytest.raises(BundleError, match="refused: the member"):
        install_bundle(hostile_archive, bundles)
    assert left_behind(bundles) == [] and not (tmp_path / "evil").exists()


def test_what_is_not_a_bundle_is_refused(bundles: Path, tmp_path: Path) -> None:
    junk = tmp_path / "holiday.jpg"
    junk.write_bytes(b"\xff\xd8 not a zip")
    with pytest.raises(BundleError, match=r"holiday\.jpg is not a model bundle: neither a bundle folder"):
        install_bundle(junk, bundles)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match=r"it has no manifest\.json"):
        install_bundle(empty, bundles)
    with pytest.raises(BundleError, match="no such file or folder"):
        install_bundle(tmp_path / "nowhere", bundles)
    assert left_behind(bundles) == []


# ----- refusals of a bundle folder ------------------------------------------------------------------------
def test_each_refusal_of_a_folder(bundle: Path, bundles: Path, tmp_path: Path) -> None:
    def refused(message: str) -> None:
        with pytest.raises(BundleError, match=message):
            install_bundle(bundle, bundles)
        assert left_behind(bundles) == []

    (bundle / "notes.txt").write_text("mine")
    refused(r"extra file notes\.txt, not listed in manifest\.json")
    (bundle / "notes.txt").unlink()
    (bundle / "sub").mkdir()
    refused("sub is a folder")
    (bundle / "sub").rmdir()
    os.symlink("/etc/passwd", bundle / "passwd")
    refused("passwd is a symbolic link")
    (bundle / "passwd").unlink()
    vocab = (bundle / "vocab.txt").read_bytes()
    (bundle / "vocab.txt").unlink()
    os.symlink(tmp_path / "elsewhere.txt", bundle / "vocab.txt")  # a listed file that is a link
    refused("vocab.txt is a symbolic link")
    (bundle / "vocab.txt").unlink()
    refused(r"missing file vocab\.txt \(listed in manifest\.json\)")
    (bundle / "vocab.txt").write_bytes(vocab + b"[MASK]\n")
    refused(r"vocab\.txt does not match its sha256")
    (bundle / "vocab.txt").write_bytes(vocab)
    assert install_bundle(bundle, bundles).added  # whole again: it installs


def test_unusable_carried_names_are_refused(bundle: Path, bundles: Path) -> None:
    from bundle_files import fields

    from export.bundle import NAMES_FILE, write_manifest

    names = json.loads((bundle / NAMES_FILE).read_text())
    names["names"].append(dict(names["names"][0], name="REX", slot=9))  # the same name in another case
    (bundle / NAMES_FILE).write_text(json.dumps(names))
    write_manifest(bundle, fields())  # hashes and identity agree: only the names are wrong
    with pytest.raises(
        BundleError, match=r"names\.json\): not a usable names file: the name 'REX' is listed twice"
    ):
        install_bundle(bundle, bundles)
    assert left_behind(bundles) == []


def test_an_archive_is_not_written_over_a_file_that_is_not_one(bundle: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious.mgbundle"
    precious.write_text("my notes")
    with pytest.raises(BundleError, match="exists and is not a bundle archive"):
        write_archive(bundle, precious)
    assert precious.read_text() == "my notes"
    with pytest.raises(BundleError, match="is a folder"):
        write_archive(bundle, tmp_path)
