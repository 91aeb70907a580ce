"""Grounding in the app: the zoom-in refinement through the runtime's interface, on photos whose answer
is known (a stand-in box head that sees a coarse 4 x 4 grid, ``coarse_boxes``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from coarse_boxes import coarse_box, square_photo
from PIL import Image

from app.grounding import ground_image
from core.errors import KnownError
from core.zoom import Zoom

SIZE = 64  # model input side


class CoarseBoxRuntime:
    """The runtime interface ``ground_image`` uses; 'tokens' are the bright pixels of the resized image."""

    has_box_head = True
    image_size = SIZE

    def __init__(self) -> None:
        self.manifest = {"token_grid": {"patch_stride": 16}}
        self.encoded_sizes: list[tuple[int, int]] = []

    def encode_images(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        self.encoded_sizes += [image.size for image in images]
        grey = [i.convert("L").resize((SIZE, SIZE), Image.Resampling.BICUBIC) for i in images]
        bright = [np.asarray(g) > 127 for g in grey]
        return np.zeros((len(images), 4), np.float32), np.stack(bright)

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        embeds = np.tile(np.array([1.0, 0, 0, 0], np.float32), (len(texts), 1))
        return embeds, np.zeros((len(texts), 3, 4), np.float32), np.ones((len(texts), 3), np.int64)

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.array([coarse_box(t, grid=4) for t in tokens], np.float32)

    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return np.tile(np.array([1.0, 0, 0, 0], np.float32), (*boxes.shape[:2], 1))

    def itm_scores(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray, image_mask: np.ndarray | None = None
    ) -> np.ndarray:
        return np.full(len(tokens), 2.0, np.float32)


def test_zoom_in_draws_a_tight_box_where_one_pass_draws_the_whole_cell() -> None:
    # A 24 px square inside the 64 px cell (64..128, 64..128) of a 256 px photo.
    photo = square_photo(256, 256, (70, 70, 24, 24))
    runtime = CoarseBoxRuntime()
    single = ground_image(runtime, photo, "the square", zoom=None)
    assert single.box == (64, 64, 128, 128)  # one pass: the whole grid cell
    assert runtime.encoded_sizes == [(256, 256)]

    runtime = CoarseBoxRuntime()
    zoomed = ground_image(runtime, photo, "the square", zoom=Zoom(growth=1.0, min_share=0.25))
    # The second pass sees only that cell, at 16 px per grid cell: two cells of it.
    assert runtime.encoded_sizes == [(256, 256), (64, 64)]
    assert zoomed.box == (64, 64, 96, 96)
    assert zoomed.fraction == pytest.approx((0.25, 0.25, 0.125, 0.125))
    assert (zoomed.score, zoomed.confidence, zoomed.width, zoomed.height) == (1.0, 2.0, 256, 256)


def test_the_default_zooms_and_keeps_the_box_inside_a_non_square_photo() -> None:
    photo = square_photo(300, 200, (260, 170, 30, 20))  # bottom-right corner
    runtime = CoarseBoxRuntime()
    g = ground_image(runtime, photo, "the square")
    assert len(runtime.encoded_sizes) == 2 and runtime.encoded_sizes[1] != (300, 200)
    x0, y0, x1, y1 = g.box
    assert 0 <= x0 <= 260 and 0 <= y0 <= 170 and x1 == 300 and y1 == 200  # holds the square, in the photo


def test_grounding_needs_a_box_head_and_some_text() -> None:
    runtime = CoarseBoxRuntime()
    with pytest.raises(KnownError, match="empty"):
        ground_image(runtime, square_photo(32, 32, (0, 0, 8, 8)), "  ")
    runtime.has_box_head = False
    with pytest.raises(KnownError, match="no box head"):
        ground_image(runtime, square_photo(32, 32, (0, 0, 8, 8)), "a square")
