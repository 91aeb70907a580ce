"""ONNX Runtime against the torch model: fp32 exactly, int8 and fp16 within their documented drift.

The graphs are traced at batch 2; every comparison here runs at other batch sizes (1, 3, 5, 7).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from trained_like import randomised

from engine.model.xvlm import XVLM
from export.bundle import load_bundle
from export.onnx_export import TRACE_BATCH
from export.parity import compare, measure_drift, random_inputs, real_inputs, runtime_outputs, torch_outputs
from export.runtime import Runtime

FP32_LIMIT = 1e-4
JUDGED = ("image_embed", "text_embed", "region_embed", "itm_logit", "box")


def test_fp32_matches_torch_at_other_batch_sizes(fp32_bundle: pathlib.Path, tiny_model: XVLM) -> None:
    runtime = Runtime(fp32_bundle, providers="cpu")
    for inp in (
        random_inputs(runtime, batch=3),
        real_inputs(runtime, batch=5),
        random_inputs(runtime, batch=1, seed=4),
    ):
        assert len(inp.images) != TRACE_BATCH
        metrics = compare(torch_outputs(tiny_model, inp), runtime_outputs(runtime, inp), inp.mask)
        for key in JUDGED:
            assert metrics[key]["max_abs"] <= FP32_LIMIT, (inp.kind, key, metrics[key])
        assert metrics["image_tokens"]["max_abs"] < 1e-3 and metrics["text_hidden"]["max_abs"] < 1e-3


def test_region_embeddings_match_encode_concepts(fp32_bundle: pathlib.Path, tiny_model: XVLM) -> None:
    runtime = Runtime(fp32_bundle, providers="cpu")
    rng = np.random.default_rng(3)
    images = rng.normal(size=(7, 3, 64, 64)).astype(np.float32)
    boxes = rng.uniform(0, 0.6, (7, 6, 4))
    _, tokens = runtime.encode_images(images)
    got = runtime.encode_regions(tokens, boxes)
    with torch.no_grad():
        t = tiny_model.encode_image(torch.from_numpy(images)).tokens.repeat_interleave(6, dim=0)
        expected = tiny_model.encode_concepts(t, boxes=torch.from_numpy(boxes.reshape(-1, 4) * 64))[2]
    assert np.abs(got.reshape(42, -1) - expected.numpy()).max() <= FP32_LIMIT
    assert runtime.encode_regions(tokens, np.zeros((7, 0, 4))).shape == (7, 0, runtime.embed_dim)


def test_fp32_manifest_records_passing_drift(fp32_bundle: pathlib.Path) -> None:
    drift = json.loads((fp32_bundle / "manifest.json").read_text())["drift"]
    assert drift["pass"] and set(drift["inputs"]) == {"random", "real", "named"}
    for block in drift["inputs"].values():
        assert block["batch"] != TRACE_BATCH
    for kind in ("random", "real"):
        assert drift["inputs"][kind]["metrics"]["image_embed"]["max_abs"] <= FP32_LIMIT
    assert drift["inputs"]["named"]["metrics"]["named_text_embed"]["max_abs"] <= FP32_LIMIT


def test_int8_embeddings_keep_cosine(int8_bundle: pathlib.Path, tiny_model: XVLM) -> None:
    runtime = Runtime(int8_bundle, providers="cpu")
    manifest = runtime.manifest
    assert manifest["variant"] == "int8" and manifest["quantization"]["op_types"] == ["MatMul", "Gather"]
    graphs = manifest["quantization"]["graphs"]
    assert graphs["vision"]["quantized_nodes"] > 0
    # BERT's word, position and token-type tables are stored int8; the image trunk has no table.
    assert (
        graphs["text"]["quantized_embedding_tables"] == 3
        and graphs["vision"]["quantized_embedding_tables"] == 0
    )
    for inp in (random_inputs(runtime, batch=3), real_inputs(runtime, batch=5)):
        metrics = compare(torch_outputs(tiny_model, inp), runtime_outputs(runtime, inp), inp.mask)
        for key in ("image_embed", "text_embed", "region_embed"):
            assert metrics[key]["cosine_min"] >= 0.99, (inp.kind, key, metrics[key])
        assert metrics["box"]["max_abs"] <= 0.05 and metrics["itm_logit"]["max_abs"] <= 0.5
    assert manifest["drift"]["pass"]


def test_fp16_graphs_keep_float32_io_and_cosine(fp16_bundle: pathlib.Path, tiny_model: XVLM) -> None:
    # fp16 is meant for CUDA; onnxruntime's CPU kernels run it too, slowly, which is enough for parity.
    import onnx

    model = onnx.load(str(fp16_bundle / "vision.onnx"))
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.FLOAT}
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    drift = measure_drift(tiny_model, Runtime(fp16_bundle, providers="cpu"), "fp16")
    assert drift["pass"], drift["failures"]


@pytest.mark.slow
def test_swin_fp32_and_int8_match_torch(tmp_path: pathlib.Path) -> None:
    """Swin: fixed image size, batch dynamic (window partition reshapes must not bake in the batch)."""
    from engine.checkpoint import save_checkpoint
    from export.build import export_bundle

    model = randomised("test-tiny-swin")
    ckpt = save_checkpoint(model, tmp_path / "ckpt")
    fp32 = export_bundle(ckpt, tmp_path / "fp32", "fp32", model=model, log=lambda _: None)
    int8 = export_bundle(
        ckpt, tmp_path / "int8", "int8", model=model, fp32_graphs=tmp_path / "fp32", log=lambda _: None
    )
    assert fp32["drift"]["pass"] and int8["drift"]["pass"]
    runtime = Runtime(tmp_path / "fp32", providers="cpu")
    inp = random_inputs(runtime, batch=7, seed=9)
    metrics = compare(torch_outputs(model, inp), runtime_outputs(runtime, inp), inp.mask)
    assert all(metrics[k]["max_abs"] <= FP32_LIMIT for k in JUDGED), metrics
    assert load_bundle(tmp_path / "int8").manifest["token_grid"]["grid"] == 2
