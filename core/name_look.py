"""A taught name's look: what the named thing itself looks like, seen close up.

Why (docs/personal.md, "The name's look"): the demo model sees a photo as 10 x 10 patches, so a dog that
fills a tenth of the photo's side is a handful of patches, and two dogs of one colour that differ by
their stripes or spots look the same in the box's concept embedding. Cropping the box and running the
crop through the vision model shows the thing at several times the pixels. A name's look is the mean of
the global embeddings of its teaching boxes cropped this way; at search time the box the name grounds to
in a photo is cropped the same way, and the crop's cosine with the look says whether it is the thing.
On three personal worlds this lifted R@5 among same-kind look-alikes by 3 to 30 points over the box's
concept embedding alone.

Torch-free: the engine's benchmark and the app's search crop with the same geometry.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.zoom import Window, Zoom, zoom_window

# The crop is the box itself (growth 1), but never under 5 % of the photo's side: a grounded box a few
# pixels wide would be blown up into a blur. Measured with ``bench-personal`` (docs/personal.md).
LOOK_ZOOM = Zoom(growth=1.0, min_share=0.05)

Corners = tuple[float, float, float, float]  # x, y, w, h as fractions of the photo


def look_window(box: Corners, width: int, height: int) -> Window:
    """The crop (left, top, right, bottom) in pixels that shows the thing in ``box``."""
    x, y, w, h = (float(v) for v in box)
    return zoom_window((x + w / 2, y + h / 2, w, h), width, height, LOOK_ZOOM)


def look_crop(image: Image.Image, box: Corners) -> Image.Image:
    """The part of ``image`` that the look of the thing in ``box`` is taken from."""
    return image.crop(look_window(box, image.width, image.height))


# A look is stored at unit length; a stored one further from it than this was edited or damaged.
LOOK_NORM_TOLERANCE = 1e-3


def is_unit_length(vector: np.ndarray) -> bool:
    """Whether ``vector`` has the unit length every look is written with (packs and bundles check it)."""
    return abs(float(np.linalg.norm(np.asarray(vector, np.float64))) - 1.0) <= LOOK_NORM_TOLERANCE


def mean_look(embeds: np.ndarray) -> np.ndarray:
    """A name's look from its teaching crops' embeddings (n, D): their mean, unit length, float32."""
    vectors = np.asarray(embeds, np.float64)
    if vectors.ndim != 2 or not len(vectors):
        raise ValueError(f"a look needs at least one embedding (n, D), got shape {vectors.shape}")
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("the teaching crops' embeddings cancel out: no look")
    return (mean / norm).astype(np.float32)


def with_look(box_cos: np.ndarray, look_cos: np.ndarray, w_look: float) -> np.ndarray:
    """A name's score in photos: ``w_look`` of the crop's cosine with the look, the rest the box's cosine
    with the name; where the look's cosine is NaN (no look, or no crop) the box's cosine alone."""
    box = np.asarray(box_cos, np.float64)
    look = np.asarray(look_cos, np.float64)
    return np.where(np.isnan(look), box, (1.0 - w_look) * box + w_look * look)
