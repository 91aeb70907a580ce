"""A text search's first photos, seen close up where the words point.

Why: the index holds one global embedding and 14 fixed grid regions per photo, pooled from the same
10 x 10 patches. A small thing ("a small red guitar") is a few patches of the global view, and no grid
cell is cut around it; on the world's libraries blending the grid regions in never helped R@1
(docs/similar.md). X-VLM's box head, reading the query, points at where the words are in a photo; the
part it points at, cropped and encoded on its own (``core.name_look.look_crop``, as a taught name's box
is), shows the thing at several times the pixels, and its cosine with the words is the object-level
evidence the index cannot keep. It needs each photo decoded and encoded again (twice: the photo for its
tokens, then the crop), so only the first ``close_up_head`` photos of a ranking are scored, within a
time budget, and the order among them becomes ``(1 - w_close_up) * score + w_close_up * close-up
cosine``; both settings are the bundle's, chosen on the world's val split by ``tune-search``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from app.head_rerank import centre_to_corner
from core.name_look import look_crop


@dataclass(frozen=True)
class CloseUps:
    """Per photo: the close-up's cosine with the words, and the box the words pointed at."""

    cosines: np.ndarray  # (P,)
    boxes: np.ndarray  # (P, 4) x, y, w, h as fractions of the photo


def close_ups(
    runtime: Any,
    images: list[Image.Image],
    hidden: np.ndarray,
    mask: np.ndarray,
    embed: np.ndarray,
    tokens: np.ndarray | None = None,
) -> CloseUps:
    """Ground the words (``hidden`` (1, T, D) and ``mask`` (1, T) of one text, ``embed`` (D,) its unit
    embedding) in each image, crop where they point, and compare the crop with the words. ``tokens``: the
    images' own, when the caller has them (``tune-search`` scores each photo for many queries)."""
    if not images:
        return CloseUps(np.zeros(0, np.float32), np.zeros((0, 4)))
    if tokens is None:
        _, tokens = runtime.encode_images(images)
    count = len(images)
    centre = runtime.predict_boxes(np.repeat(hidden, count, axis=0), np.repeat(mask, count, axis=0), tokens)
    boxes = centre_to_corner(centre)
    crops = [look_crop(image, tuple(box)) for image, box in zip(images, boxes, strict=True)]
    crop_embeds, _ = runtime.encode_images(crops)
    return CloseUps((crop_embeds @ np.asarray(embed, np.float32)).astype(np.float32), boxes)
