"""Boxes between a photo as people see it (upright, EXIF orientation applied) and as it is stored.

The app decodes every photo upright, so a box drawn in the window, or given to ``multigrain teach``, is
a fraction of the upright photo. X-VLM's record loader (``core.records.open_image``) reads the stored
pixels as they are, as X-VLM does for COCO and RefCOCO, whose boxes were drawn on the stored pixels. A
box handed to training must therefore be turned back into the stored image's pixels.

EXIF orientation values (TIFF 6.0), named by the transpose that makes the stored pixels upright (Pillow's
``ImageOps.exif_transpose``): 1 none, 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom,
5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise. Torch-free.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]  # x, y, w, h

# Where an upright point (u, v), as fractions of the upright width and height, lies in the stored image
# (s, t), as fractions of the stored width and height. Each is the inverse of the upright transpose.
_STORED_POINT = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (v, 1 - u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (1 - v, u),
}


def valid_orientation(value: object) -> int:
    """The orientation an EXIF value means: 1 to 8, anything else (missing, damaged) as 1 (none)."""
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def swaps_sides(orientation: int) -> bool:
    """Whether the upright photo's width is the stored height (a quarter turn)."""
    return valid_orientation(orientation) >= 5


def upright_fraction_to_stored_pixels(box: Box, orientation: int, stored_size: tuple[int, int]) -> Box:
    """``box`` (x, y, w, h as fractions of the upright photo) in pixels of the stored image, whose size
    is ``stored_size`` (width, height) as Pillow opens it, before any orientation is applied."""
    x, y, w, h = box
    point = _STORED_POINT[valid_orientation(orientation)]
    corners = [point(u, v) for u, v in ((x, y), (x + w, y + h))]
    s0, s1 = sorted(c[0] for c in corners)
    t0, t1 = sorted(c[1] for c in corners)
    width, height = stored_size
    return (s0 * width, t0 * height, (s1 - s0) * width, (t1 - t0) * height)
