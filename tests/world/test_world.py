"""The synthetic world generator: determinism, record formats, and that its text is true of its images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tree_hashes import tree_hashes

from world import generate_world
from world import sprites as sprites_mod
from world.backgrounds import BACKGROUNDS
from world.captions import groups, salience_order
from world.catalogue import COLOURS, KIND_BY_NAME, KINDS
from world.degrade import encode_jpeg
from world.generate import split_sizes
from world.geometry import centre, position_words
from world.hsv import dominant_hue, hue_distance, rgb_to_hsv
from world.language import NUMBER_WORDS
from world.layout import MIN_VISIBLE, image_size, place_objects, plan_objects
from world.scene import build_scene, scene_rngs
from world.writer import MIN_REFERENT_AREA

N = 24
SEED = 11


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world_a")
    calls: list[tuple[int, int]] = []
    summary = generate_world(out, N, SEED, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (N, N) and len(calls) == N
    assert summary["splits"] == {"train": 21, "val": 1, "test": 2}
    assert summary["captions"] == 5 * N
    return out


@pytest.fixture(scope="module")
def scenes() -> list:
    return [build_scene(SEED, i) for i in range(80)]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_same_seed_same_bytes_also_with_workers(world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path / "b", N, SEED, workers=2)
    generate_world(tmp_path / "c", N, SEED + 1)
    a, b, c = tree_hashes(world), tree_hashes(tmp_path / "b"), tree_hashes(tmp_path / "c")
    assert len(a) >= N + 9
    assert a == b
    assert a.keys() == c.keys()
    differing = [k for k in a if a[k] != c[k]]
    assert len(differing) > N  # every image and every record file changes with the seed


def test_split_sizes() -> None:
    assert split_sizes(20000, None, None) == {"train": 18500, "val": 500, "test": 1000}
    assert split_sizes(20, None, None) == {"train": 17, "val": 1, "test": 2}
    assert split_sizes(5, None, None)["val"] == 0
    assert split_sizes(100, 10, 0) == {"train": 90, "val": 0, "test": 10}
    with pytest.raises(ValueError):
        split_sizes(10, 8, 8)


def test_catalogue() -> None:
    assert len(KINDS) >= 40 and len(BACKGROUNDS) >= 8
    assert len({k.name for k in KINDS}) == len(KINDS)
    assert len({k.emoji for k in KINDS}) == len(KINDS)
    assert len({k.category for k in KINDS}) >= 6
    for k in KINDS:
        assert not set(k.name.split()) & set(COLOURS), k.name
    assert {"car", "ball", "balloon", "umbrella", "shirt"} <= {k.name for k in KINDS if k.colourable}
    assert not KIND_BY_NAME["dog"].colourable and not KIND_BY_NAME["banana"].colourable


def test_formats(world: Path) -> None:
    meta = json.loads((world / "world.json").read_text())
    assert meta["seed"] == SEED and meta["n"] == N and len(meta["kinds"]) == len(KINDS)
    assert meta["splits"] == {"train": 21, "val": 1, "test": 2}

    image_text = _jsonl(world / "pretrain" / "image_text.jsonl")
    regions = _jsonl(world / "pretrain" / "regions.jsonl")
    assert len(image_text) == len(regions) == 21
    for rec in image_text:
        assert set(rec) == {"image_rpath", "caption", "image_id"}
        assert rec["image_rpath"].startswith("images/train/") and len(rec["caption"]) == 5
    for rec in regions:
        assert {"image_rpath", "image_id", "width", "height", "caption", "elems"} <= set(rec)
        with Image.open(world / rec["image_rpath"]) as im:
            assert im.format == "JPEG" and im.size == (rec["width"], rec["height"])
            assert 256 <= im.width <= 448 and 256 <= im.height <= 448
        kinds = {e["kind"] for e in rec["elems"]}
        assert kinds <= {"object", "region"} and "object" in kinds
        for e in rec["elems"]:
            assert isinstance(e["caption"], str) and e["caption"]
            if "attributes" in e:
                assert e["attributes"] and all(isinstance(a, str) and a for a in e["attributes"])
            if e["kind"] == "object":
                assert e["caption"] in KIND_BY_NAME

    train = json.loads((world / "retrieval" / "train.json").read_text())
    assert len(train) == 5 * 21 and set(train[0]) == {"image", "caption", "image_id"}
    for split, count in (("val", 1), ("test", 2)):
        entries = json.loads((world / "retrieval" / f"{split}.json").read_text())
        assert len(entries) == count
        for e in entries:
            assert set(e) == {"image", "caption"} and len(e["caption"]) == 5
            assert e["image"].startswith(f"images/{split}/") and (world / e["image"]).is_file()
        objects = json.loads((world / "objects" / f"{split}.json").read_text())
        assert [o["image"] for o in objects] == [e["image"] for e in entries]
        for o in objects:
            assert o["background"] in {b.name for b in BACKGROUNDS}
            for obj in o["objects"]:
                assert {"kind", "colour", "size", "bb"} <= set(obj) and obj["kind"] in KIND_BY_NAME
                assert obj["size"] in ("small", "medium", "large")
                assert (obj["colour"] is None) == (not KIND_BY_NAME[obj["kind"]].colourable)
    ref_ids = set()
    for split in ("train", "val", "test"):
        for g in json.loads((world / "grounding" / f"{split}.json").read_text()):
            assert {"image", "text", "ref_id", "bbox", "width", "height"} <= set(g)
            assert g["image"].startswith(f"images/{split}/")
            assert g["ref_id"] not in ref_ids
            ref_ids.add(g["ref_id"])
    assert len(ref_ids) >= N


def _inside(bb: list[int], w: int, h: int) -> bool:
    x, y, bw, bh = bb
    return (
        all(isinstance(v, int) for v in bb)
        and x >= 0
        and y >= 0
        and bw > 0
        and bh > 0
        and x + bw <= w
        and y + bh <= h
    )


def test_boxes_inside_images(world: Path) -> None:
    for rec in _jsonl(world / "pretrain" / "regions.jsonl"):
        for e in rec["elems"]:
            assert _inside(e["bb"], rec["width"], rec["height"]), e
    for split in ("train", "val", "test"):
        for g in json.loads((world / "grounding" / f"{split}.json").read_text()):
            assert _inside(g["bbox"], g["width"], g["height"]), g
    for split in ("val", "test"):
        for o in json.loads((world / "objects" / f"{split}.json").read_text()):
            for obj in o["objects"]:
                assert _inside(obj["bb"], o["width"], o["height"])


def test_grounding_split_keeps_pointable_referents_and_pretraining_keeps_the_rest(world: Path) -> None:
    area = {
        split: [
            g["bbox"][2] * g["bbox"][3] / (g["width"] * g["height"])
            for g in json.loads((world / "grounding" / f"{split}.json").read_text())
        ]
        for split in ("train", "val", "test")
    }
    assert min(min(a) for a in area.values()) >= MIN_REFERENT_AREA
    region_areas = [
        e["bb"][2] * e["bb"][3] / (rec["width"] * rec["height"])
        for rec in _jsonl(world / "pretrain" / "regions.jsonl")
        for e in rec["elems"]
        if e["kind"] == "region"
    ]
    small = sum(a < MIN_REFERENT_AREA for a in region_areas)
    assert 0 < small < len(region_areas), "pre-training must still describe the small objects"
    assert len(area["train"]) >= 2 * N


def test_min_referent_area_zero_keeps_every_expression_and_changes_nothing_else(
    world: Path, tmp_path: Path
) -> None:
    generate_world(tmp_path / "all", N, SEED, min_referent_area=0.0)
    a, b = tree_hashes(world), tree_hashes(tmp_path / "all")
    assert {k for k in a if a[k] != b[k]} == {f"grounding/{s}.json" for s in ("train", "val", "test")} | {
        "world.json"
    }
    every = json.loads((tmp_path / "all" / "grounding" / "train.json").read_text())
    kept = json.loads((world / "grounding" / "train.json").read_text())
    small = [g for g in every if g["bbox"][2] * g["bbox"][3] < MIN_REFERENT_AREA * g["width"] * g["height"]]
    assert small and [g for g in every if g not in small] == kept
    with pytest.raises(ValueError, match="share of the image"):
        generate_world(tmp_path / "bad", 2, SEED, min_referent_area=1.5)


def test_scenes_command_names_a_bad_argument_in_one_line_and_lets_bugs_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import main
    from world import generate as generate_mod

    assert main(["scenes", "--out", str(tmp_path / "w"), "--n", "5", "--min-referent-area", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("multigrain scenes: min_referent_area") and err.count("\n") == 1

    def broken(*args: object, **kwargs: object) -> None:  # a bug deep in the generator, not bad input
        raise ValueError("left of")

    monkeypatch.setattr(generate_mod, "build_scene", broken)
    with pytest.raises(ValueError, match="left of"):
        main(["scenes", "--out", str(tmp_path / "w2"), "--n", "2", "--workers", "1"])


def test_boxes_are_tight_and_objects_mostly_visible() -> None:
    for index in range(40):
        layout_rng, _, _ = scene_rngs(SEED, index)
        w, h = image_size(layout_rng)
        layout_rng.integers(len(BACKGROUNDS))
        placed, owner = place_objects(layout_rng, plan_objects(layout_rng, w, h), w, h)
        scene = build_scene(SEED, index)
        assert np.array_equal(owner, scene.owner)
        for k, (p, obj) in enumerate(zip(placed, scene.facts.objects, strict=True)):
            visible = owner == k
            assert visible.sum() >= MIN_VISIBLE * (p.patch[..., 3] >= 128).sum()
            x, y, bw, bh = obj.box
            assert visible[y : y + bh, x : x + bw].sum() == visible.sum()  # box holds every visible pixel
            assert visible[y, x : x + bw].any() and visible[y + bh - 1, x : x + bw].any()  # and is tight
            assert visible[y : y + bh, x].any() and visible[y : y + bh, x + bw - 1].any()


def test_small_objects_are_common(scenes: list) -> None:
    objs = [(o, s.facts.width) for s in scenes for o in s.facts.objects]
    small = [o for o, w in objs if o.box[2] <= 0.16 * w and o.size == "small"]
    assert len(small) >= 0.25 * len(objs)
    assert min(len(s.facts.objects) for s in scenes) >= 1 and max(len(s.facts.objects) for s in scenes) <= 6


def test_relations_and_positions_are_true(scenes: list) -> None:
    checked = {"relation": 0, "position": 0, "rank": 0}
    for s in scenes:
        objs = s.facts.objects
        for e in [x for per in s.expressions for x in per] + s.pairs:
            sx, sy = centre(objs[e.subject].box)
            if e.relation in ("left of", "right of", "above", "below"):
                ax, ay = centre(objs[e.anchor].box)
                assert {"left of": sx < ax, "right of": sx > ax, "above": sy < ay, "below": sy > ay}[
                    e.relation
                ]
                words = {
                    "left of": ["left of"],
                    "right of": ["right of"],
                    "above": ["above", "over"],
                    "below": ["below", "under", "beneath"],
                }[e.relation]
                assert any(f" {w} " in e.text for w in words), (e.text, e.relation)
                checked["relation"] += 1
            if e.position is not None:
                h, v = position_words(objs[e.subject].box, s.facts.width, s.facts.height)
                for word in ("left", "right", "top", "bottom"):
                    assert word not in e.position or word in (h, v), (e.text, h, v)
                assert e.position != "in the centre" or (h, v) == (None, None)
                if h == "left":
                    assert sx < 0.5 * s.facts.width
                checked["position"] += 1
            if e.rank in ("left", "right"):
                others = [
                    centre(o.box)[0]
                    for j, o in enumerate(objs)
                    if j != e.subject and o.kind is objs[e.subject].kind
                ]
                assert others and all((sx < x) if e.rank == "left" else (sx > x) for x in others)
                checked["rank"] += 1
            if e.union:
                assert e.box[2] * e.box[3] >= objs[e.subject].box[2] * objs[e.subject].box[3]
    assert checked["relation"] >= 20 and checked["position"] >= 20


def test_referring_expressions_name_unique_things(scenes: list) -> None:
    for s in scenes:
        objs = s.facts.objects
        for per in s.expressions:
            for e in per:
                o = objs[e.subject]
                bare = e.text.removeprefix("the ")
                assert o.kind.name in e.text
                if bare == o.kind.name:
                    assert sum(p.kind is o.kind for p in objs) == 1, e.text
                if o.colour and bare == f"{o.colour} {o.kind.name}":
                    assert sum(p.kind is o.kind and p.colour == o.colour for p in objs) == 1, e.text
                for colour in COLOURS:
                    if f" {colour} " in f" {e.text} " and e.anchor is None:
                        assert o.colour == colour, e.text


def test_captions_count_and_name_every_object(scenes: list) -> None:
    for s in scenes:
        caps = s.captions
        assert len(caps) == 5 and len(set(caps)) == 5
        listing = caps[1]
        for g in groups(s.facts, salience_order(s.facts)):
            kind = KIND_BY_NAME[g.kind_name]
            if len(g.members) > 1:
                colour = f"{g.colour} " if g.colour else ""
                assert f"{NUMBER_WORDS[len(g.members)]} {colour}{kind.plural}" in listing, (listing, g)
            else:
                assert kind.name in listing
        assert any(p in caps[0] or p in caps[2] for p in s.facts.background.phrases)
        for kind in {o.kind for o in s.facts.objects}:
            n = sum(o.kind is kind for o in s.facts.objects)
            for word in NUMBER_WORDS[n + 1 :]:
                assert f" {word} {kind.plural}" not in f" {listing}"


def test_named_colours_look_like_their_names(scenes: list) -> None:
    checked = 0
    for s in scenes:
        decoded = np.asarray(Image.open(io.BytesIO(encode_jpeg(s.image, s.quality))).convert("RGB"))
        for k, o in enumerate(s.facts.objects):
            if o.colour not in ("red", "blue", "green", "yellow", "orange", "purple"):
                continue
            expected = float(rgb_to_hsv(np.asarray(COLOURS[o.colour], np.float32))[0])
            hue = dominant_hue(decoded, s.owner == k, min_saturation=0.35)
            assert hue is not None and hue_distance(hue, expected) <= 25.0, (o.kind.name, o.colour, hue)
            checked += 1
    assert checked >= 15


def test_missing_font_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sprites_mod, "FONT_PATH", tmp_path / "absent.ttf")
    sprites_mod._font.cache_clear()
    try:
        with pytest.raises(sprites_mod.EmojiFontMissing, match="fonts-noto-color-emoji"):
            generate_world(tmp_path / "w", 3, 0)
    finally:
        sprites_mod._font.cache_clear()
