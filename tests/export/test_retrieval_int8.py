"""int8 against fp32 on the demo retrieval split: the quantised bundle must rank (almost) as well.

Needs a trained demo checkpoint (``models/demo`` or ``runs/demo3/final``, or the directory named by
MULTIGRAIN_DEMO_CHECKPOINT); skipped otherwise. Random weights would make R@1 meaningless.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from core.records import read_retrieval_eval
from engine.evaluate import recall_metrics
from export.runtime import Runtime

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEST = ROOT / "data/world/retrieval/test.json"


def _demo_checkpoint() -> pathlib.Path | None:
    env = os.environ.get("MULTIGRAIN_DEMO_CHECKPOINT")
    candidates = [pathlib.Path(env)] if env else [ROOT / "models/demo", ROOT / "runs/demo3/final"]
    return next((c for c in candidates if (c / "model.safetensors").is_file()), None)


def _itc_recall(
    runtime: Runtime, records: list, texts: list[str], txt2img: np.ndarray, img2txt: list
) -> dict:
    embeds = []
    for start in range(0, len(records), 32):
        images = []
        for rec in records[start : start + 32]:
            with Image.open(rec.image) as image:
                images.append(image.convert("RGB"))
        embeds.append(runtime.encode_images(images, batch_size=32)[0])
    image_embed = np.concatenate(embeds)
    text_embed = runtime.encode_texts(texts, batch_size=128)[0]
    sims = image_embed @ text_embed.T
    return recall_metrics(sims, sims.T, img2txt, txt2img)


@pytest.mark.slow
def test_int8_recall_within_two_points_of_fp32(tmp_path: pathlib.Path) -> None:
    ckpt = _demo_checkpoint()
    if ckpt is None or not TEST.is_file():
        pytest.skip("no trained demo checkpoint (models/demo, runs/demo3/final) or no data/world test split")
    from export.build import export_bundle

    export_bundle(ckpt, tmp_path / "fp32", "fp32", log=print)
    export_bundle(ckpt, tmp_path / "int8", "int8", fp32_graphs=tmp_path / "fp32", log=print)
    records = read_retrieval_eval(TEST, ROOT / "data/world")
    texts, txt2img, img2txt = [], [], []
    for i, rec in enumerate(records):
        img2txt.append(list(range(len(texts), len(texts) + len(rec.captions))))
        texts += rec.captions
        txt2img += [i] * len(rec.captions)
    scores = {
        variant: _itc_recall(
            Runtime(tmp_path / variant, providers="cpu"), records, texts, np.array(txt2img), img2txt
        )
        for variant in ("fp32", "int8")
    }
    print({v: {k: round(m[k], 2) for k in ("txt_r1", "img_r1", "r_mean")} for v, m in scores.items()})
    for key in ("txt_r1", "img_r1"):
        assert abs(scores["int8"][key] - scores["fp32"][key]) <= 2.0, (key, scores)
