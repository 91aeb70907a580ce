"""Scene layout: which objects, how large, and where, with occlusion bookkeeping.

Objects are pasted in order, later over earlier.  A pixel belongs to the topmost object whose alpha
there is at least one half (the `owner` map).  A new object is only accepted at a position where every
earlier object keeps at least MIN_VISIBLE of its own pixels, so no kept object is mostly hidden, and
an object that finds no such position is left out before it is drawn (nothing unlabelled is drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .catalogue import COLOUR_NAMES, KINDS, Kind
from .sprites import transformed

MIN_VISIBLE = 0.55  # a little above one half, so that "at least half visible" holds with margin
PLACEMENT_TRIES = 30

# Object counts 1..6 and their weights.
COUNT_WEIGHTS = np.array([0.12, 0.2, 0.22, 0.2, 0.14, 0.12])
# Longer sprite side as a fraction of sqrt(W*H): small, medium, large bands with gaps between them,
# so the size words taken from the boxes are rarely borderline.
SIZE_BANDS = ((0.08, 0.16), (0.22, 0.34), (0.42, 0.62))
SIZE_WEIGHTS = np.array([0.45, 0.35, 0.2])


@dataclass
class PlannedObject:
    kind: Kind
    colour: str | None
    longer_side: int
    flip: bool
    angle: float
    pattern: str | None = None  # an individual's marks (world/personal.py); None in the main world
    marks: str | None = None
    name: str | None = None  # the individual's name, carried through placement


@dataclass
class PlacedObject:
    kind: Kind
    colour: str | None
    patch: np.ndarray  # uint8 RGBA
    x: int
    y: int
    pattern: str | None = None
    marks: str | None = None
    name: str | None = None


def image_size(rng: np.random.Generator) -> tuple[int, int]:
    """Width and height each in 256..448, so aspect ratios range from about 4:7 to 7:4."""
    w, h = rng.integers(256, 449, size=2)
    return int(w), int(h)


def plan_objects(rng: np.random.Generator, width: int, height: int) -> list[PlannedObject]:
    n = int(rng.choice(len(COUNT_WEIGHTS), p=COUNT_WEIGHTS)) + 1
    base = math.sqrt(width * height)
    plans: list[PlannedObject] = []
    have_large = False
    for _ in range(n):
        # Repeat a kind already in the scene now and then, so counts ("two dogs") and referring
        # expressions that must tell two of a kind apart occur.
        repeat = bool(plans) and rng.random() < 0.25
        if repeat:
            kind = plans[int(rng.integers(len(plans)))].kind
            if sum(p.kind is kind for p in plans) >= 3:
                kind = KINDS[int(rng.integers(len(KINDS)))]
        else:
            kind = KINDS[int(rng.integers(len(KINDS)))]
        colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))] if kind.colourable else None
        band = int(rng.choice(3, p=SIZE_WEIGHTS))
        if band == 2 and have_large:
            band = 1
        have_large |= band == 2
        lo, hi = SIZE_BANDS[band]
        # Capped so a slightly rotated sprite still fits inside the image.
        longer = round(min(float(rng.uniform(lo, hi)) * base, 0.8 * min(width, height)))
        flip = bool(rng.random() < 0.5)
        angle = float(rng.uniform(-10, 10)) if rng.random() < 0.25 else 0.0
        plans.append(PlannedObject(kind, colour, max(12, longer), flip, angle))
    if rng.random() < 0.75:
        # Mostly large first: small things on top stay fully visible, as in photos of small things
        # in front of big ones; the rest keep a random order so small things get occluded too.
        order = np.argsort([-p.longer_side for p in plans], kind="stable")
        plans = [plans[i] for i in order]
    return plans


def place_objects(
    rng: np.random.Generator, plans: list[PlannedObject], width: int, height: int
) -> tuple[list[PlacedObject], np.ndarray]:
    """Place planned objects in order; return the accepted ones and the owner map (-1 = background)."""
    owner = np.full((height, width), -1, dtype=np.int16)
    placed: list[PlacedObject] = []
    full: list[int] = []
    visible: list[int] = []
    for plan in plans:
        patch = transformed(
            plan.kind.name, plan.colour, plan.longer_side, plan.flip, plan.angle, plan.pattern, plan.marks
        )
        ph, pw = patch.shape[:2]
        mask = patch[..., 3] >= 128
        own = int(mask.sum())
        if own == 0 or pw > width or ph > height:
            continue
        for _ in range(PLACEMENT_TRIES):
            x = int(rng.integers(0, width - pw + 1))
            y = int(rng.integers(0, height - ph + 1))
            under = owner[y : y + ph, x : x + pw][mask]
            lost = np.bincount(under.astype(np.int64) + 1, minlength=len(placed) + 1)[1:]
            if all(v - lo >= MIN_VISIBLE * f for v, lo, f in zip(visible, lost, full, strict=True)):
                break
        else:
            continue
        for i, lo in enumerate(lost):
            visible[i] -= int(lo)
        k = len(placed)
        owner[y : y + ph, x : x + pw][mask] = k
        placed.append(PlacedObject(plan.kind, plan.colour, patch, x, y, plan.pattern, plan.marks, plan.name))
        full.append(own)
        visible.append(own)
    return placed, owner


def visible_box(owner: np.ndarray, index: int) -> tuple[int, int, int, int]:
    """Integer [x, y, w, h] of the pixels object `index` still owns."""
    ys, xs = np.nonzero(owner == index)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1
