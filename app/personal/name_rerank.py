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

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from app.personal.usage import encode_texts
from core.name_look import look_crop, with_look
from core.name_ranking import W_LOOK
from core.names import NameTable

CHUNK = 10  # photos decoded and scored together (a batch for the graphs, and the budget's step)


@dataclass(frozen=True)
class NamedBoxes:
    """For each photo re-ordered: the mean over names of the name's score (its box, and its look where it
    has one), and each name's box."""

    cosines: np.ndarray  # (P,)
    boxes: np.ndarray  # (P, names, 4) x, y, w, h as fractions of the photo


def centre_to_corner(boxes: np.ndarray) -> np.ndarray:
    """(…, 4) centre boxes (cx, cy, w, h) -> corner boxes (x, y, w, h), kept inside the unit square."""
    cx, cy, w, h = np.moveaxis(np.asarray(boxes, np.float64), -1, 0)
    w, h = np.clip(w, 1e-3, 1.0), np.clip(h, 1e-3, 1.0)
    x = np.clip(cx - w / 2, 0.0, 1.0 - w)
    y = np.clip(cy - h / 2, 0.0, 1.0 - h)
    return np.stack([x, y, w, h], axis=-1)


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


def rerank_order(photo_cos: np.ndarray, box_cos: np.ndarray, done: np.ndarray, w_photo: float) -> np.ndarray:
    """The order of a ranking's head: photos with a box score (``done``) by the mixed score (``w_photo``
    the photo's share), best first, then those without (a file gone or unreadable) in their old order."""
    mixed = w_photo * np.asarray(photo_cos, np.float64) + (1.0 - w_photo) * np.asarray(box_cos, np.float64)
    mixed = np.where(done, mixed, -np.inf)
    return np.argsort(-mixed, kind="stable")


def segments(length: int, matched: int, count: int) -> list[tuple[int, int]]:
    """The spans of a ranking re-ordered: its first ``count`` photos, without mixing matches above the
    cutoff with the weaker ones after them (the window draws a line between the two)."""
    head = min(count, length)
    cut = min(matched, head)
    return [(a, b) for a, b in ((0, cut), (cut, head)) if b > a]


def rerank_head(
    photo_cos: np.ndarray,
    matched: int,
    count: int,
    decode: Callable[[np.ndarray], tuple[list[Image.Image], list[int]]],
    score: Callable[[list[Image.Image]], NamedBoxes],
    w_photo: float,
    budget_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    stale: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The new order of a ranking (positions into it) and the box cosine of each re-ordered photo (NaN
    for the rest). ``decode(slots)`` returns the images it could read and their slots; ``w_photo`` is
    the photo cosine's share of the mixed score (``core.name_ranking``).

    The head is scored ``CHUNK`` photos at a time in rank order, and scoring stops at the first chunk
    boundary after ``budget_s`` seconds (None: the whole head): a large model's slower photos make a
    shorter head rather than a slower search. It also stops when ``stale()`` says the answer is no
    longer wanted (the window's next keystroke started another search). Photos left unscored keep their
    order after the scored."""
    length = len(photo_cos)
    order = np.arange(length)
    box_cos = np.full(length, np.nan, np.float32)
    spans = segments(length, matched, count)
    if not spans:
        return order, box_cos
    start = clock()
    for first in range(0, spans[-1][1], CHUNK):
        if budget_s is not None and first > 0 and clock() - start > budget_s:
            break
        if stale is not None and stale():
            break
        wanted = np.arange(first, min(first + CHUNK, spans[-1][1]))
        images, slots = decode(wanted)
        if images:
            box_cos[wanted[slots]] = score(images).cosines
    for a, b in spans:
        part = np.arange(a, b)
        order[a:b] = part[rerank_order(photo_cos[part], box_cos[part], ~np.isnan(box_cos[part]), w_photo)]
    return order, box_cos
