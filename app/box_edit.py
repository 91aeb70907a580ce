"""Moving and resizing a box by its edges, in fractions of the photo (no Qt: the teach dialog's canvas
turns pixels into fractions and back).

A press near an edge or a corner takes that grip; a press inside the box takes the whole box; anywhere
else starts a new box. Grips are named by the edges they move ("left", "top-right", ...), so a drag
is one rule per edge; the box never leaves the photo and never gets thinner than ``min_side``.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the photo

MOVE = "move"
EDGES = ("left", "top", "right", "bottom")


def grip_at(box: Box, x: float, y: float, tol_x: float, tol_y: float) -> str | None:
    """Which grip of ``box`` the point (fractions) takes: an edge, a corner ("top-left"), ``MOVE``
    inside, or None outside. ``tol_x``/``tol_y``: how far from an edge still holds it (fractions;
    the canvas passes a few pixels, which are different fractions across and down)."""
    x0, y0, w, h = box
    x1, y1 = x0 + w, y0 + h
    within_x = x0 - tol_x <= x <= x1 + tol_x
    within_y = y0 - tol_y <= y <= y1 + tol_y
    if not (within_x and within_y):
        return None
    # The nearer edge wins when a small box brings both within reach.
    horizontal = None
    if abs(x - x0) <= tol_x or abs(x - x1) <= tol_x:
        horizontal = "left" if abs(x - x0) <= abs(x - x1) else "right"
    vertical = None
    if abs(y - y0) <= tol_y or abs(y - y1) <= tol_y:
        vertical = "top" if abs(y - y0) <= abs(y - y1) else "bottom"
    if horizontal and vertical:
        return f"{vertical}-{horizontal}"
    if horizontal or vertical:
        return horizontal or vertical
    return MOVE if x0 < x < x1 and y0 < y < y1 else None


def drag_box(box: Box, grip: str, dx: float, dy: float, min_side: float) -> Box:
    """``box`` after its ``grip`` moved by (dx, dy) fractions: the edges the grip names follow the
    pointer (no further than the photo's border, or ``min_side`` from the opposite edge); ``MOVE``
    shifts the whole box, stopping at the border with its size kept."""
    x0, y0, w, h = box
    if grip == MOVE:
        nx = min(max(x0 + dx, 0.0), 1.0 - w)
        ny = min(max(y0 + dy, 0.0), 1.0 - h)
        return (nx, ny, w, h)
    edges = set(grip.split("-"))
    unknown = edges - set(EDGES)
    if unknown:
        raise ValueError(f"not a grip: {grip!r}")
    x1, y1 = x0 + w, y0 + h
    if "left" in edges:
        x0 = min(max(x0 + dx, 0.0), x1 - min_side)
    if "right" in edges:
        x1 = max(min(x1 + dx, 1.0), x0 + min_side)
    if "top" in edges:
        y0 = min(max(y0 + dy, 0.0), y1 - min_side)
    if "bottom" in edges:
        y1 = max(min(y1 + dy, 1.0), y0 + min_side)
    return (x0, y0, x1 - x0, y1 - y0)
