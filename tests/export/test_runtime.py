"""The torch-free runtime: no torch import, lazy sessions, batching, pairing, providers."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from core.errors import KnownError
from export.bundle import write_manifest
from export.runtime import CUDA, ProviderError, Runtime, resolve_providers

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(n)
    return [Image.fromarray(rng.integers(0, 255, (40 + i, 50 + 3 * i, 3), dtype=np.uint8)) for i in range(n)]


def test_runtime_never_imports_torch(fp32_bundle: pathlib.Path) -> None:
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        attempts = []

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "torchvision"):
                    attempts.append(name)
                    raise ImportError(f"torch is not allowed in the runtime ({{name}})")
                return None

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        from PIL import Image
        from export.runtime import Runtime

        rt = Runtime({str(fp32_bundle)!r}, providers="cpu")
        photos = [Image.new("RGB", (50, 31), (200, 30, 30)), Image.new("L", (9, 70))]
        embeds, tokens = rt.encode_images(photos)
        regions = rt.encode_regions(tokens, np.array([[[0.1, 0.1, 0.5, 0.5]]] * 2))
        text, hidden, mask = rt.encode_texts(["a red square", ""])
        scores = rt.itm_scores(hidden, mask, tokens)
        boxes = rt.predict_boxes(hidden[:1], mask[:1], tokens)
        assert embeds.shape[0] == 2 and regions.shape[:2] == (2, 1) and scores.shape == (2,)
        assert boxes.shape == (2, 4)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
        assert not loaded, loaded
        assert not attempts, attempts
        print("torch-free ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch-free ok" in result.stdout


def test_sessions_are_created_lazily_with_the_chosen_threads(fp32_bundle: pathlib.Path) -> None:
    rt = Runtime(fp32_bundle, providers="cpu", threads=1)
    assert rt._sessions == {}
    rt.encode_texts(["a dog"])
    assert set(rt._sessions) == {"text"}
    assert rt.session("text").get_session_options().intra_op_num_threads == 1
    assert rt.providers == ["CPUExecutionProvider"]
    assert rt.embed_dim == 16 and rt.image_size == 64 and rt.identity == rt.manifest["identity"]


def test_batching_does_not_change_results(fp32_bundle: pathlib.Path) -> None:
    rt = Runtime(fp32_bundle, providers="cpu")
    images = _images(5)
    e1, t1 = rt.encode_images(images, batch_size=2)
    e2, t2 = rt.encode_images(rt.preprocess(images), batch_size=16)
    np.testing.assert_allclose(e1, e2, atol=1e-6)
    np.testing.assert_allclose(t1, t2, atol=1e-5)
    texts = ["a dog", "a very long caption about a red car parked next to a tree on a sunny day", "x"]
    a, ha, ma = rt.encode_texts(texts, batch_size=1)
    b, hb, mb = rt.encode_texts(texts, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(ma, mb)
    np.testing.assert_allclose(ha * ma[..., None], hb * mb[..., None], atol=1e-5)
    assert ha.shape == (3, rt.max_tokens, 32)
    empty_e, empty_t = rt.encode_images([])
    assert empty_e.shape == (0, 16) and empty_t.shape == (0, 17, 32)


def test_one_text_pairs_with_many_images(fp32_bundle: pathlib.Path) -> None:
    rt = Runtime(fp32_bundle, providers="cpu")
    _, tokens = rt.encode_images(_images(3))
    _, hidden, mask = rt.encode_texts(["a red square on the left"])
    broadcast = rt.itm_scores(hidden, mask, tokens)
    repeated = rt.itm_scores(np.repeat(hidden, 3, 0), np.repeat(mask, 3, 0), tokens, batch_size=2)
    np.testing.assert_allclose(broadcast, repeated, atol=1e-6)
    boxes = rt.predict_boxes(hidden, mask, tokens)
    assert boxes.shape == (3, 4) and (boxes >= 0).all() and (boxes <= 1).all()
    with pytest.raises(ValueError, match="cannot pair 2 texts with 3 images"):
        rt.itm_scores(np.repeat(hidden, 2, 0), np.repeat(mask, 2, 0), tokens)


def test_a_bundle_without_box_head_says_so(fp32_bundle: pathlib.Path, tmp_path: pathlib.Path) -> None:
    bundle = pathlib.Path(shutil.copytree(fp32_bundle, tmp_path / "nobox"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "box.onnx").unlink()
    del manifest["graphs"]["box"]
    fields = {
        k: v for k, v in manifest.items() if k not in ("format_version", "identity", "files", "created")
    }
    write_manifest(bundle, fields)
    rt = Runtime(bundle, providers="cpu")
    assert not rt.has_box_head
    _, tokens = rt.encode_images(_images(1))
    _, hidden, mask = rt.encode_texts(["a dog"])
    with pytest.raises(KnownError, match="has no box head"):
        rt.predict_boxes(hidden, mask, tokens)


def test_provider_requests() -> None:
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        resolve_providers("tpu")


def test_cuda_request_fails_in_words_without_a_gpu(fp32_bundle: pathlib.Path) -> None:
    if CUDA in resolve_providers("auto"):
        pytest.skip("a CUDA device is present")
    try:
        rt = Runtime(fp32_bundle, providers="cuda")
    except ProviderError:
        return  # onnxruntime without a CUDA provider: refused at once
    with pytest.raises(ProviderError, match="CUDA was requested"):
        rt.encode_texts(["a dog"])
