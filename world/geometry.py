"""Words that follow from boxes: size, position in the image, and relations between two objects.

Everything is decided from box centres with margins, and returns None when the geometry is
ambiguous, so that the text never states something a viewer could dispute.  "left"/"right" are image
left/right, so a horizontal flip of the image swaps them.
"""

from __future__ import annotations

import math

Box = tuple[int, int, int, int]  # x, y, w, h in pixels

# sqrt(box area / image area) thresholds for "small" and "large".
SMALL_MAX = 0.16
LARGE_MIN = 0.32
# Fraction of the image width / height from each edge that counts as left / right, top / bottom.
EDGE_ZONE = 0.35

RELATIONS = ("left of", "right of", "above", "below")
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2.0, box[1] + box[3] / 2.0


def area(box: Box) -> int:
    return box[2] * box[3]


def size_word(box: Box, width: int, height: int) -> str | None:
    rel = math.sqrt(area(box) / float(width * height))
    if rel < SMALL_MAX:
        return "small"
    if rel > LARGE_MIN:
        return "large"
    return None


def position_words(box: Box, width: int, height: int) -> tuple[str | None, str | None]:
    """(horizontal, vertical) words of the box centre: left/right/None and top/bottom/None."""
    cx, cy = centre(box)
    h = "left" if cx < EDGE_ZONE * width else "right" if cx > (1 - EDGE_ZONE) * width else None
    v = "top" if cy < EDGE_ZONE * height else "bottom" if cy > (1 - EDGE_ZONE) * height else None
    return h, v


def position_phrase(h: str | None, v: str | None) -> str:
    if h and v:
        return f"at the {v} {h}"
    if h:
        return f"on the {h}"
    if v:
        return f"at the {v}"
    return "in the centre"


def relation(a: Box, b: Box, width: int, height: int) -> str | None:
    """Where a is relative to b ("left of" means a's centre is clearly left of b's), or None."""
    (ax, ay), (bx, by) = centre(a), centre(b)
    dx, dy = bx - ax, by - ay
    if abs(dx) >= 1.5 * abs(dy) and abs(dx) >= max(0.08 * width, 0.25 * (a[2] + b[2])):
        return "left of" if dx > 0 else "right of"
    if abs(dy) >= 1.5 * abs(dx) and abs(dy) >= max(0.08 * height, 0.25 * (a[3] + b[3])):
        return "above" if dy > 0 else "below"
    return None


def next_to(a: Box, b: Box, width: int, height: int) -> bool:
    """Side by side: a clear left/right relation, overlapping rows and a small horizontal gap."""
    if relation(a, b, width, height) not in ("left of", "right of"):
        return False
    gap = max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2])
    overlap_y = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return gap < 0.1 * width and overlap_y > 0


def loosely(rel: str, a: Box, b: Box, width: int) -> bool:
    """Whether a listener could read `a rel b` as true: the weak version used to test ambiguity."""
    (ax, ay), (bx, by) = centre(a), centre(b)
    if rel == "left of":
        return ax < bx
    if rel == "right of":
        return ax > bx
    if rel == "above":
        return ay < by
    if rel == "below":
        return ay > by
    if rel == "next to":
        gap = max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2])
        return gap < 0.2 * width
    raise ValueError(rel)


def union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0
