"""Object labels and referring expressions (region descriptions) for one scene.

An expression is built from features (colour, size word, position words, a relation to another
object).  It is only used when it is true of its subject and no other object of the same kind could
also be read as matching it, judged with the loose reading of each feature (geometry.loosely, and
"small" meaning "clearly the smaller one").  Adding true features to a valid expression keeps it
valid, which is how the shortest valid expression is then embellished with extra attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .facts import SceneFacts, SceneObject
from .geometry import Box, area, loosely, next_to, position_phrase, relation, union
from .language import noun, relation_text, with_article


@dataclass(frozen=True)
class Features:
    colour: bool = False
    size: bool = False
    h: str | None = None
    v: str | None = None
    centre: bool = False
    anchor: int | None = None
    relation: str | None = None  # canonical: "left of", "right of", "above", "below", "next to"
    rank: str | None = None  # relative to the others of its kind: one of RANKS

    @property
    def spatial(self) -> bool:
        return bool(self.h or self.v or self.centre or self.anchor is not None or self.rank in SPATIAL_RANKS)


# "the left giraffe", "the bigger giraffe": comparisons within the kind, for when absolute words fail
# (two giraffes both near the middle).  Each needs a clear margin over every other object of the kind.
SPATIAL_RANKS = ("left", "right", "upper", "lower")
RANKS = (*SPATIAL_RANKS, "bigger", "smaller")
RANK_MARGIN = 0.15  # of the image width / height
RANK_AREA_RATIO = 1.6


@dataclass(frozen=True)
class Expression:
    text: str
    subject: int
    box: Box
    anchor: int | None = None
    relation: str | None = None
    position: str | None = None
    rank: str | None = None
    union: bool = False


def object_attributes(obj: SceneObject) -> list[str]:
    """X-VLM prepends one of these to the kind name: ['red', 'small', 'small red']."""
    attrs = []
    if obj.colour:
        attrs.append(obj.colour)
    if obj.size:
        attrs.append(obj.size)
    if obj.colour and obj.size:
        attrs.append(f"{obj.size} {obj.colour}")
    return attrs


def _holds(facts: SceneFacts, i: int, f: Features) -> bool:
    """Strictly true of object i."""
    o = facts.objects[i]
    if f.colour and o.colour is None:
        return False
    if f.size and o.size is None:
        return False
    if f.h and o.hpos != f.h:
        return False
    if f.v and o.vpos != f.v:
        return False
    if f.centre and (o.hpos or o.vpos):
        return False
    if f.rank is not None and not _extreme(facts, i, f.rank):
        return False
    if f.anchor is not None:
        a = facts.objects[f.anchor]
        if a.kind is o.kind:
            return False
        if f.relation == "next to":
            return next_to(o.box, a.box, facts.width, facts.height)
        return relation(o.box, a.box, facts.width, facts.height) == f.relation
    return True


def _extreme(facts: SceneFacts, i: int, rank: str) -> bool:
    """Whether object i is clearly the `rank` one among the objects of its kind (at least two)."""
    o = facts.objects[i]
    same = [p for j, p in enumerate(facts.objects) if j != i and p.kind is o.kind]
    if not same:
        return False
    (ox, oy), mx, my = o.centre, RANK_MARGIN * facts.width, RANK_MARGIN * facts.height
    tests = {
        "left": lambda p: ox + mx < p.centre[0],
        "right": lambda p: ox - mx > p.centre[0],
        "upper": lambda p: oy + my < p.centre[1],
        "lower": lambda p: oy - my > p.centre[1],
        "bigger": lambda p: area(o.box) > RANK_AREA_RATIO * area(p.box),
        "smaller": lambda p: RANK_AREA_RATIO * area(o.box) < area(p.box),
    }
    return all(tests[rank](p) for p in same)


def _could_match(facts: SceneFacts, i: int, j: int, f: Features) -> bool:
    """Whether a listener could take object j for the object i that f describes."""
    o, other = facts.objects[i], facts.objects[j]
    if other.kind is not o.kind:
        return False
    if f.rank is not None:  # _holds already found i clearly extreme among all of its kind
        return False
    if f.colour and other.colour != o.colour:
        return False
    if f.size:
        if o.size == "small" and not (other.size == "small" or area(other.box) < 2 * area(o.box)):
            return False
        if o.size == "large" and not (other.size == "large" or 2 * area(other.box) > area(o.box)):
            return False
    (ox, oy), (jx, jy) = o.centre, other.centre
    mx, my = 0.15 * facts.width, 0.15 * facts.height
    if (f.h == "left" and jx >= ox + mx) or (f.h == "right" and jx <= ox - mx):
        return False
    if (f.v == "top" and jy >= oy + my) or (f.v == "bottom" and jy <= oy - my):
        return False
    if f.anchor is not None:
        a = facts.objects[f.anchor]
        if not loosely(f.relation, other.box, a.box, facts.width):
            return False
    return True


def is_valid(facts: SceneFacts, i: int, f: Features) -> bool:
    if not _holds(facts, i, f):
        return False
    return not any(j != i and _could_match(facts, i, j, f) for j in range(len(facts.objects)))


def _plain_candidates(o: SceneObject) -> list[Features]:
    """Non-relational feature sets, simplest first."""
    out = [Features(), Features(colour=True), Features(size=True), Features(colour=True, size=True)]
    positions = []
    if o.hpos:
        positions.append(Features(h=o.hpos))
    if o.vpos:
        positions.append(Features(v=o.vpos))
    if o.hpos and o.vpos:
        positions.append(Features(h=o.hpos, v=o.vpos))
    if not (o.hpos or o.vpos):
        positions.append(Features(centre=True))
    for p in positions:
        out += [p, replace(p, colour=True), replace(p, size=True)]
    for rank in RANKS:
        out += [Features(rank=rank), Features(colour=True, rank=rank)]
    return out


def _shortest_plain(facts: SceneFacts, i: int) -> Features | None:
    for f in _plain_candidates(facts.objects[i]):
        if is_valid(facts, i, f):
            return f
    return None


def _realise(
    facts: SceneFacts,
    i: int,
    f: Features,
    anchor_text: str | None,
    rng: np.random.Generator,
    definite: bool = True,
) -> str:
    words = _words(facts, i, f)
    text = f"the {words}" if definite else words
    if f.h or f.v or f.centre:
        text += " " + position_phrase(f.h, f.v)
    if f.anchor is not None and anchor_text is not None:
        text += f" {relation_text(f.relation, rng.random())} {anchor_text}"
    return text


def _words(facts: SceneFacts, i: int, f: Features) -> str:
    """The noun phrase without article or trailing phrases: 'left red car', 'small dog'."""
    o = facts.objects[i]
    words = noun(o, colour=f.colour, size=f.size)
    if f.rank is not None:
        words = f"{_rank_word(f.rank, sum(p.kind is o.kind for p in facts.objects))} {words}"
    return words


def _rank_word(rank: str, n_same: int) -> str:
    if rank in ("bigger", "smaller") and n_same > 2:
        return {"bigger": "biggest", "smaller": "smallest"}[rank]
    if rank in ("left", "right") and n_same > 2:
        return f"{rank}most"
    if rank in ("upper", "lower") and n_same > 2:
        return {"upper": "topmost", "lower": "lowest"}[rank]
    return rank


def _embellish(facts: SceneFacts, i: int, f: Features, rng: np.random.Generator) -> Features:
    """Add true attributes the expression does not need, for variety and richer grounding text."""
    o = facts.objects[i]
    colour = f.colour or (o.colour is not None and rng.random() < 0.75)
    # No absolute size word next to a rank word ("the left small dog" reads badly).
    size = f.size or (o.size is not None and f.rank is None and rng.random() < 0.35)
    return replace(f, colour=colour, size=size)


def describe_objects(facts: SceneFacts, rng: np.random.Generator) -> list[list[Expression]]:
    """One or two referring expressions per object (none where no feature tells it apart)."""
    plain = [_shortest_plain(facts, i) for i in range(len(facts.objects))]
    # Anchors ("... left of the red car") are named by kind and attributes only, so the text stays short.
    anchor_texts = [
        "the " + _words(facts, k, replace(p, colour=True)) if p is not None and not p.spatial else None
        for k, p in enumerate(plain)
    ]
    result: list[list[Expression]] = []
    for i, o in enumerate(facts.objects):
        spatial: list[Features] = []
        for p in _plain_candidates(o):
            if p.spatial and is_valid(facts, i, p):
                spatial.append(p)
        for a, other in enumerate(facts.objects):
            if a == i or other.kind is o.kind or anchor_texts[a] is None:
                continue
            rel = relation(o.box, other.box, facts.width, facts.height)
            if rel is None:
                continue
            if next_to(o.box, other.box, facts.width, facts.height) and rng.random() < 0.4:
                rel = "next to"
            for f in (
                Features(anchor=a, relation=rel),
                Features(colour=True, anchor=a, relation=rel),
                Features(size=True, anchor=a, relation=rel),
            ):
                if is_valid(facts, i, f):
                    spatial.append(f)
                    break
        first = plain[i] if plain[i] is not None else (spatial[0] if spatial else None)
        exprs: list[Expression] = []
        if first is not None:
            exprs.append(_expression(facts, i, _embellish(facts, i, first, rng), anchor_texts, rng))
        others = [f for f in spatial if f != first]
        if others:
            pick = others[int(rng.integers(len(others)))]
            second = _expression(facts, i, _embellish(facts, i, pick, rng), anchor_texts, rng)
            if not exprs or second.text != exprs[0].text:
                exprs.append(second)
        result.append(exprs)
    return result


def _expression(
    facts: SceneFacts, i: int, f: Features, anchor_texts: list[str | None], rng: np.random.Generator
) -> Expression:
    anchor_text = anchor_texts[f.anchor] if f.anchor is not None else None
    definite = rng.random() < 0.8
    text = _realise(facts, i, f, anchor_text, rng, definite)
    position = position_phrase(f.h, f.v) if (f.h or f.v or f.centre) else None
    return Expression(text, i, facts.objects[i].box, f.anchor, f.relation, position, f.rank)


def describe_pairs(facts: SceneFacts, rng: np.random.Generator, limit: int = 2) -> list[Expression]:
    """'a dog next to a red car' with the union box, for pairs each unique by kind and colour."""
    objs = facts.objects

    def unique(o: SceneObject) -> bool:
        return sum(p.kind is o.kind and p.colour == o.colour for p in objs) == 1

    candidates = []
    for i, a in enumerate(objs):
        for j, b in enumerate(objs):
            if i == j or not (unique(a) and unique(b)):
                continue
            rel = relation(a.box, b.box, facts.width, facts.height)
            if rel is None:
                continue
            if next_to(a.box, b.box, facts.width, facts.height) and i < j:
                candidates.append((i, j, "next to"))
            elif rel in ("left of", "above"):  # one direction per pair, no mirrored duplicates
                candidates.append((i, j, rel))
    out = []
    for k in rng.permutation(len(candidates))[:limit]:
        i, j, rel = candidates[int(k)]
        a_text = with_article(noun(objs[i], size=rng.random() < 0.3))
        b_text = with_article(noun(objs[j], size=rng.random() < 0.3))
        text = f"{a_text} {relation_text(rel, rng.random())} {b_text}"
        out.append(Expression(text, i, union(objs[i].box, objs[j].box), j, rel, union=True))
    return out
