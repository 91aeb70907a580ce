"""Our checkpoint format and the import of official X-VLM checkpoints."""

from __future__ import annotations

import json
import pathlib

import pytest
import torch
from official_format import official_key_shapes, to_official

from engine.checkpoint import CheckpointError, import_official, load_checkpoint, save_checkpoint
from engine.model.factory import create_model


def _outputs(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, cfg.vision.image_size, cfg.vision.image_size, generator=g)
    ids = torch.randint(1000, 5000, (2, 7), generator=g)
    ids[:, 0] = 101
    mask = torch.ones_like(ids)
    with torch.no_grad():
        image = model.encode_image(images)
        text = model.encode_text(ids, mask)
        out = {
            "image": image.embed,
            "text": text.embed,
            "itm": model.itm_score(text.hidden, mask, image.tokens),
            "concepts": model.encode_concepts(image.tokens, torch.tensor([[3.0, 5, 30, 20]] * 2))[2],
        }
        if model.bbox_head is not None:
            out["box"] = model.predict_box(text.hidden, mask, image.tokens)
        if model.mlm_head is not None:
            out["mlm"] = model.mlm_head(text.hidden)
    return out


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def _randomise(model: torch.nn.Module) -> torch.nn.Module:
    # Fresh init leaves many tensors at 0 or 1; random values catch any swapped or dropped tensor.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_our_format_round_trip(tmp_path: pathlib.Path) -> None:
    model = _randomise(create_model("test-tiny"))
    save_checkpoint(model, tmp_path / "ck", source={"kind": "test"})
    loaded, meta = load_checkpoint(tmp_path / "ck")
    _assert_same(_outputs(model), _outputs(loaded))
    assert meta["source"] == {"kind": "test"}


def test_half_checkpoint_loads_as_fp32(tmp_path: pathlib.Path) -> None:
    model = _randomise(create_model("test-tiny"))
    save_checkpoint(model, tmp_path / "ck", half=True)
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert next(loaded.parameters()).dtype == torch.float32
    a, b = _outputs(model), _outputs(loaded)
    assert torch.allclose(a["image"], b["image"], atol=5e-3)


def test_edited_weights_newer_format_and_missing_file_are_refused(tmp_path: pathlib.Path) -> None:
    save_checkpoint(create_model("test-tiny"), tmp_path / "ck")
    weights = tmp_path / "ck" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_checkpoint(tmp_path / "ck")
    meta = json.loads((tmp_path / "ck" / "meta.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "ck" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "vocab.txt").unlink()
    with pytest.raises(CheckpointError, match=r"missing vocab\.txt"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("layout", ["pretrain", "finetune"])
def test_official_names_follow_the_spec(layout: str) -> None:
    model = create_model("test-tiny-swin")
    official = to_official(model, layout)
    expected = official_key_shapes(model, layout)
    assert sorted(official) == sorted(expected)
    wrong = {k: (tuple(v.shape), expected[k]) for k, v in official.items() if tuple(v.shape) != expected[k]}
    assert not wrong


@pytest.mark.parametrize(("layout", "wrapped"), [("pretrain", True), ("finetune", False)])
def test_official_checkpoint_round_trip(tmp_path: pathlib.Path, layout: str, wrapped: bool) -> None:
    source = _randomise(create_model("test-tiny-swin"))
    if layout == "finetune":  # retrieval checkpoints carry neither MLM nor box head
        source = _randomise(create_model("test-tiny-swin", mlm_head=False, box_head=False))
    state = to_official(source, layout)
    path = tmp_path / "ckpt.th"
    torch.save({"model": state, "config": {"image_res": 64}} if wrapped else state, path)
    imported, report = import_official(path, "test-tiny-swin", tmp_path / "ours")
    assert report.layout == layout and not report.missing and not report.unexpected
    assert imported.cfg.box_head == (layout == "pretrain") and imported.cfg.mlm_head == (layout == "pretrain")
    _assert_same(_outputs(source), _outputs(imported))
    reloaded, meta = load_checkpoint(tmp_path / "ours")
    _assert_same(_outputs(source), _outputs(reloaded))
    assert meta["source"]["layout"] == layout


def test_resolution_change_resizes_relative_position_tables(tmp_path: pathlib.Path) -> None:
    source = create_model(
        "test-tiny-swin",
        **{
            "vision.trunk_kwargs": {
                "embed_dim": 8,
                "depths": [2, 2, 2, 2],
                "num_heads": [1, 1, 2, 2],
                "window_size": 2,
            }
        },
    )
    torch.save({"model": to_official(source, "pretrain")}, tmp_path / "w2.th")
    model, report = import_official(tmp_path / "w2.th", "test-tiny-swin")
    assert any("resized" in note for note in report.notes)
    assert model.vision_encoder.trunk.layers[0].blocks[0].attn.relative_position_bias_table.shape[0] == 49


def test_missing_weight_is_named(tmp_path: pathlib.Path) -> None:
    state = to_official(create_model("test-tiny-swin"), "pretrain")
    del state["text_encoder.bert.encoder.layer.3.crossattention.self.key.weight"]
    torch.save(state, tmp_path / "broken.th")
    with pytest.raises(CheckpointError, match=r"fusion_encoder\.layer\.1\.crossattention\.self\.key\.weight"):
        import_official(tmp_path / "broken.th", "test-tiny-swin")


def test_wrong_config_is_refused_with_shapes(tmp_path: pathlib.Path) -> None:
    torch.save(to_official(create_model("test-tiny-swin"), "pretrain"), tmp_path / "swin.th")
    with pytest.raises(CheckpointError):
        import_official(tmp_path / "swin.th", "test-tiny")


class _RunsCodeOnLoad:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "code-ran"
    state = to_official(create_model("test-tiny-swin"), "pretrain")
    torch.save({"model": state, "payload": _RunsCodeOnLoad(marker)}, tmp_path / "evil.th")
    with pytest.raises(CheckpointError, match="refused"):
        import_official(tmp_path / "evil.th", "test-tiny-swin")
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.th").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        import_official(tmp_path / "x.th", "test-tiny-swin")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "y.th")
    with pytest.raises(CheckpointError, match="not an X-VLM checkpoint"):
        import_official(tmp_path / "y.th", "test-tiny-swin")


@pytest.mark.slow
@pytest.mark.parametrize(("config", "layout"), [("xvlm-base-224", "pretrain"), ("xvlm-base-384", "finetune")])
def test_full_size_official_names_and_shapes(tmp_path: pathlib.Path, config: str, layout: str) -> None:
    heads = {"mlm_head": False, "box_head": False} if layout == "finetune" else {}
    model = create_model(config, **heads)
    official = to_official(model, layout)
    expected = official_key_shapes(model, layout)
    assert sorted(official) == sorted(expected)
    assert all(tuple(v.shape) == expected[k] for k, v in official.items())
    # spot checks straight from the spec's text (section 6.3)
    te = "text_encoder.bert." if layout == "pretrain" else "text_encoder."
    window = 7 if config.endswith("224") else 12
    assert expected["vision_encoder.layers.2.blocks.17.attn.relative_position_bias_table"] == (
        (2 * window - 1) ** 2,
        16,
    )
    assert expected[f"{te}encoder.layer.11.crossattention.self.key.weight"] == (768, 1024)
    assert expected["vision_encoder.layers.0.downsample.reduction.weight"] == (256, 512)
    torch.save({"model": official}, tmp_path / "full.th")
    imported, report = import_official(tmp_path / "full.th", config)
    assert not report.missing and not report.unexpected
    _assert_same(_outputs(model.eval()), _outputs(imported))


def test_pack_writes_a_half_precision_copy(tmp_path: pathlib.Path) -> None:
    from cli.main import main

    model = _randomise(create_model("test-tiny"))
    save_checkpoint(model, tmp_path / "ck", source={"kind": "training", "step": 7})
    assert main(["pack", str(tmp_path / "ck"), str(tmp_path / "packed"), "--half"]) == 0
    packed, meta = load_checkpoint(tmp_path / "packed")
    assert meta["dtype"] == "float16" and meta["source"]["step"] == 7
    assert (tmp_path / "packed" / "model.safetensors").stat().st_size < (
        tmp_path / "ck" / "model.safetensors"
    ).stat().st_size
    assert torch.allclose(_outputs(model)["image"], _outputs(packed)["image"], atol=5e-3)
    assert main(["pack", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
