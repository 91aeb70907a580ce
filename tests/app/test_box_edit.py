"""Moving and resizing a box by its grips (fractions of the photo)."""

from __future__ import annotations

import pytest

from app.box_edit import MOVE, drag_box, grip_at

BOX = (0.2, 0.3, 0.4, 0.4)  # x 0.2-0.6, y 0.3-0.7
TOL = 0.02


@pytest.mark.parametrize(
    ("x", "y", "grip"),
    [
        (0.4, 0.5, MOVE),
        (0.21, 0.5, "left"),
        (0.59, 0.5, "right"),
        (0.4, 0.29, "top"),
        (0.4, 0.71, "bottom"),
        (0.19, 0.31, "top-left"),
        (0.61, 0.69, "bottom-right"),
        (0.6, 0.3, "top-right"),
        (0.2, 0.7, "bottom-left"),
        (0.1, 0.5, None),  # left of the box, beyond reach
        (0.4, 0.9, None),
        (0.21, 0.9, None),  # in line with the left edge but below the box
    ],
)
def test_a_press_takes_the_grip_it_is_near(x: float, y: float, grip: str | None) -> None:
    assert grip_at(BOX, x, y, TOL, TOL) == grip


def test_in_a_box_thinner_than_the_reach_the_nearer_edge_wins() -> None:
    thin = (0.5, 0.2, 0.01, 0.5)
    assert grip_at(thin, 0.501, 0.4, TOL, TOL) == "left"
    assert grip_at(thin, 0.509, 0.4, TOL, TOL) == "right"


def test_moving_keeps_the_size_and_stops_at_the_border() -> None:
    assert drag_box(BOX, MOVE, 0.1, -0.1, 0.02) == pytest.approx((0.3, 0.2, 0.4, 0.4))
    assert drag_box(BOX, MOVE, 0.9, 0.9, 0.02) == pytest.approx((0.6, 0.6, 0.4, 0.4))
    assert drag_box(BOX, MOVE, -0.9, -0.9, 0.02) == pytest.approx((0.0, 0.0, 0.4, 0.4))


def test_an_edge_follows_alone_and_a_corner_moves_two() -> None:
    assert drag_box(BOX, "left", -0.1, 0.5, 0.02) == pytest.approx((0.1, 0.3, 0.5, 0.4))
    assert drag_box(BOX, "bottom", 0.5, 0.1, 0.02) == pytest.approx((0.2, 0.3, 0.4, 0.5))
    assert drag_box(BOX, "top-right", 0.1, -0.1, 0.02) == pytest.approx((0.2, 0.2, 0.5, 0.5))


def test_an_edge_stops_at_the_border_and_short_of_the_opposite_edge() -> None:
    assert drag_box(BOX, "right", 0.9, 0.0, 0.02) == pytest.approx((0.2, 0.3, 0.8, 0.4))
    # Dragged past the opposite edge, it stops min_side short: the box never turns inside out.
    assert drag_box(BOX, "left", 0.9, 0.0, 0.05) == pytest.approx((0.55, 0.3, 0.05, 0.4))
    assert drag_box(BOX, "top", 0.0, 0.9, 0.05) == pytest.approx((0.2, 0.65, 0.4, 0.05))


def test_a_grip_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a grip"):
        drag_box(BOX, "middle", 0.1, 0.1, 0.02)
