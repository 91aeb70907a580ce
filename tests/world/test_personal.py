"""Personal instances in the world: off by default, and when on, named individuals among look-alikes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tree_hashes import tree_hashes

from world import generate_world
from world.generate import WorldArgumentError
from world.personal import NAMED, TEACH_PHOTOS, individuals

N = 6
SEED = 3
PER = 7


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    plain = tmp_path_factory.mktemp("plain")
    personal = tmp_path_factory.mktemp("personal")
    generate_world(plain, N, SEED)
    summary = generate_world(personal, N, SEED, personal=PER)
    assert summary["personal_photos"] == PER * (len(NAMED) + len({k for _, k in NAMED}))
    return plain, personal


def _photos(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "personal" / "photos.jsonl").read_text().splitlines()]


def test_the_main_world_is_byte_identical_with_personal_instances_on(worlds: tuple[Path, Path]) -> None:
    plain, personal = worlds
    extra = tree_hashes(personal)
    assert not (plain / "personal").exists()
    assert {k: v for k, v in extra.items() if not k.startswith("personal/")} == tree_hashes(plain)
    assert len([k for k in extra if k.startswith("personal/images/")]) == len(_photos(personal))


def test_each_individual_is_boxed_once_per_photo_among_look_alikes(worlds: tuple[Path, Path]) -> None:
    photos = _photos(worlds[1])
    looks = {i.name: (i.look.body, i.look.pattern, i.look.marks) for i in individuals(SEED)}
    kind_looks = {(i.kind.name, *looks[i.name]) for i in individuals(SEED)}
    with_alike: Counter[str] = Counter()
    for photo in photos:
        name = photo["individual"]
        shown = [o for o in photo["objects"] if o["individual"] is not None]
        same_kind = [o for o in photo["objects"] if o["kind"] == photo["kind"]]
        if name is None:  # a distractor photo: only look-alikes of the kind
            assert not shown and same_kind
            assert all((o["kind"], o["body"], o["pattern"], o["marks"]) not in kind_looks for o in same_kind)
            continue
        assert [o["individual"] for o in shown] == [name]
        assert (shown[0]["body"], shown[0]["pattern"], shown[0]["marks"]) == looks[name]
        x, y, w, h = shown[0]["bb"]
        assert min(x, y) >= 0 and x + w <= photo["width"] and y + h <= photo["height"] and w * h > 0
        with_alike[name] += len(same_kind) >= 2
    splits = Counter((p["individual"], p["split"]) for p in photos if p["individual"])
    for name, _ in NAMED:
        assert splits[(name, "teach")] == TEACH_PHOTOS and splits[(name, "test")] == PER - TEACH_PHOTOS
    assert sum(with_alike.values()) >= 0.5 * len(NAMED) * PER  # grounding must pick among look-alikes


def test_individuals_of_a_kind_look_different_and_are_fixed_by_the_seed() -> None:
    a, b = individuals(SEED), individuals(SEED)
    assert a == b
    by_kind = Counter((i.kind.name, i.look) for i in a)
    assert max(by_kind.values()) == 1
    assert individuals(SEED + 1) != a


def test_too_few_personal_photos_is_a_bad_argument(tmp_path: Path) -> None:
    with pytest.raises(WorldArgumentError, match="teaching photos"):
        generate_world(tmp_path, 2, SEED, personal=TEACH_PHOTOS)
