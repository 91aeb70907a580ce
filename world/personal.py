"""Personal instances: a few named individuals of existing kinds, for teaching a name and measuring it.

An individual ("Rex", a dog) has its own look: a body colour with stripes or spots in a second colour,
drawn the same way in every photo.  Each individual appears in several photos, mostly beside other
instances of its kind with other looks (the look-alikes a name must be told from); photos of those
kinds without any individual are the rest of the gallery.  The first TEACH_PHOTOS photos of each
individual are its teaching pool (k = 1, 3, 5 take the first k); the rest are held out.

Random streams are keyed apart from the main world's (PERSONAL_STREAM), so switching this part on
changes no byte of the main world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backgrounds import BACKGROUNDS
from .catalogue import COLOUR_NAMES, KIND_BY_NAME, KINDS, Kind
from .degrade import degrade, encode_jpeg
from .layout import SIZE_BANDS, PlacedObject, PlannedObject, image_size, place_objects
from .render import composite
from .scene import placed_boxes
from .writer import dumps, write_json

PERSONAL_STREAM = 7_001  # spawn-key prefix of the personal photos' random streams
TEACH_PHOTOS = 5
PATTERNS = ("stripes", "spots")
# Names and kinds: two individuals of a kind where grounding must pick one of two look-alikes.
NAMED: tuple[tuple[str, str], ...] = (
    ("Rex", "dog"),
    ("Bella", "dog"),
    ("Milo", "cat"),
    ("Luna", "cat"),
    ("Bolt", "car"),
    ("Daisy", "horse"),
)
PLACE_ATTEMPTS = 20


@dataclass(frozen=True)
class Look:
    """How one instance is coloured; pattern None is the emoji's own colours (body and marks None too)."""

    body: str | None
    pattern: str | None
    marks: str | None

    def words(self) -> str:
        """The look as a person would describe it: "red with white stripes"."""
        if self.pattern is None:
            return ""
        return f"{self.body} with {self.marks} {self.pattern}"


@dataclass(frozen=True)
class Individual:
    name: str
    kind: Kind
    look: Look

    def description(self) -> str:
        """Kind word plus colour words, the baseline a person could type without teaching."""
        return f"a {self.look.body} {self.kind.name} with {self.look.marks} {self.look.pattern}"


def _random_look(rng: np.random.Generator) -> Look:
    body, marks = rng.choice(len(COLOUR_NAMES), size=2, replace=False)
    return Look(COLOUR_NAMES[int(body)], PATTERNS[int(rng.integers(len(PATTERNS)))], COLOUR_NAMES[int(marks)])


def individuals(seed: int) -> tuple[Individual, ...]:
    """The named individuals of a world seed, each with a look no other individual of its kind has."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(PERSONAL_STREAM,)))
    out: list[Individual] = []
    for name, kind_name in NAMED:
        taken = {i.look for i in out if i.kind.name == kind_name}
        look = _random_look(rng)
        while look in taken:
            look = _random_look(rng)
        out.append(Individual(name, KIND_BY_NAME[kind_name], look))
    return tuple(out)


def look_alike(rng: np.random.Generator, kind: Kind, named: tuple[Individual, ...]) -> Look:
    """Another instance of the kind: the emoji's own colours, or a look no individual has; a third of the
    marked ones share an individual's body colour (only the marks tell them apart)."""
    if rng.random() < 0.25:
        return Look(None, None, None)
    own = [i.look for i in named if i.kind is kind]
    while True:
        look = _random_look(rng)
        if own and rng.random() < 1 / 3:
            look = Look(own[int(rng.integers(len(own)))].body, look.pattern, look.marks)
        if look not in own and look.body != look.marks:
            return look


@dataclass(frozen=True)
class PhotoPlan:
    index: int
    kind: Kind
    individual: Individual | None  # None: a distractor photo of the kind
    split: str  # "teach" or "test"


def photo_plans(named: tuple[Individual, ...], per_individual: int) -> list[PhotoPlan]:
    """Photos of each individual (teaching pool first), then per kind as many photos without one."""
    plans: list[PhotoPlan] = []
    for ind in named:
        for j in range(per_individual):
            split = "teach" if j < TEACH_PHOTOS else "test"
            plans.append(PhotoPlan(len(plans), ind.kind, ind, split))
    for kind in dict.fromkeys(i.kind for i in named):
        plans.extend(PhotoPlan(len(plans), kind, None, "test") for _ in range(per_individual))
    return plans


def _instance(
    rng: np.random.Generator, kind: Kind, look: Look, base: float, name: str | None
) -> PlannedObject:
    """A medium or large instance of the kind: large enough that a box on it means something."""
    lo, hi = SIZE_BANDS[1] if rng.random() < 0.7 else (SIZE_BANDS[1][1], SIZE_BANDS[2][0])
    flip = bool(rng.random() < 0.5)
    angle = float(rng.uniform(-10, 10)) if rng.random() < 0.25 else 0.0
    return PlannedObject(
        kind, look.body, round(float(rng.uniform(lo, hi)) * base), flip, angle, look.pattern, look.marks, name
    )


def _bystander(rng: np.random.Generator, kind: Kind, base: float) -> PlannedObject:
    """An object of another kind, in the main world's own colours and sizes."""
    other = KINDS[int(rng.integers(len(KINDS)))]
    while other is kind:
        other = KINDS[int(rng.integers(len(KINDS)))]
    colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))] if other.colourable else None
    lo, hi = SIZE_BANDS[int(rng.integers(2))]
    return PlannedObject(
        other, colour, round(float(rng.uniform(lo, hi)) * base), bool(rng.random() < 0.5), 0.0
    )


def _plan_objects(
    rng: np.random.Generator, plan: PhotoPlan, named: tuple[Individual, ...], base: float
) -> list[PlannedObject]:
    objects = []
    if plan.individual is not None:
        objects.append(_instance(rng, plan.kind, plan.individual.look, base, plan.individual.name))
        n_alike = int(rng.choice(3, p=[0.2, 0.55, 0.25]))
    else:
        n_alike = 1 + int(rng.integers(3))
    objects += [
        _instance(rng, plan.kind, look_alike(rng, plan.kind, named), base, None) for _ in range(n_alike)
    ]
    objects += [_bystander(rng, plan.kind, base) for _ in range(int(rng.integers(3)))]
    order = rng.permutation(len(objects))
    return [objects[i] for i in order]


def _wanted(placed: list[PlacedObject], plan: PhotoPlan) -> bool:
    """The individual made it into the photo, or a distractor photo holds at least one of the kind."""
    if plan.individual is not None:
        return any(p.name == plan.individual.name for p in placed)
    return any(p.kind is plan.kind for p in placed)


def build_photo(seed: int, plan: PhotoPlan, named: tuple[Individual, ...]) -> tuple[Any, int, dict[str, Any]]:
    """One personal photo: the degraded image, its JPEG quality and its record."""
    root = np.random.SeedSequence(entropy=seed, spawn_key=(PERSONAL_STREAM, plan.index))
    layout_rng, degrade_rng = (np.random.default_rng(s) for s in root.spawn(2))
    width, height = image_size(layout_rng)
    base = math.sqrt(width * height)
    for _ in range(PLACE_ATTEMPTS):
        objects = _plan_objects(layout_rng, plan, named, base)
        placed, owner = place_objects(layout_rng, objects, width, height)
        if _wanted(placed, plan):
            break
    else:
        raise RuntimeError(f"personal photo {plan.index}: its subject could not be placed")
    background = BACKGROUNDS[int(layout_rng.integers(len(BACKGROUNDS)))]
    canvas = composite(background.paint(layout_rng, height, width), placed)
    image, quality = degrade(canvas, degrade_rng)
    record = {
        "image": f"personal/images/{plan.index:06d}.jpg",
        "image_id": f"personal_{plan.index:06d}",
        "width": width,
        "height": height,
        "split": plan.split,
        "kind": plan.kind.name,
        "individual": plan.individual.name if plan.individual else None,
        "background": background.name,
        "objects": [
            _object_record(p, box) for p, box in zip(placed, placed_boxes(placed, owner), strict=True)
        ],
    }
    return image, quality, record


def _object_record(placed: PlacedObject, box: tuple[int, int, int, int]) -> dict[str, Any]:
    return {
        "kind": placed.kind.name,
        "individual": placed.name,
        "bb": list(box),
        "body": placed.colour,
        "pattern": placed.pattern,
        "marks": placed.marks,
    }


def generate_personal(out_dir: Path, seed: int, per_individual: int) -> dict[str, int]:
    """Write personal/individuals.json, personal/photos.jsonl and the photos; return counts."""
    if per_individual <= TEACH_PHOTOS:
        raise ValueError(
            f"personal photos per individual must exceed the {TEACH_PHOTOS} teaching photos, "
            f"got {per_individual}"
        )
    named = individuals(seed)
    folder = Path(out_dir) / "personal"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    plans = photo_plans(named, per_individual)
    with (folder / "photos.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for plan in plans:
            image, quality, record = build_photo(seed, plan, named)
            (Path(out_dir) / record["image"]).write_bytes(encode_jpeg(image, quality))
            f.write(dumps(record) + "\n")
    write_json(
        folder / "individuals.json",
        {
            "teach_photos": TEACH_PHOTOS,
            "per_individual": per_individual,
            "individuals": [
                {
                    "name": i.name,
                    "kind": i.kind.name,
                    "body": i.look.body,
                    "pattern": i.look.pattern,
                    "marks": i.look.marks,
                    "description": i.description(),
                }
                for i in named
            ],
        },
    )
    return {"personal_individuals": len(named), "personal_photos": len(plans)}
