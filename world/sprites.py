"""Emoji sprites: render each kind once from the Noto Color Emoji font, crop, cache and recolour.

The font is a bitmap (CBDT) font, which FreeType only opens at its native size 109, so every sprite
is drawn once at that size and resized afterwards.  Caches are per process, so pool workers each build
their own, and building is deterministic, so that does not change any output byte.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .catalogue import COLOURS, KIND_BY_NAME
from .hsv import dominant_hue, hue_distance, rgb_to_hsv

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_PACKAGE = "fonts-noto-color-emoji"
_NATIVE_SIZE = 109
_CANVAS = 200


class EmojiFontMissing(RuntimeError):
    pass


@cache
def _font() -> ImageFont.FreeTypeFont:
    if not FONT_PATH.is_file():
        raise EmojiFontMissing(
            f"the emoji font {FONT_PATH} is missing; install the Debian package {FONT_PACKAGE} "
            f"(apt-get install -y {FONT_PACKAGE})"
        )
    return ImageFont.truetype(str(FONT_PATH), _NATIVE_SIZE)


def check_font() -> None:
    """Raise EmojiFontMissing early, before any worker starts."""
    _font()


@cache
def base_sprite(kind_name: str) -> Image.Image:
    """The kind's emoji as an RGBA image cropped to its alpha bounding box."""
    kind = KIND_BY_NAME[kind_name]
    canvas = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((20, 20), kind.emoji, font=_font(), embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise RuntimeError(f"the emoji font has no glyph for {kind_name!r}")
    return canvas.crop(box)


@cache
def body_mask(kind_name: str) -> np.ndarray:
    """Pixels of the sprite's main coloured part (the car body, the balloon), the part a colour names."""
    rgba = np.asarray(base_sprite(kind_name))
    alpha = rgba[..., 3] >= 128
    peak = dominant_hue(rgba[..., :3], alpha, min_saturation=0.15)
    if peak is None:
        raise RuntimeError(f"sprite {kind_name!r} has no dominant colour to recolour")
    h, s, v = rgb_to_hsv(rgba[..., :3])
    return (rgba[..., 3] > 0) & (s >= 0.12) & (v >= 0.12) & (hue_distance(h, peak) <= 30.0)


@cache
def sprite(kind_name: str, colour: str | None) -> Image.Image:
    """The sprite, with its main body recoloured to the named colour when one is given."""
    base = base_sprite(kind_name)
    if colour is None:
        return base
    rgba = np.asarray(base).astype(np.float32)
    mask = body_mask(kind_name)
    _, _, v = rgb_to_hsv(rgba[..., :3])
    # Keep the sprite's own shading: the body gets the target colour plus each pixel's deviation
    # from the body's mean brightness, so highlights and shadows survive the recolouring.
    shade = (v[mask] - float(v[mask].mean())) * 255.0 * 0.8
    target = np.asarray(COLOURS[colour], dtype=np.float32)
    rgba[mask, :3] = np.clip(target[None, :] + shade[:, None], 0, 255)
    return Image.fromarray(rgba.round().astype(np.uint8), "RGBA")


@cache
def marked_sprite(kind_name: str, colour: str, pattern: str, marks: str) -> Image.Image:
    """The sprite recoloured to `colour`, with `pattern` ("stripes" or "spots") painted over its body in
    the colour `marks`: the look of one particular individual (world/personal.py), drawn the same way
    every time so that the same individual looks the same in every photo."""
    rgba = np.asarray(sprite(kind_name, colour)).astype(np.float32)
    mask = body_mask(kind_name) & _pattern_mask(rgba.shape[0], rgba.shape[1], pattern)
    _, _, v = rgb_to_hsv(rgba[..., :3])
    shade = (v[mask] - float(v[mask].mean())) * 255.0 * 0.5 if mask.any() else 0.0
    target = np.asarray(COLOURS[marks], dtype=np.float32)
    rgba[mask, :3] = np.clip(target[None, :] + np.reshape(shade, (-1, 1)), 0, 255)
    return Image.fromarray(rgba.round().astype(np.uint8), "RGBA")


def _pattern_mask(height: int, width: int, pattern: str) -> np.ndarray:
    """Where a pattern's marks go, in sprite pixels; sized to the sprite, so it scales with it."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    period = max(height, width) / 4.0
    if pattern == "stripes":  # diagonal bands, a third of each period wide
        return ((xs + ys) % period) < period / 3.0
    if pattern == "spots":  # a staggered grid of round spots
        row = np.floor(ys / period)
        cx = (np.floor(xs / period - 0.5 * (row % 2)) + 0.5 + 0.5 * (row % 2)) * period
        cy = (row + 0.5) * period
        return (xs - cx) ** 2 + (ys - cy) ** 2 < (0.3 * period) ** 2
    raise ValueError(f"unknown pattern {pattern!r}")


def transformed(
    kind_name: str,
    colour: str | None,
    longer_side: int,
    flip: bool,
    angle: float,
    pattern: str | None = None,
    marks: str | None = None,
) -> np.ndarray:
    """The sprite mirrored, rotated and resized so its longer side is `longer_side`, as uint8 RGBA; with
    a `pattern`, its body is `colour` marked with `marks` (both named colours)."""
    if pattern is None:
        im = sprite(kind_name, colour)
    else:
        if colour is None or marks is None:
            raise ValueError("a pattern needs a body colour and a marks colour")
        im = marked_sprite(kind_name, colour, pattern, marks)
    if flip:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    # Premultiplied alpha ("RGBa") while resampling, so transparent pixels do not bleed dark fringes.
    im = im.convert("RGBa")
    if angle:
        im = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    scale = longer_side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    im = im.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    box = im.getchannel("A").getbbox()
    if box is not None:
        im = im.crop(box)
    return np.asarray(im)
