"""Zoom-in box refinement: ground a text once in the whole photo, then again in a window around that box.

Why: a model that sees the photo as a coarse patch grid (the demo model: 160 px through 16 px patches,
10 x 10) finds small referents but sizes their boxes badly: a referent of 2-5 % of the photo covers a
few patches, and the box head's size regresses towards the typical size (too large). Cropping a window
around the first box and grounding again shows the model the same referent at several times the pixels,
where it sizes boxes well. The second box, mapped back to the photo, is the answer.

The window is the first box grown ``growth`` times on each axis, at least ``min_share`` of the photo's
side (context for the text's relations, and no extreme zoom on a tiny first guess), shifted (not cut)
to stay inside the photo, and snapped to whole pixels because a crop is. The defaults were chosen on the
world's validation split (docs/demo_model.md); the test split was scored once with them.

Torch-free: the engine's evaluation and the app's runtime share this geometry.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from core.arg_types import finite_float
from core.errors import KnownError

Box = tuple[float, float, float, float]  # cx, cy, w, h as fractions of the image
Window = tuple[int, int, int, int]  # left, top, right, bottom in pixels (PIL's crop box)


class ZoomError(ValueError):
    """Zoom settings that make no window (a command turns it into a one-line message)."""


@dataclass(frozen=True)
class Zoom:
    growth: float = 1.5  # window side = growth x the first box's side ...
    min_share: float = 0.4  # ... but at least this share of the photo's side

    def __post_init__(self) -> None:
        if not self.growth >= 1.0:
            raise ZoomError(f"zoom growth must be at least 1 (the window holds the box), got {self.growth}")
        if not 0.0 < self.min_share <= 1.0:
            raise ZoomError(f"zoom min share must be in (0, 1], got {self.min_share}")


def _span(centre: float, size: float, growth: float, min_share: float, extent: int) -> tuple[int, int]:
    """Start and end pixel of the window along one axis of ``extent`` pixels."""
    length = min(1.0, max(growth * size, min_share)) * extent
    length = max(1, min(extent, round(length)))
    start = round(min(max(centre * extent - length / 2, 0.0), extent - length))
    return start, start + length


def zoom_window(box: Box, width: int, height: int, zoom: Zoom) -> Window:
    """The crop (left, top, right, bottom) in pixels around ``box`` in a ``width`` x ``height`` photo."""
    cx, cy, w, h = (float(v) for v in box)
    left, right = _span(cx, w, zoom.growth, zoom.min_share, width)
    top, bottom = _span(cy, h, zoom.growth, zoom.min_share, height)
    return left, top, right, bottom


def box_from_window(box: Box, window: Window, width: int, height: int) -> Box:
    """A box predicted in the crop ``window`` (fractions of the crop) as fractions of the whole photo."""
    cx, cy, w, h = (float(v) for v in box)
    left, top, right, bottom = window
    ww, wh = right - left, bottom - top
    return (left + cx * ww) / width, (top + cy * wh) / height, w * ww / width, h * wh / height


# ----- the command-line options that ask for it (evaluate, ground, bench-ground) ---------------------
def zoom_args(p: argparse.ArgumentParser, switch: bool = True) -> None:
    """Options of the zoom-in box refinement (this module's ``Zoom``); without
    ``switch`` no ``--no-zoom`` (a command that always reports both passes)."""
    default = Zoom()
    if switch:
        p.add_argument(
            "--no-zoom",
            action="store_true",
            help="one grounding pass only (no zoom-in refinement of the box)",
        )
    p.add_argument(
        "--zoom-growth",
        type=finite_float,
        default=default.growth,
        help=f"zoom window side as a multiple of the first box's side (default {default.growth})",
    )
    p.add_argument(
        "--zoom-min-share",
        type=finite_float,
        default=default.min_share,
        help=f"smallest zoom window side, as a share of the photo's side (default {default.min_share})",
    )


def zoom_from_args(args: argparse.Namespace) -> Zoom | None:
    """The ``Zoom`` that ``zoom_args``' options ask for (None: ``--no-zoom``); bad values are a
    ``KnownError`` naming them."""
    if getattr(args, "no_zoom", False):
        return None
    try:
        return Zoom(args.zoom_growth, args.zoom_min_share)
    except ZoomError as err:
        raise KnownError(str(err)) from err
