"""The runtime's numpy preprocessing against the engine's EvalTransform, on real files of every mode."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

from engine.config import load_config
from engine.data.transforms import EvalTransform
from export.preprocess import Preprocess


def _scene(width: int, height: int, seed: int) -> np.ndarray:
    # Smooth gradients plus noise and a hard edge: bicubic resampling sees every kind of content.
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / max(width - 1, 1), yy * 255 / max(height - 1, 1), (xx + yy) % 256], -1)
    base[: height // 2, : width // 3] = (250, 10, 10)
    return (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)


def _write_files(root: pathlib.Path) -> list[pathlib.Path]:
    files = []

    def save(image: Image.Image, name: str, **kwargs: object) -> None:
        path = root / name
        image.save(path, **kwargs)
        files.append(path)

    save(Image.fromarray(_scene(53, 37, 0)), "rgb_odd.jpg", quality=90)
    save(Image.fromarray(_scene(1001, 643, 1)), "rgb_large.jpg", quality=85)  # strong downscale
    save(Image.fromarray(_scene(7, 300, 2)), "rgb_thin.png")
    save(Image.fromarray(_scene(1, 1, 3)), "one_pixel.png")
    rgba = np.dstack([_scene(61, 29, 4), np.linspace(0, 255, 61 * 29).reshape(29, 61).astype(np.uint8)])
    save(Image.fromarray(rgba, "RGBA"), "rgba.png")
    save(Image.fromarray(_scene(17, 101, 5)[..., 0]), "grey.png")
    palette = Image.fromarray(_scene(45, 33, 6)).quantize(colors=16)
    palette.info["transparency"] = 0
    save(palette, "palette_transparent.png", transparency=0)
    save(Image.fromarray(_scene(77, 51, 7)).convert("CMYK"), "cmyk.jpg", quality=92)
    sixteen = (np.add.outer(np.arange(43), np.arange(59)) * 97).astype(np.uint16)
    save(Image.fromarray(sixteen), "sixteen_bit.png")
    return files


@pytest.mark.parametrize("config", ["test-tiny", "demo"])
def test_preprocess_matches_eval_transform(tmp_path: pathlib.Path, config: str) -> None:
    cfg = load_config(config)
    size = cfg.vision.image_size
    ours = Preprocess(size, cfg.image_mean, cfg.image_std)
    engine = EvalTransform(size, cfg.image_mean, cfg.image_std)
    files = _write_files(tmp_path)
    modes = set()
    for path in files:
        with Image.open(path) as image:
            modes.add(image.mode)
            expected = engine(image).numpy()
            got = ours([image])[0]
        assert got.dtype == np.float32 and got.shape == (3, size, size)
        assert np.abs(got - expected).max() <= 1e-5, path.name
    assert {"RGB", "RGBA", "L", "P", "CMYK", "I;16"} <= modes, modes


def test_preprocess_batches_keep_order(tmp_path: pathlib.Path) -> None:
    cfg = load_config("test-tiny")
    ours = Preprocess(64, cfg.image_mean, cfg.image_std)
    images = [Image.fromarray(_scene(30 + i, 20 + 2 * i, i)) for i in range(4)]
    batch = ours(images)
    for i, image in enumerate(images):
        np.testing.assert_array_equal(batch[i], ours.one(image))
