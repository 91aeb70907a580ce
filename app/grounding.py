"""Grounding: where in a photo is the thing a text names, and how sure the model is.

The box head predicts (cx, cy, w, h) as fractions of the square model input; the eval resize only
stretches, so they are fractions of the upright photo too, and the box comes back in its pixels. By
default the box is refined by a second pass in a window around the first (``core.zoom``). Two
numbers come with it: ``score``, the cosine of the text with the region embedding of the predicted
box (the same measure search uses for regions), and ``confidence``, the ITM head's 'match' logit for
the text with the box as X-VLM scores a region: the concept [CLS] (the mean of the in-box patches)
first, and the fusion layers restricted to the box's patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from app.library.decode import decode_image
from app.personal.usage import encode_texts as encode_with_names
from core.errors import KnownError
from core.names import NameTable
from core.zoom import Zoom, box_from_window, zoom_window
from export.regions import boxes_to_patch_mask, pool_concept_tokens

DEFAULT_ZOOM = Zoom()


class GroundingModel(Protocol):
    @property
    def image_size(self) -> int: ...
    @property
    def has_box_head(self) -> bool: ...
    @property
    def manifest(self) -> dict: ...
    def encode_images(self, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]: ...
    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...
    def encode_texts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def itm_scores(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray, image_mask: np.ndarray | None = None
    ) -> np.ndarray: ...
    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Grounding:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the upright photo
    fraction: tuple[float, float, float, float]  # x, y, w, h as fractions of the photo
    score: float  # cosine of the text with the box's region embedding
    confidence: float  # ITM 'match' logit of the text with the box's patches
    width: int
    height: int


def ground_image(
    runtime: GroundingModel,
    image: Image.Image,
    text: str,
    zoom: Zoom | None = DEFAULT_ZOOM,
    names: NameTable | None = None,
) -> Grounding:
    """Ground ``text`` in an upright RGB ``image``; with ``zoom`` (the default), refine the box by
    grounding again in a window around the first one (``core.zoom``: much better boxes for small
    things, at the cost of a second image encode). ``names``: taught names the text may hold."""
    if not runtime.has_box_head:
        raise KnownError("this model bundle has no box head: it cannot ground text")
    if not text.strip():
        raise KnownError("nothing to ground: the text is empty")
    _, tokens = runtime.encode_images([image])
    embeds, hidden, mask = encode_with_names(runtime, [text], names)
    predicted = np.clip(runtime.predict_boxes(hidden, mask, tokens)[0], 0.0, 1.0)
    if zoom is not None:
        window = zoom_window(predicted, *image.size, zoom)
        _, crop_tokens = runtime.encode_images([image.crop(window)])
        in_window = np.clip(runtime.predict_boxes(hidden, mask, crop_tokens)[0], 0.0, 1.0)
        predicted = np.array(box_from_window(in_window, window, *image.size))
    cx, cy, w, h = (float(v) for v in predicted)
    x, y = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
    w, h = min(w, 1.0 - x), min(h, 1.0 - y)
    # One float64 box for both masks: in float32 an edge exactly on a patch border (0.1 of 160 px)
    # rounds past it, and the region embedding would gain a column the ITM mask lacks.
    fraction = np.array([[x, y, w, h]], np.float64)
    region = runtime.encode_regions(tokens, fraction[None])[0, 0]
    size, stride = runtime.image_size, int(runtime.manifest["token_grid"]["patch_stride"])
    patches = boxes_to_patch_mask(fraction * size, size, stride)
    # X-VLM's region ITM: the concept [CLS] (mean of the in-box patches) leads the tokens, and the
    # fusion layers see only the box's patches.
    itm = runtime.itm_scores(hidden, mask, pool_concept_tokens(tokens, patches), image_mask=patches)
    width, height = image.size
    box = (
        round(x * width),
        round(y * height),
        round(min(x + w, 1.0) * width),
        round(min(y + h, 1.0) * height),
    )
    return Grounding(text, box, (x, y, w, h), float(region @ embeds[0]), float(itm[0]), width, height)


def ground_photo(
    runtime: GroundingModel,
    path: str | Path,
    text: str,
    zoom: Zoom | None = DEFAULT_ZOOM,
    names: NameTable | None = None,
) -> Grounding:
    """Ground ``text`` in the photo file at ``path`` (decoded upright, full size for the pixel box)."""
    return ground_image(runtime, decode_image(path).image, text, zoom, names)
