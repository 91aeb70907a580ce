"""Boxes from the upright photo back to the stored pixels, checked against Pillow's own transposes for
every EXIF orientation; and the fine-tune's estimate line, which a window reads back."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from core.finetune import Estimate, duration, estimate_line, parse_estimate, step_line
from core.orientation import swaps_sides, upright_fraction_to_stored_pixels, valid_orientation

STORED = (48, 30)  # width, height as stored: not square, so a quarter turn shows
MARK = (7, 4, 13, 9)  # x, y, w, h in stored pixels, off every axis of symmetry


def _stored_with_mark(orientation: int) -> Image.Image:
    image = Image.new("RGB", STORED, (0, 0, 0))
    x, y, w, h = MARK
    image.paste((255, 255, 255), (x, y, x + w, y + h))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_upright_box_maps_back_onto_the_stored_pixels(orientation: int) -> None:
    stored = _stored_with_mark(orientation)
    upright = ImageOps.exif_transpose(stored)  # what the app decodes and people draw boxes on
    assert (upright.size != stored.size) == swaps_sides(orientation)
    left, top, right, bottom = upright.getbbox()
    width, height = upright.size
    fraction = (left / width, top / height, (right - left) / width, (bottom - top) / height)
    box = upright_fraction_to_stored_pixels(fraction, orientation, stored.size)
    assert box == pytest.approx(MARK, abs=1e-9)


def test_a_damaged_orientation_means_none() -> None:
    assert valid_orientation(9) == valid_orientation("6") == valid_orientation(None) == 1
    assert upright_fraction_to_stored_pixels((0.5, 0.5, 0.25, 0.5), 0, (100, 40)) == (50, 20, 25, 20)


def test_the_estimate_line_reads_back() -> None:
    estimate = Estimate("cpu", 120, 1.52, 190.4)
    line = estimate_line(estimate)
    assert line == "estimate: 120 steps on cpu, 1.52 s a step, 190 s in all (about 3 min)"
    assert parse_estimate(line) == Estimate("cpu", 120, 1.52, 190.0)
    assert parse_estimate("step 3/120  loss 2.000  about 3 min left") is None
    assert step_line(3, 120, 2.0, 185) == "step 3/120  loss 2.000  about 3 min left"
    assert [duration(s) for s in (4, 89, 91, 5400, 5460)] == [
        "4 s",
        "89 s",
        "2 min",
        "1 h 30 min",
        "1 h 31 min",
    ]
