"""Record readers, image+box transforms and collation."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.records import (
    RecordError,
    read_grounding,
    read_image_text,
    read_regions,
    read_retrieval_eval,
)
from core.text import Tokenizer
from engine.config import load_config
from engine.data.batch import Collator, TextSample
from engine.data.transforms import (
    TrainTransform,
    clip_box_to_crop,
    crop_containing,
    flip_box,
    swap_left_right,
)


def _jpeg(w: int = 50, h: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def test_xvlm_record_formats_read_unchanged(tmp_path: Path) -> None:
    (tmp_path / "img.jpg").write_bytes(_jpeg())
    lines = [
        {"image_rpath": str(tmp_path / "img.jpg"), "caption": "a red square"},
        {"binary": base64.b64encode(_jpeg()).decode(), "caption": ["one", "two"]},
    ]
    (tmp_path / "it.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    pairs = read_image_text(tmp_path / "it.jsonl")
    assert [p.captions for p in pairs] == [["a red square"], ["one", "two"]]
    assert isinstance(pairs[1].image, bytes)
    region = {
        "image_rpath": "img.jpg",
        "caption": "a picture",
        "elems": [
            {"caption": "window", "bb": [1, 2, 10, 10], "attributes": ["closed"]},
            {"caption": "bad", "bb": [1, 2, 0, 10]},  # w = 0: skipped as X-VLM does
        ],
    }
    (tmp_path / "r.jsonl").write_text(json.dumps(region) + "\n")
    rec = read_regions(tmp_path / "r.jsonl")[0]
    assert rec.image == str(tmp_path / "img.jpg")
    assert [e.captions for e in rec.elems] == [["window"]] and rec.elems[0].attributes == ["closed"]
    (tmp_path / "test.json").write_text(json.dumps([{"image": "img.jpg", "caption": ["a", "b"]}]))
    assert read_retrieval_eval(tmp_path / "test.json")[0].captions == ["a", "b"]
    (tmp_path / "g.json").write_text(json.dumps([{"image": "img.jpg", "text": "x", "ref_id": 3}]))
    with pytest.raises(RecordError, match="bbox"):
        read_grounding(tmp_path / "g.json")
    (tmp_path / "broken.jsonl").write_text('{"caption": "ok", "image": "a.jpg"}\n{not json\n')
    with pytest.raises(RecordError, match=r"broken\.jsonl:2"):
        read_image_text(tmp_path / "broken.jsonl")


def test_left_right_swap_is_whole_word() -> None:
    assert (
        swap_left_right("the dog left of the car, rightmost cup") == "the dog right of the car, leftmost cup"
    )
    assert swap_left_right("bright light") == "bright light"


def test_crop_keeps_its_box_and_boxes_follow_crop_flip_and_resize() -> None:
    rng = np.random.default_rng(0)
    box = (30.0, 40.0, 20.0, 10.0)
    for _ in range(200):
        left, top, w, h = crop_containing(100, 80, box, rng)
        assert left <= 30 and top <= 40 and left + w >= 50 and top + h >= 50
    assert clip_box_to_crop((0, 0, 10, 10), (5, 0, 50, 50)) is None, "half the area lost -> dropped"
    assert clip_box_to_crop((0, 0, 10, 10), (2, 0, 50, 50)) == (0, 0, 8, 10)
    assert flip_box((10, 5, 20, 5), 100) == (70, 5, 20, 5)

    # An image whose only red pixels are the box: after any transform, the box still covers them.
    image = Image.new("RGB", (120, 90), (0, 0, 0))
    image.paste((255, 0, 0), (60, 30, 90, 60))
    cfg = load_config("test-tiny")
    transform = TrainTransform(64, cfg.image_mean, cfg.image_std, augment=False)
    for seed in range(20):
        tensor, boxes, _ = transform(image, [(60, 30, 30, 30)], np.random.default_rng(seed), keep_box=0)
        x, y, w, h = boxes[0]
        red = (tensor[0] > 1.0) & (tensor[1] < 0)
        ys, xs = np.nonzero(red.numpy())
        assert (
            xs.min() >= x - 1.5
            and xs.max() <= x + w + 0.5
            and ys.min() >= y - 1.5
            and ys.max() <= y + h + 0.5
        )


def test_collator_builds_the_batch_contract() -> None:
    cfg = load_config("test-tiny")
    collator = Collator(cfg, Tokenizer(max_tokens=cfg.text.max_tokens), mlm=True)
    images = [np.zeros((3, 64, 64), dtype=np.float32)] * 2
    import torch

    texts = [
        TextSample("A dog, on the left!", None, 0, identity=5),
        TextSample("the small dog", (0.0, 0.0, 16.0, 16.0), 1, identity=6, has_box_target=True),
    ]
    batch = collator([torch.from_numpy(i) for i in images], texts, np.random.default_rng(0))
    assert batch["text_ids"][0, 0] == 101 and 102 not in batch["text_ids"]
    assert batch["patch_mask"][0].all() and batch["patch_mask"][1].sum() == 2
    assert batch["box_valid"].tolist() == [False, True]
    assert torch.allclose(batch["box_target"][1], torch.tensor([0.125, 0.125, 0.25, 0.25]))
    assert batch["idx"].tolist() == [5, 6]
    assert (batch["mlm_labels"] != -100).sum() >= 2
