"""The personal part of the synthetic world (world/personal.py) as the benchmark reads it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

Box = tuple[float, float, float, float]  # x, y, w, h in photo pixels


@dataclass(frozen=True)
class Instance:
    kind: str
    individual: str | None
    box: Box


@dataclass(frozen=True)
class PersonalPhoto:
    path: Path
    width: int
    height: int
    split: str  # "teach" or "test"
    kind: str  # the kind the photo was made for
    individual: str | None  # the named individual it shows, if any
    background: str
    instances: tuple[Instance, ...]

    def box_of(self, name: str) -> Box:
        return next(i.box for i in self.instances if i.individual == name)

    def same_kind(self, kind: str) -> list[Instance]:
        return [i for i in self.instances if i.kind == kind]


@dataclass(frozen=True)
class NamedThing:
    name: str
    kind: str
    description: str  # kind word plus colour words, the baseline query


@dataclass(frozen=True)
class PersonalWorld:
    names: tuple[NamedThing, ...]
    photos: tuple[PersonalPhoto, ...]
    teach_photos: int

    def teaching(self, name: str, k: int) -> list[PersonalPhoto]:
        """The first k photos of the name's teaching pool, in the world's order."""
        return [p for p in self.photos if p.individual == name and p.split == "teach"][:k]

    def held_out(self) -> list[PersonalPhoto]:
        return [p for p in self.photos if p.split == "test"]


def read_personal_world(root: str | Path) -> PersonalWorld:
    """personal/individuals.json and personal/photos.jsonl under a world folder (scenes --personal N)."""
    folder = Path(root) / "personal"
    if not (folder / "photos.jsonl").is_file():
        raise FileNotFoundError(
            f"{folder} has no photos.jsonl: generate the world with `multigrain scenes --personal N`"
        )
    meta = json.loads((folder / "individuals.json").read_text(encoding="utf-8"))
    names = tuple(NamedThing(i["name"], i["kind"], i["description"]) for i in meta["individuals"])
    photos = []
    for line in (folder / "photos.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        instances = tuple(Instance(o["kind"], o["individual"], tuple(o["bb"])) for o in rec["objects"])
        photos.append(
            PersonalPhoto(
                Path(root) / rec["image"],
                rec["width"],
                rec["height"],
                rec["split"],
                rec["kind"],
                rec["individual"],
                rec["background"],
                instances,
            )
        )
    return PersonalWorld(names, tuple(photos), int(meta["teach_photos"]))
