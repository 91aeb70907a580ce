"""Five image captions per scene, in different styles and levels of detail.

Counts group objects by kind and colour ("two red cars"), relations come from geometry.relation
between objects that are each the only one of their kind and colour, so every caption is true of
the image.  Most captions name every object with its attributes and the background, so a caption
usually singles out its own image among a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import CATEGORY_NOUNS
from .facts import SceneFacts, SceneObject
from .geometry import area, position_phrase, relation
from .language import NUMBER_WORDS, counted, join_list, noun, relation_text, with_article

POSITION_LIMIT = 3  # objects named with a position in the positional caption; the rest are listed


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]
    kind_name: str
    colour: str | None


def salience_order(facts: SceneFacts) -> list[int]:
    """Largest first: captions name what the eye meets first."""
    return sorted(range(len(facts.objects)), key=lambda i: (-area(facts.objects[i].box), i))


def groups(facts: SceneFacts, indices: list[int]) -> list[Group]:
    """Objects grouped by kind and colour, in the order of `indices`."""
    out: dict[tuple[str, str | None], list[int]] = {}
    for i in indices:
        o = facts.objects[i]
        out.setdefault((o.kind.name, o.colour), []).append(i)
    return [Group(tuple(m), k, c) for (k, c), m in out.items()]


def group_phrase(facts: SceneFacts, g: Group, with_size: bool, other: bool = False) -> str:
    """'a small red car', 'two dogs'; with `other`, 'another dog', 'two other dogs' (when the caption
    has already named one of the same kind and colour, so the count stays right)."""
    first = facts.objects[g.members[0]]
    plural = f"{g.colour} {first.kind.plural}" if g.colour else first.kind.plural
    if other:
        if len(g.members) == 1:
            return f"another {noun(first, colour=True, size=with_size)}"
        return f"{NUMBER_WORDS[len(g.members)]} other {plural}"
    if len(g.members) == 1:
        return with_article(noun(first, colour=True, size=with_size))
    return counted(len(g.members), "", plural)


def _list_all(
    facts: SceneFacts, indices: list[int], rng: np.random.Generator, mentioned: tuple[int, ...] = ()
) -> str:
    seen = {(facts.objects[i].kind.name, facts.objects[i].colour) for i in mentioned}
    return join_list(
        [
            group_phrase(facts, g, rng.random() < 0.5, other=(g.kind_name, g.colour) in seen)
            for g in groups(facts, indices)
        ]
    )


def _unique(facts: SceneFacts, o: SceneObject) -> bool:
    return sum(p.kind is o.kind and p.colour == o.colour for p in facts.objects) == 1


def relational(facts: SceneFacts, order: list[int], bg: str, rng: np.random.Generator) -> str:
    objs = facts.objects
    for a_pos, i in enumerate(order):
        for j in order[a_pos + 1 :]:
            if not (_unique(facts, objs[i]) and _unique(facts, objs[j])):
                continue
            rel = relation(objs[i].box, objs[j].box, facts.width, facts.height)
            if rel is None:
                continue
            a = with_article(noun(objs[i], size=rng.random() < 0.5))
            b = with_article(noun(objs[j], size=rng.random() < 0.5))
            main = f"{a} {relation_text(rel, rng.random())} {b}"
            rest = [k for k in order if k not in (i, j)]
            tail = f", with {_list_all(facts, rest, rng)}" if rest else ""
            if rng.random() < 0.5:
                return f"{main} {bg}{tail}"
            return f"{bg}, {main}{tail}"
    # No clear relation: lead with where the largest object is (worded unlike the positional caption).
    first = objs[order[0]]
    lead = f"{with_article(noun(first, size=True))} {position_phrase(first.hpos, first.vpos)}"
    rest = order[1:]
    tail = f", together with {_list_all(facts, rest, rng, (order[0],))}" if rest else ""
    return f"{lead} {bg}{tail}"


def listing(facts: SceneFacts, order: list[int], scene: str, rng: np.random.Generator) -> str:
    return f"{scene} with {_list_all(facts, order, rng)}"


def positional(facts: SceneFacts, order: list[int], bg: str, rng: np.random.Generator) -> str:
    named = order[:POSITION_LIMIT]
    parts = [
        f"{with_article(noun(facts.objects[i], size=rng.random() < 0.5))} "
        f"{position_phrase(facts.objects[i].hpos, facts.objects[i].vpos)}"
        for i in named
    ]
    text = f"{bg}, {join_list(parts)}"
    rest = order[POSITION_LIMIT:]
    if rest:
        text += f", plus {_list_all(facts, rest, rng, tuple(named))}"
    return text


def summary(facts: SceneFacts, order: list[int], bg: str, rng: np.random.Generator) -> str:
    objs = facts.objects
    if len(objs) == 1:
        return f"a single {noun(objs[0], size=rng.random() < 0.5)} {bg}"
    if rng.random() < 0.6:
        counts: dict[str, int] = {}
        for i in order:
            counts[objs[i].kind.category] = counts.get(objs[i].kind.category, 0) + 1
        parts = [counted(c, *CATEGORY_NOUNS[cat]) for cat, c in counts.items()]
        return f"{join_list(parts)} {bg}"
    top = groups(facts, order)[:2]
    return f"{join_list([group_phrase(facts, g, False) for g in top])} {bg}"


def photo(facts: SceneFacts, order: list[int], bg: str, rng: np.random.Generator) -> str:
    listed = _list_all(facts, order, rng)
    if rng.random() < 0.3:
        first = groups(facts, order)[0]
        verb = "is" if len(first.members) == 1 else "are"
        return f"there {verb} {listed} {bg}"
    prefix = ("a photo of", "a picture of", "an image of", "a photograph showing")[int(rng.integers(4))]
    return f"{prefix} {listed} {bg}"


def captions(facts: SceneFacts, rng: np.random.Generator) -> list[str]:
    """Five captions: relational, scene listing, positional, summary, photo-style."""
    order = salience_order(facts)
    bgs = facts.background

    def phrase() -> str:
        return bgs.phrases[int(rng.integers(len(bgs.phrases)))]

    scene = bgs.scenes[int(rng.integers(len(bgs.scenes)))]
    return [
        relational(facts, order, phrase(), rng),
        listing(facts, order, scene, rng),
        positional(facts, order, phrase(), rng),
        summary(facts, order, phrase(), rng),
        photo(facts, order, phrase(), rng),
    ]
