"""A name's look: where the crop is taken, and how its cosine joins the box's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.name_look import LOOK_ZOOM, look_crop, look_window, mean_look, with_look


def test_the_crop_is_the_box_itself_in_pixels() -> None:
    assert look_window((0.25, 0.1, 0.5, 0.6), 400, 200) == (100, 20, 300, 140)


def test_a_tiny_box_is_widened_to_the_smallest_share_and_kept_inside_the_photo() -> None:
    side = round(LOOK_ZOOM.min_share * 400)
    left, top, right, bottom = look_window((0.999, 0.0, 0.001, 0.001), 400, 400)
    assert (right - left, bottom - top) == (side, side)
    assert right == 400 and top == 0  # shifted, not cut, at the photo's edge


def test_the_crop_shows_what_is_in_the_box() -> None:
    image = Image.new("RGB", (100, 50), (0, 0, 255))
    image.paste((255, 0, 0), (60, 10, 90, 40))  # a red square on blue
    crop = look_crop(image, (0.6, 0.2, 0.3, 0.6))
    assert crop.size == (30, 30)
    assert np.asarray(crop).reshape(-1, 3).mean(axis=0).tolist() == [255.0, 0.0, 0.0]


def test_a_look_is_the_unit_mean_of_its_crops() -> None:
    look = mean_look(np.array([[3.0, 0.0], [0.0, 3.0]]))
    assert look.dtype == np.float32
    np.testing.assert_allclose(look, [0.5**0.5, 0.5**0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        mean_look(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="cancel out"):
        mean_look(np.array([[1.0, 0.0], [-1.0, 0.0]]))


def test_the_look_takes_its_share_and_a_missing_look_leaves_the_box_alone() -> None:
    box = np.array([0.2, 0.8, 0.5])
    look = np.array([0.9, 0.0, np.nan])
    np.testing.assert_allclose(with_look(box, look, 0.75), [0.725, 0.2, 0.5])
    np.testing.assert_allclose(with_look(box, look, 0.0), box)
    np.testing.assert_allclose(with_look(box, look, 1.0), [0.9, 0.0, 0.5])


def test_unit_length_allows_float32_rounding_and_nothing_more() -> None:
    from core.name_look import LOOK_NORM_TOLERANCE, is_unit_length

    assert is_unit_length(mean_look(np.array([[3.0, 4.0, 0.0]])))
    assert is_unit_length(np.array([1.0 + LOOK_NORM_TOLERANCE / 2, 0.0]))
    assert not is_unit_length(np.array([1.0 + 2 * LOOK_NORM_TOLERANCE, 0.0]))
    assert not is_unit_length(np.array([0.5, 0.5]))
