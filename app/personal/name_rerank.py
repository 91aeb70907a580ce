"""A query holding a taught name: its first photos re-ordered by how much the thing the name grounds
to in each photo looks like the name.

Why (docs/personal.md, "Scoring a name"): a name is one particular thing among look-alikes, and a
photo's global embedding (or the index's fixed grid regions) mixes it with everything else in the
photo. The box head, reading the name, finds the most name-like thing in a photo; the concept
embedding of that box, compared with the name's own text embedding, says whether it is the thing.
On the personal world this lifted R@1 against same-kind look-alikes about threefold over the global
cosine. It needs the photo's image tokens, which the index does not keep, so the photos are decoded
and encoded again: only the first few of a ranking, and only for queries that hold a name.

A name taught in this version also has a look (``core.name_look``): its teaching boxes cropped and
encoded. The box the name grounds to in a photo is cropped and encoded too (a second vision pass, of
the crop), and the crop's cosine with the look takes ``W_LOOK`` of the name's score: at the demo
model's 10 x 10 patches the box's concept embedding cannot tell two same-coloured dogs apart by their
markings, and the crop, seen at several times the pixels, often can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from app.head_rerank import centre_to_corner
from app.personal.usage import encode_texts
from core.name_look import look_crop, with_look
from core.name_ranking import W_LOOK
from core.names import NameTable


@dataclass(frozen=True)
class NamedBoxes:
    """For each photo re-ordered: the mean over names of the name's score (its box, and its look where it
    has one), and each name's box."""

    cosines: np.ndarray  # (P,)
    boxes: np.ndarray  # (P, names, 4) x, y, w, h as fractions of the photo


def named_boxes(
    runtime: Any, images: list[Image.Image], names: tuple[str, ...], table: NameTable
) -> NamedBoxes:
    """Ground each name in each image and compare the box's concept embedding with the name's, and, for a
    name with a look, the box's crop with the look."""
    _, tokens = runtime.encode_images(images)
    embeds, hidden, mask = encode_texts(runtime, list(names), table)
    count = len(images)
    cosines = np.zeros((count, len(names)), np.float32)
    boxes = np.zeros((count, len(names), 4), np.float64)
    for j in range(len(names)):
        centre = runtime.predict_boxes(
            np.repeat(hidden[j : j + 1], count, axis=0), np.repeat(mask[j : j + 1], count, axis=0), tokens
        )
        boxes[:, j] = centre_to_corner(centre)
        regions = runtime.encode_regions(tokens, boxes[:, j : j + 1])  # (P, 1, D)
        box_cos = regions[:, 0] @ embeds[j]
        look = table.looks.get(names[j])
        if look is None:
            cosines[:, j] = box_cos
            continue
        crops = [look_crop(image, tuple(box)) for image, box in zip(images, boxes[:, j], strict=True)]
        crop_embeds, _ = runtime.encode_images(crops)
        cosines[:, j] = with_look(box_cos, crop_embeds @ look, W_LOOK)
    return NamedBoxes(cosines.mean(axis=1), boxes)
