"""Procedural background textures and the phrases captions use for them.

Each painter returns a float32 (H, W, 3) array in 0..255 and draws only from the generator it is
given, so a background is a pure function of the image's random stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Painter = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclass(frozen=True)
class Background:
    name: str
    phrases: tuple[str, ...]  # prepositional: "on the beach"
    scenes: tuple[str, ...]  # noun phrase: "a sandy beach"
    paint: Painter


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bicubically."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.random((gh, gw), dtype=np.float32)
    up = Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(up), 0.0, 1.0)


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 255)


def _vgrad(h: int, w: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.float32)


def _blend(img: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return img * (1 - a) + colour * a


def _dots(rng: np.random.Generator, h: int, w: int, count: int, rmax: float) -> np.ndarray:
    """A soft mask of `count` round dots (stars, snowflakes)."""
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    xs = rng.uniform(0, w, count)
    ys = rng.uniform(0, h, count)
    rs = rng.uniform(0.5, rmax, count)
    vs = rng.integers(120, 256, count)
    for x, y, r, v in zip(xs, ys, rs, vs, strict=True):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=int(v))
    return np.asarray(mask, dtype=np.float32) / 255.0


def _sky_band(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    top = _jitter(rng, (70, 130, 215), 20)
    bottom = _jitter(rng, (175, 210, 240), 12)
    return _vgrad(h, w, top, bottom)


def paint_sky(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _sky_band(rng, h, w)
    n = 0.65 * _smooth_noise(rng, h, w, rng.uniform(50, 110)) + 0.35 * _smooth_noise(rng, h, w, 18)
    cover = rng.uniform(0.45, 0.65)
    clouds = np.clip((n - cover) / 0.18, 0, 1) * 0.9
    return _blend(img, _jitter(rng, (245, 245, 250), 8), clouds)


def paint_grass(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = _jitter(rng, (75, 150, 55), 18)
    patches = _smooth_noise(rng, h, w, rng.uniform(25, 60))
    # Blades: noise stretched vertically, so it reads as upright strands.
    blades = np.asarray(
        Image.fromarray(rng.random((max(2, h // 7), w), dtype=np.float32), "F").resize(
            (w, h), Image.Resampling.BILINEAR
        )
    )
    shade = 0.75 + 0.3 * patches + 0.25 * (blades - 0.5)
    img = base[None, None, :] * shade[..., None]
    if rng.random() < 0.5:  # a strip of sky above a horizon
        horizon = int(h * rng.uniform(0.08, 0.25))
        img[:horizon] = _sky_band(rng, horizon, w)
    return img


def paint_beach(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sand = _jitter(rng, (222, 198, 150), 12)
    grain = rng.standard_normal((h, w), dtype=np.float32) * 7
    ripples = 6 * np.sin(ys * rng.uniform(0.15, 0.3) + 3 * _smooth_noise(rng, h, w, 40))
    img = np.broadcast_to(sand, (h, w, 3)) + (grain + ripples)[..., None]
    sea = _jitter(rng, (40, 120, 180), 15)
    waves = 12 * np.sin(ys * rng.uniform(0.4, 0.7) + xs * 0.03 + 4 * _smooth_noise(rng, h, w, 30))
    sea_img = np.broadcast_to(sea, (h, w, 3)) + waves[..., None]
    shore = h * rng.uniform(0.25, 0.45) + h * 0.03 * np.sin(
        xs[0] * rng.uniform(0.02, 0.05) + rng.uniform(0, 6)
    )
    is_sea = ys < shore[None, :]
    img = np.where(is_sea[..., None], sea_img, img)
    foam = np.clip(1 - np.abs(ys - shore[None, :]) / 5.0, 0, 1) * 0.9
    img = _blend(img, np.asarray([245, 245, 240], np.float32), foam)
    sky_h = int(h * rng.uniform(0.0, 0.15))
    if sky_h > 4:
        img[:sky_h] = _sky_band(rng, sky_h, w)
    return img


def paint_snow(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ground = _jitter(rng, (236, 240, 248), 6)
    drifts = _smooth_noise(rng, h, w, rng.uniform(40, 90))
    img = ground[None, None, :] * (0.86 + 0.14 * drifts)[..., None]
    img[..., 2] += 8 * (1 - drifts)  # shadows in snow are blue
    horizon = int(h * rng.uniform(0.15, 0.35))
    sky = _vgrad(horizon, w, _jitter(rng, (150, 160, 175), 10), _jitter(rng, (205, 210, 220), 8))
    img[:horizon] = sky
    flakes = _dots(rng, h, w, int(h * w / rng.uniform(250, 600)), 2.2)
    return _blend(img, np.asarray([255, 255, 255], np.float32), flakes * 0.9)


def paint_night(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _vgrad(h, w, _jitter(rng, (6, 10, 32), 5), _jitter(rng, (25, 35, 80), 10))
    stars = _dots(rng, h, w, int(h * w / rng.uniform(300, 700)), 1.4)
    img = _blend(img, np.asarray([255, 250, 225], np.float32), stars)
    if rng.random() < 0.6:
        moon = Image.new("L", (w, h), 0)
        r = rng.uniform(0.04, 0.08) * min(h, w)
        x, y = rng.uniform(r, w - r), rng.uniform(r, 0.4 * h)
        ImageDraw.Draw(moon).ellipse((x - r, y - r, x + r, y + r), fill=255)
        img = _blend(img, np.asarray([245, 240, 200], np.float32), np.asarray(moon, np.float32) / 255.0)
    return img


def paint_room(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    xs = np.arange(w, dtype=np.float32)
    wall = _jitter(rng, (215, 200, 175), 30)
    period = rng.uniform(14, 40)
    stripes = (np.floor(xs / period) % 2)[None, :] * rng.uniform(0.04, 0.1)
    img = wall[None, None, :] * (0.95 - stripes + 0.05 * _smooth_noise(rng, h, w, 60))[..., None]
    floor_y = int(h * rng.uniform(0.55, 0.75))
    fh = h - floor_y
    wood = _jitter(rng, (150, 100, 60), 20)
    plank_h = rng.uniform(12, 24)
    rows = np.floor(np.arange(fh, dtype=np.float32) / plank_h).astype(np.int64)
    plank_shade = rng.uniform(0.85, 1.1, rows.max() + 1).astype(np.float32)[rows]
    grain = np.asarray(
        Image.fromarray(rng.random((fh, max(2, w // 12)), dtype=np.float32), "F").resize(
            (w, fh), Image.Resampling.BILINEAR
        )
    )
    seams = (np.arange(fh) % plank_h < 1.5).astype(np.float32)[:, None]
    floor = wood[None, None, :] * (plank_shade[:, None] * (0.9 + 0.2 * grain) * (1 - 0.35 * seams))[..., None]
    img[floor_y:] = floor
    img[max(0, floor_y - 6) : floor_y] = _jitter(rng, (245, 245, 240), 8)  # skirting board
    return img


def paint_road(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    grey = rng.uniform(70, 110)
    grain = rng.standard_normal((h, w), dtype=np.float32) * 9
    patches = _smooth_noise(rng, h, w, 50) * 18
    img = np.repeat((grey + grain + patches)[..., None], 3, axis=2)
    line_colour = np.asarray([240, 240, 235] if rng.random() < 0.5 else [235, 190, 40], np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = h * rng.uniform(0.4, 0.65)
    dash = rng.uniform(30, 60)
    dashes = (np.abs(ys - centre) < 3) & ((xs + rng.uniform(0, dash)) % dash < dash * 0.55)
    edges = (np.abs(ys - h * 0.08) < 2.5) | (np.abs(ys - h * 0.92) < 2.5)
    return _blend(img, line_colour, (dashes | edges).astype(np.float32) * 0.9)


def paint_water(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = _jitter(rng, (35, 105, 170), 20)
    warp = 5 * _smooth_noise(rng, h, w, 35)
    waves = np.sin(ys * rng.uniform(0.25, 0.5) + xs * rng.uniform(-0.05, 0.05) + warp)
    img = base[None, None, :] * (0.85 + 0.12 * waves + 0.15 * _smooth_noise(rng, h, w, 80))[..., None]
    glints = np.clip((waves - 0.85) / 0.15, 0, 1) * 0.6
    return _blend(img, np.asarray([200, 230, 250], np.float32), glints)


def paint_desert(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sand = _jitter(rng, (218, 160, 90), 15)
    dunes = np.sin(
        (ys + 25 * np.sin(xs * rng.uniform(0.01, 0.03) + rng.uniform(0, 6))) * rng.uniform(0.03, 0.06)
    )
    shade = 0.85 + 0.12 * dunes + 0.06 * _smooth_noise(rng, h, w, 30)
    img = sand[None, None, :] * shade[..., None] + rng.standard_normal((h, w, 1), dtype=np.float32) * 4
    horizon = int(h * rng.uniform(0.15, 0.35))
    img[:horizon] = _vgrad(horizon, w, _jitter(rng, (110, 160, 220), 15), _jitter(rng, (225, 215, 190), 10))
    return img


def paint_sunset(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    horizon = int(h * rng.uniform(0.6, 0.8))
    t = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    top, mid, low = (
        _jitter(rng, (70, 40, 110), 15),
        _jitter(rng, (225, 95, 80), 15),
        _jitter(rng, (250, 185, 70), 10),
    )
    sky = np.where(
        t[..., None] < 0.5,
        top * (1 - 2 * t[..., None]) + mid * 2 * t[..., None],
        mid * (2 - 2 * t[..., None]) + low * (2 * t[..., None] - 1),
    )
    img = np.empty((h, w, 3), np.float32)
    img[:horizon] = np.broadcast_to(sky, (horizon, w, 3))
    sun = Image.new("L", (w, h), 0)
    r = rng.uniform(0.06, 0.12) * min(h, w)
    x = rng.uniform(r, w - r)
    ImageDraw.Draw(sun).ellipse((x - r, horizon - r * 0.8, x + r, horizon + r * 1.2), fill=255)
    img[horizon:] = _jitter(rng, (50, 30, 45), 10)
    img = _blend(img, np.asarray([255, 225, 140], np.float32), np.asarray(sun, np.float32) / 255.0)
    # The ground in front of the sun stays dark: it is a silhouette.
    img[horizon:] = (
        _jitter(rng, (45, 28, 40), 10)[None, None, :]
        * (0.8 + 0.4 * _smooth_noise(rng, h - horizon, w, 40))[..., None]
    )
    return img


BACKGROUNDS: tuple[Background, ...] = (
    Background(
        "sky", ("in the sky", "against a blue sky", "under a cloudy sky"), ("a cloudy sky",), paint_sky
    ),
    Background(
        "grass", ("on the grass", "in a green field", "on a lawn"), ("a grassy field", "a lawn"), paint_grass
    ),
    Background(
        "beach", ("on the beach", "on a sandy beach", "by the sea"), ("a sandy beach", "a beach"), paint_beach
    ),
    Background(
        "snow", ("in the snow", "on snowy ground", "in a snowy landscape"), ("a snowy landscape",), paint_snow
    ),
    Background(
        "night",
        ("at night", "under a starry night sky", "on a dark night"),
        ("a starry night sky",),
        paint_night,
    ),
    Background("room", ("in a room", "indoors", "in a living room"), ("a living room", "a room"), paint_room),
    Background(
        "road",
        ("on the road", "on a street", "on an asphalt road"),
        ("a street", "an asphalt road"),
        paint_road,
    ),
    Background(
        "water", ("on the water", "on a lake", "on blue water"), ("a blue lake", "calm water"), paint_water
    ),
    Background(
        "desert",
        ("in the desert", "on sand dunes", "in a sandy desert"),
        ("a desert", "sand dunes"),
        paint_desert,
    ),
    Background("sunset", ("at sunset", "under an orange sunset sky", "at dusk"), ("a sunset",), paint_sunset),
)

BACKGROUND_BY_NAME: dict[str, Background] = {b.name: b for b in BACKGROUNDS}
