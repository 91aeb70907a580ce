"""A text search's first photos re-scored by the model's fusion encoder: the ITM head on the whole photo
(X-VLM's retrieval protocol: contrastive cosines pick the candidates, ITM orders the first of them), plus,
with a weight, the ITM of the region the words point at.

Why: the index scores a photo by cosines of separately encoded text and image (ITC). The fusion layers
read the words against every patch (cross-attention), which tells "a red dog left of a blue car" from "a
blue dog left of a red car" where one vector per photo cannot; on the model's own test split it took
image R@1 from 41.5 to 56.0 % (docs/demo_model.md). The region ITM is X-VLM's object-level match: the box
head reads the words and points at where they are; the fusion layers then see only that box's patches,
led by their mean as the [CLS] (``app.grounding`` draws the same box, and shows the same score as its
sureness). The index's fixed grid regions never helped R@1 (docs/similar.md); the words' own region is
the multi-grained alternative, and ``tune-search`` weighs it on val.

Each photo is decoded and encoded again (the index keeps no image tokens), so only the first photos of a
ranking are re-scored, within a time budget (``app.head_rerank``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from app.head_rerank import centre_to_corner
from export.regions import boxes_to_patch_mask, pool_concept_tokens


def itm_parts(
    runtime: Any,
    images: list[Image.Image],
    hidden: np.ndarray,
    mask: np.ndarray,
    tokens: np.ndarray | None = None,
    region: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(P,) ITM 'match' logits of one text (``hidden`` (1, T, D), ``mask`` (1, T)) with each image, and
    (with ``region``) the region ITM where the text points, else None. ``tokens``: the images' own,
    when the caller has them (``tune-search`` scores each photo for many queries)."""
    if not images:
        return np.zeros(0, np.float32), (np.zeros(0, np.float32) if region else None)
    if tokens is None:
        _, tokens = runtime.encode_images(images)
    count = len(images)
    hidden, mask = np.repeat(hidden, count, axis=0), np.repeat(mask, count, axis=0)
    whole = np.asarray(runtime.itm_scores(hidden, mask, tokens), np.float32)
    if not region:
        return whole, None
    boxes = centre_to_corner(runtime.predict_boxes(hidden, mask, tokens))
    size, stride = int(runtime.image_size), int(runtime.manifest["token_grid"]["patch_stride"])
    patches = boxes_to_patch_mask(boxes * size, size, stride)
    in_box = runtime.itm_scores(hidden, mask, pool_concept_tokens(tokens, patches), image_mask=patches)
    return whole, np.asarray(in_box, np.float32)


def head_itm(
    runtime: Any, images: list[Image.Image], hidden: np.ndarray, mask: np.ndarray, w_region: float = 0.0
) -> np.ndarray:
    """(P,) each image's head score: the whole photo's ITM logit plus ``w_region`` times the region's
    (the region is not computed when its weight is 0)."""
    whole, region = itm_parts(runtime, images, hidden, mask, region=w_region != 0.0)
    return whole if region is None else whole + np.float32(w_region) * region
