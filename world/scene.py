"""One scene end to end: layout, rendering, text and degradation, from (seed, index) alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .backgrounds import BACKGROUNDS
from .captions import captions
from .degrade import degrade
from .facts import SceneFacts, make_object
from .layout import PlacedObject, image_size, place_objects, plan_objects
from .referring import Expression, describe_objects, describe_pairs
from .render import composite


@dataclass
class Scene:
    index: int
    image: Image.Image  # degraded RGB, before JPEG
    quality: int
    owner: np.ndarray  # (H, W) int16: index of the object owning each pixel, -1 for background
    facts: SceneFacts
    captions: list[str]
    expressions: list[list[Expression]]  # per object
    pairs: list[Expression]


def scene_rngs(seed: int, index: int) -> tuple[np.random.Generator, ...]:
    """Independent streams for layout, text and degradation: changing how one part draws its random
    numbers does not change the others, and the image depends only on (seed, index)."""
    root = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    return tuple(np.random.default_rng(s) for s in root.spawn(3))


def placed_boxes(placed: list[PlacedObject], owner: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Tight x, y, w, h of the pixels each placed object still owns after the later ones covered it."""
    boxes = []
    for k, p in enumerate(placed):
        ph, pw = p.patch.shape[:2]
        ys, xs = np.nonzero(owner[p.y : p.y + ph, p.x : p.x + pw] == k)
        boxes.append(
            (
                p.x + int(xs.min()),
                p.y + int(ys.min()),
                int(xs.max() - xs.min()) + 1,
                int(ys.max() - ys.min()) + 1,
            )
        )
    return boxes


def build_scene(seed: int, index: int) -> Scene:
    layout_rng, text_rng, degrade_rng = scene_rngs(seed, index)
    width, height = image_size(layout_rng)
    background = BACKGROUNDS[int(layout_rng.integers(len(BACKGROUNDS)))]
    plans = plan_objects(layout_rng, width, height)
    placed, owner = place_objects(layout_rng, plans, width, height)
    if not placed:  # cannot happen with the size caps in layout, but never write an empty scene
        raise RuntimeError(f"scene {index}: no object could be placed")
    canvas = composite(background.paint(layout_rng, height, width), placed)

    objects = [
        make_object(p.kind, p.colour, box, width, height)
        for p, box in zip(placed, placed_boxes(placed, owner), strict=True)
    ]
    facts = SceneFacts(width, height, background, tuple(objects))

    texts = captions(facts, text_rng)
    expressions = describe_objects(facts, text_rng)
    pairs = describe_pairs(facts, text_rng)
    image, quality = degrade(canvas, degrade_rng)
    return Scene(index, image, quality, owner, facts, texts, expressions, pairs)
