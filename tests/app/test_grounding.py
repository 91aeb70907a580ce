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
        bright = np.stack([np.asarray(g) > 127 for g in grey]).astype(np.float32)
        # As the model's tokens: a [CLS] row, then one row per 16 px patch holding its pixels.
        patches = bright.reshape(-1, 4, 16, 4, 16).transpose(0, 1, 3, 2, 4).reshape(-1, 16, 256)
        tokens = np.concatenate([np.zeros((len(images), 1, 256), np.float32), patches], axis=1)
        return np.zeros((len(images), 4), np.float32), tokens

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        embeds = np.tile(np.array([1.0, 0, 0, 0], np.float32), (len(texts), 1))
        return embeds, np.zeros((len(texts), 3, 4), np.float32), np.ones((len(texts), 3), np.int64)

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        pixels = tokens[:, 1:].reshape(-1, 4, 4, 16, 16).transpose(0, 1, 3, 2, 4).reshape(-1, SIZE, SIZE)
        return np.array([coarse_box(p > 0.5, grid=4) for p in pixels], np.float32)

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


class RecordingRuntime(CoarseBoxRuntime):
    """Records what the region embedding and the ITM head are given; tokens are numbered patches."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        super().__init__()
        self.box, self.region_boxes, self.itm_inputs = box, [], []

    def encode_images(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.arange(len(images) * 17 * 2, dtype=np.float32).reshape(len(images), 17, 2)
        return np.zeros((len(images), 4), np.float32), tokens

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        x, y, w, h = self.box
        return np.array([[x + w / 2, y + h / 2, w, h]] * len(tokens), np.float64)

    def encode_regions(self, tokens: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        self.region_boxes.append(boxes)
        return super().encode_regions(tokens, boxes)

    def itm_scores(self, hidden, mask, tokens, image_mask=None) -> np.ndarray:
        self.itm_inputs.append((tokens, image_mask))
        return super().itm_scores(hidden, mask, tokens, image_mask)


def test_region_itm_leads_with_the_mean_of_the_in_box_patches() -> None:
    runtime = RecordingRuntime((0.5, 0.5, 0.5, 0.5))  # the bottom-right 2 x 2 patches of the 4 x 4 grid
    ground_image(runtime, square_photo(64, 64, (0, 0, 8, 8)), "the thing", zoom=None)
    ((tokens, image_mask),) = runtime.itm_inputs
    in_box = [1 + 4 * r + c for r in (2, 3) for c in (2, 3)]
    assert np.flatnonzero(image_mask[0][1:]).tolist() == [i - 1 for i in in_box]
    whole = runtime.encode_images([Image.new("RGB", (4, 4))])[1][0]
    np.testing.assert_allclose(tokens[0, 0], whole[in_box].mean(axis=0))  # not the whole image's token
    np.testing.assert_array_equal(tokens[0, 1:], whole[1:])


def test_the_region_and_the_itm_mask_see_the_same_box_on_a_patch_border() -> None:
    # 0.1 of a 160 px input is 16 px exactly: a patch border. In float32 it is 16.0000002 px, one more
    # column for the region embedding than for the ITM mask.
    runtime = RecordingRuntime((0.0, 0.0, 0.1, 0.1))
    runtime.image_size = 160
    runtime.encode_images = lambda images: (  # type: ignore[method-assign]
        np.zeros((len(images), 4), np.float32),
        np.zeros((len(images), 1 + 100, 2), np.float32),
    )
    ground_image(runtime, square_photo(160, 160, (0, 0, 8, 8)), "the thing", zoom=None)
    from export.regions import normalised_boxes_to_patch_masks

    region_mask = normalised_boxes_to_patch_masks(runtime.region_boxes[0], 160, 16)[0, 0]
    _, itm_mask = runtime.itm_inputs[0]
    np.testing.assert_array_equal(region_mask, itm_mask[0, 1:].astype(np.float32))
    assert region_mask.sum() == 1  # one patch: the box ends exactly on the border
