"""Zoom-in refinement geometry: the window around a first box, and boxes mapped back from it."""

from __future__ import annotations

import pytest

from core.zoom import Zoom, ZoomError, box_from_window, zoom_window


def test_the_window_grows_the_box_and_is_centred_on_it() -> None:
    # A 40 x 20 px box centred at (100, 80) in a 400 x 200 photo; growth 2, no minimum to speak of.
    window = zoom_window((0.25, 0.4, 0.1, 0.1), 400, 200, Zoom(growth=2.0, min_share=0.01))
    assert window == (60, 60, 140, 100)  # 80 x 40 px


def test_a_tiny_first_box_gets_a_window_of_at_least_min_share_of_the_photo() -> None:
    left, top, right, bottom = zoom_window((0.5, 0.5, 0.01, 0.01), 300, 200, Zoom(1.5, 0.4))
    assert (right - left, bottom - top) == (120, 80)
    assert (left + right) / 2 == 150 and (top + bottom) / 2 == 100


def test_a_window_at_the_edge_is_shifted_inside_not_cut() -> None:
    # Box in the top-left corner: the window keeps its full size and starts at 0.
    assert zoom_window((0.02, 0.03, 0.04, 0.06), 500, 400, Zoom(1.5, 0.4)) == (0, 0, 200, 160)
    # Bottom-right corner.
    assert zoom_window((0.98, 0.97, 0.04, 0.06), 500, 400, Zoom(1.5, 0.4)) == (300, 240, 500, 400)


def test_a_box_larger_than_the_photo_allows_gets_the_whole_photo() -> None:
    assert zoom_window((0.5, 0.5, 0.9, 0.8), 64, 48, Zoom(1.5, 0.4)) == (0, 0, 64, 48)


def test_a_one_pixel_photo_still_has_a_window() -> None:
    assert zoom_window((0.5, 0.5, 0.0, 0.0), 1, 1, Zoom()) == (0, 0, 1, 1)


def test_boxes_map_back_from_the_window_to_the_photo() -> None:
    window = (100, 50, 300, 150)  # 200 x 100 px window in a 400 x 200 photo
    # The window's centre quarter -> photo pixels (150..250, 75..125).
    assert box_from_window((0.5, 0.5, 0.5, 0.5), window, 400, 200) == pytest.approx((0.5, 0.5, 0.25, 0.25))
    # The whole window -> the window itself, as fractions of the photo.
    assert box_from_window((0.5, 0.5, 1.0, 1.0), window, 400, 200) == pytest.approx((0.5, 0.5, 0.5, 0.5))


@pytest.mark.parametrize(("growth", "min_share"), [(0.9, 0.4), (1.5, 0.0), (1.5, 1.2), (float("nan"), 0.4)])
def test_settings_that_make_no_window_are_refused(growth: float, min_share: float) -> None:
    with pytest.raises(ZoomError, match="zoom"):
        Zoom(growth, min_share)
