"""The bundle's manifest, its identity, and the refusals of ``load_bundle``."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from core.errors import KnownError
from engine.checkpoint import sha256_file
from export.bundle import EXPORT_RECIPE, FORMAT_VERSION, FORMAT_WITHOUT_NAMES, BundleError, load_bundle

GRAPHS = {"vision", "concepts", "text", "itm", "box"}


@pytest.fixture
def bundle_copy(fp32_bundle: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(shutil.copytree(fp32_bundle, tmp_path / "bundle"))


def _edit_manifest(bundle: pathlib.Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_manifest_has_every_fact(fp32_bundle: pathlib.Path, tiny_checkpoint: pathlib.Path) -> None:
    m = load_bundle(fp32_bundle).manifest
    assert m["format_version"] == FORMAT_WITHOUT_NAMES == 2 and FORMAT_VERSION == 3  # 3: carries names
    assert m["model"] == "test-tiny" and m["config"]["name"] == "test-tiny" and m["variant"] == "fp32"
    assert m["image_size"] == 64 and len(m["image_mean"]) == 3 and len(m["image_std"]) == 3
    assert (m["max_tokens"], m["max_words"], m["embed_dim"]) == (24, 30, 16)
    assert m["token_grid"] == {"grid": 4, "patch_stride": 16, "num_tokens": 17, "width": 32}
    assert set(m["graphs"]) == GRAPHS
    assert set(m["files"]) == {f"{g}.onnx" for g in GRAPHS} | {"vocab.txt"}
    for name, digest in m["files"].items():
        assert sha256_file(fp32_bundle / name) == digest
    assert m["source"]["weights_sha256"] == sha256_file(tiny_checkpoint / "model.safetensors")
    # Teaching a name loads the checkpoint the graphs came from (outside the repository: absolute).
    assert m["source"]["checkpoint_path"] == str(tiny_checkpoint.resolve())
    assert m["names"] == {"input": "name_embeddings", "slots": 64, "first_id": 1}
    assert m["graphs"]["text"]["inputs"] == ["input_ids", "attention_mask", "name_embeddings"]
    assert set(m["exporter"]) >= {"torch", "onnx", "onnxruntime", "multigrain"}
    assert m["exporter"]["recipe"] == EXPORT_RECIPE  # scripts/setup rebuilds bundles of another recipe
    assert m["drift"]["pass"] and m["created"]
    assert m["identity"].startswith("test-tiny-fp32-") and len(m["identity"].rsplit("-", 1)[1]) == 12


def test_identities_differ_between_variants(fp32_bundle: pathlib.Path, int8_bundle: pathlib.Path) -> None:
    a, b = load_bundle(fp32_bundle), load_bundle(int8_bundle)
    assert a.identity != b.identity and b.identity.startswith("test-tiny-int8-")


def test_identity_is_stable_and_follows_the_graphs(bundle_copy: pathlib.Path) -> None:
    from export.bundle import write_manifest

    before = load_bundle(bundle_copy).manifest
    fields = {k: v for k, v in before.items() if k not in ("format_version", "identity", "files", "created")}
    assert write_manifest(bundle_copy, fields)["identity"] == before["identity"]
    with open(bundle_copy / "itm.onnx", "ab") as f:
        f.write(b"\0")
    assert write_manifest(bundle_copy, fields)["identity"] != before["identity"]


def test_refuses_a_changed_file(bundle_copy: pathlib.Path) -> None:
    data = bytearray((bundle_copy / "text.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bundle_copy / "text.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"text\.onnx does not match its sha256"):
        load_bundle(bundle_copy)
    load_bundle(bundle_copy, verify_hashes=False)  # the explicit opt-out skips only the hashes


def test_refuses_a_missing_file(bundle_copy: pathlib.Path) -> None:
    (bundle_copy / "vocab.txt").unlink()
    with pytest.raises(BundleError, match=r"missing file vocab\.txt"):
        load_bundle(bundle_copy, verify_hashes=False)


def test_refuses_a_newer_format(bundle_copy: pathlib.Path) -> None:
    _edit_manifest(bundle_copy, format_version=FORMAT_VERSION + 1)
    v = FORMAT_VERSION
    newer = rf"format version {v + 1} is newer than this Multigrain supports \({v}\)"
    with pytest.raises(BundleError, match=newer):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "manifest.json").write_text("{not json"), "unreadable manifest"),
        (lambda p: (p / "manifest.json").write_text("[1, 2]"), "unreadable manifest.*not a JSON object"),
        (lambda p: _edit_manifest(p, format_version="1"), "unreadable manifest.*format_version"),
        (lambda p: _edit_manifest(p, graphs=None), "unreadable manifest"),
        (lambda p: (p / "manifest.json").unlink(), "missing file manifest.json"),
    ],
)
def test_refuses_an_unreadable_manifest(bundle_copy: pathlib.Path, damage, message: str) -> None:
    damage(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_manifest_cannot_point_outside(bundle_copy: pathlib.Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"]["../outside.onnx"] = "0" * 64
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="bad file name"):
        load_bundle(bundle_copy)


def test_bundle_error_is_a_known_error() -> None:
    assert issubclass(BundleError, KnownError)
    with pytest.raises(BundleError, match="not a model bundle directory"):
        load_bundle("/nonexistent/bundle")


@pytest.mark.parametrize("bundle", ["fp32_bundle", "int8_bundle"])
def test_graphs_name_no_source_path_so_the_identity_does_not_depend_on_the_checkout(
    bundle: str, request: pytest.FixtureRequest
) -> None:
    import onnx

    root = request.getfixturevalue(bundle)
    checkout = str(pathlib.Path(__file__).resolve().parents[2]).encode()
    for graph in GRAPHS:
        path = root / f"{graph}.onnx"
        assert checkout not in path.read_bytes(), f"{path.name} names the checkout folder"
        model = onnx.load(str(path), load_external_data=False)
        assert not any(node.metadata_props or node.doc_string for node in model.graph.node), path.name


def test_a_checkpoint_with_tuned_settings_ships_them_in_its_bundle(
    tiny_checkpoint: pathlib.Path, tiny_model: object, tmp_path: pathlib.Path
) -> None:
    from core.search_settings import SearchSettings
    from export.build import ExportError, export_bundle

    checkpoint = pathlib.Path(shutil.copytree(tiny_checkpoint, tmp_path / "ckpt"))
    tuned = SearchSettings(
        w_global=0.8, w_region=0.2, w_caption=0.0, tuned=True, source="tune-search on w val"
    )
    (checkpoint / "search_settings.json").write_text(json.dumps(tuned.to_json()))
    manifest = export_bundle(checkpoint, tmp_path / "bundle", "fp32", model=tiny_model, log=lambda _: None)
    shipped = manifest["search_settings"]
    assert (shipped["w_global"], shipped["w_region"], shipped["w_caption"]) == (0.8, 0.2, 0.0)
    assert shipped["source"] == "shipped with the model (tune-search on w val)"
    assert load_bundle(tmp_path / "bundle").manifest["search_settings"] == shipped

    (checkpoint / "search_settings.json").write_text('{"w_region": 7}')
    with pytest.raises(ExportError, match=r"search_settings\.json is not usable search settings: weights"):
        export_bundle(checkpoint, tmp_path / "bundle2", "fp32", model=tiny_model, log=lambda _: None)
    assert not (tmp_path / "bundle2").exists()
