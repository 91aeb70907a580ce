"""More like this photo: rank a library's photos by their likeness to one of them, say why each matched,
and move the query with the person's marks (relevance feedback).

Three kinds of evidence, each a cosine per candidate photo:
- **photo**: the query photo's global embedding against the candidate's;
- **object**: the query's candidate regions (``BOXES``) against the candidate's regions, set to set:
  each query region's best match anywhere in the candidate, averaged over the query's regions (a thing
  in one corner of the query can match the same thing in another corner of the candidate; on the
  world's validation split the mean beat the best one or the best three, docs/similar.md);
- **caption**: where captions exist (sidecar, XMP, EXIF or typed in the app), the query's captions
  against each candidate's photo (``caption->photo``) and against its captions
  (``caption->caption``); the query photo against the candidates' captions (``photo->caption``) is
  computed too, but the fusion chosen on the world leaves it out (it lifts captioned photos over
  uncaptioned ones of the same worth, docs/similar.md).

The evidence is fused on one scale: each signal becomes a robust z-score per query over the candidates
that have it (median and 1.4826 x MAD, as search's cutoff), and

    score = z_photo + w_object * z_object + w_caption * max(0, best caption z - caption_floor)

A candidate without a caption gets from the caption term what its own photo earns against the query's
caption (``caption->photo``), and nothing for the caption it lacks, exactly what a caption that says
nothing about the query gets: lacking a caption never ranks a photo lower than having an unrelated
one. A query without a caption is ranked by its visual evidence alone. The weights were chosen on the world's
validation split (``multigrain bench-similar``, docs/similar.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from sqlite_utils import Database

from app.feedback import rocchio, unit
from app.library.store import PhotoRow
from app.parts import reorder_by_parts
from app.query import Query, QueryError
from app.search import (
    NO_CUTOFF,
    Box,
    Hit,
    RankCosines,
    RankedPhotos,
    Ranking,
    Reason,
    ReasonKind,
    Searcher,
    SortOrder,
    newest_first,
    robust_scale,
)
from app.vectors import VectorIndex
from core.part_ranking import PARTS_HEAD, PARTS_SECONDS
from core.region_boxes import BOXES

# Above this many photos, regions and captions are scored for a shortlist picked by the global cosine
# (as text search's two-stage mode does), so a round of feedback stays fast in a large library. Its
# recall against scoring every photo is not measured yet (the benchmark's libraries are below it).
EXACT_SIMILAR = 20_000
# Sorted by date, "more like this" orders this many of the most alike photos newest first: with no cutoff
# (``ranked_like``), all of them by date would be the library's timeline, not its likeness.
BY_DATE_HEAD = 100
SHORTLIST_SIMILAR = 3000
MIN_CAPTIONS = 20  # caption cosines needed to calibrate a caption signal (a z-score of fewer is noise)

FusionMethod = Literal["z", "z-signed", "raw"]
CaptionSignal = Literal["caption->photo", "caption->caption", "photo->caption"]
QUERY_CAPTIONS: tuple[CaptionSignal, ...] = ("caption->photo", "caption->caption")


@dataclass(frozen=True)
class Fusion:
    """How the evidence becomes one score (module docstring). ``raw`` adds centred cosines instead of
    z-scores and ``z-signed`` lets a caption's z sink a photo: both are kept to be measured against."""

    w_object: float = 1.0
    w_caption: float = 0.5
    caption_floor: float = 0.0
    method: FusionMethod = "z"
    caption_signals: tuple[CaptionSignal, ...] = QUERY_CAPTIONS


PHOTO_ONLY = Fusion(w_object=0.0, w_caption=0.0)
# Chosen on the world's validation split (seed 17) by ``multigrain bench-similar`` (docs/similar.md): the
# object evidence outweighs the global view; the photo's z breaks ties between equally good objects.
DEFAULT_FUSION = Fusion(w_object=16.0, w_caption=8.0, caption_floor=2.0)


@dataclass(frozen=True)
class ExampleQuery:
    """A photo as a query: its global embedding (moved by feedback), regions and caption vectors."""

    global_: np.ndarray  # (D,) unit
    regions: np.ndarray  # (K, D)
    captions: np.ndarray  # (C, D), C may be 0
    position: int | None = None  # the photo's own index position (left out of its results)


@dataclass(frozen=True)
class Evidence:
    """Each signal's cosine for the candidates at ``rows`` (NaN: the signal does not exist there)."""

    rows: np.ndarray  # index positions scored (the query photo left out)
    photo: np.ndarray
    object: np.ndarray
    captions: dict[CaptionSignal, np.ndarray]  # cosines of each caption signal (NaN: none there)
    # Per query region: the median and robust scale of its best-match cosines over the candidates, so a
    # reason can name the region that singles a photo out, not one every photo matches (the sand).
    region_typical: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class Match:
    photo_id: int
    position: int
    score: float
    reason: Reason


# ----- queries ------------------------------------------------------------------------------------------
def example_of(index: VectorIndex, position: int) -> ExampleQuery:
    """The photo at ``position`` as a query."""
    global_, regions = index.photo_vectors(position)
    return ExampleQuery(unit(global_), regions, index.captions_of(position), position)


def aligned_regions(query_regions: np.ndarray, photo_regions: list[np.ndarray]) -> np.ndarray:
    """For each query region, its best-matching region in each photo: (K, M, D) for M photos' (K, D)
    regions (the object evidence matches a region anywhere, so feedback moves it toward the same)."""
    k, d = query_regions.shape
    if not photo_regions:
        return np.zeros((k, 0, d), np.float32)
    picked = [regions[np.argmax(query_regions @ regions.T, axis=1)] for regions in photo_regions]
    return np.stack(picked, axis=1).astype(np.float32)


def with_feedback(
    index: VectorIndex, query: ExampleQuery, right: list[int], wrong: list[int]
) -> ExampleQuery:
    """``query`` moved toward the photos at positions ``right`` and away from those at ``wrong``: its
    global embedding by theirs, each of its regions by their best-matching regions (Rocchio on both);
    its captions stay the example's own."""
    right_vectors = index.global_vectors(np.array(right, np.int64))
    wrong_vectors = index.global_vectors(np.array(wrong, np.int64))
    right_regions = aligned_regions(query.regions, [index.photo_vectors(p)[1] for p in right])
    wrong_regions = aligned_regions(query.regions, [index.photo_vectors(p)[1] for p in wrong])
    regions = np.stack(
        [rocchio(q, r, w) for q, r, w in zip(query.regions, right_regions, wrong_regions, strict=True)]
    )
    return replace(query, global_=rocchio(query.global_, right_vectors, wrong_vectors), regions=regions)


# ----- evidence and fusion ------------------------------------------------------------------------------
def _candidates(index: VectorIndex, query: ExampleQuery, photo: np.ndarray) -> np.ndarray:
    """Positions to score: every usable photo but the query, or the best by the global cosine in a
    library too large to score every photo's regions."""
    usable = index.usable.copy()
    if query.position is not None:
        usable[query.position] = False
    rows = np.flatnonzero(usable)
    if rows.size <= EXACT_SIMILAR:
        return rows
    part = np.argpartition(-photo[rows], SHORTLIST_SIMILAR - 1)[:SHORTLIST_SIMILAR]
    return np.sort(rows[part])


def object_scores(region_cosines: np.ndarray) -> np.ndarray:
    """Set-to-set region score per candidate from (K, N) best-match cosines of the query's K regions:
    their mean (a one-sided Chamfer similarity)."""
    return region_cosines.mean(axis=0)


def _z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores of the finite ``values`` (NaN stays NaN)."""
    out = np.full(values.shape, np.nan, np.float32)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return out
    median, scale = robust_scale(values[finite])
    out[finite] = (values[finite] - median) / np.maximum(scale, 1e-9)
    return out


def _photo_cosines(index: VectorIndex, vectors: np.ndarray) -> np.ndarray:
    """Cosines (Q, N) of ``vectors`` with every photo's global embedding (no regions scored)."""
    return index.cosines(vectors, lambda glob, coarse: np.zeros(0, np.int64)).global_


def caption_cosines(
    index: VectorIndex, query: ExampleQuery, rows: np.ndarray
) -> dict[CaptionSignal, np.ndarray]:
    """Each caption signal's cosines over ``rows`` (NaN where it does not exist; module docstring)."""
    cap_rows, best = index.caption_scores(np.vstack([query.global_[None], query.captions]))
    by_position = np.full((len(best), index.n), np.nan, np.float32)
    by_position[:, cap_rows] = best
    nothing = np.full(rows.size, np.nan, np.float32)
    signals: dict[CaptionSignal, np.ndarray] = {
        "photo->caption": by_position[0, rows],
        "caption->photo": nothing,
        "caption->caption": nothing,
    }
    if len(query.captions):
        signals["caption->photo"] = _photo_cosines(index, query.captions).max(axis=0)[rows]
        signals["caption->caption"] = by_position[1:].max(axis=0)[rows]
    return signals


def _best_of(signals: list[np.ndarray], size: int) -> np.ndarray:
    """Per candidate, the largest finite value among the signals (NaN where there is none)."""
    if not signals:
        return np.full(size, np.nan, np.float32)
    stacked = np.stack(signals)
    finite = np.isfinite(stacked)
    best = np.where(finite, stacked, -np.inf).max(axis=0)
    return np.where(finite.any(axis=0), best, np.nan).astype(np.float32)


def evidence(index: VectorIndex, query: ExampleQuery) -> Evidence:
    """The photo, object and caption evidence of every candidate for ``query``."""
    photo_full = _photo_cosines(index, query.global_[None])[0]
    rows = _candidates(index, query, photo_full)
    per_region = index.region_cosines(query.regions, rows)
    centre, scale = (v[:, 0] for v in robust_scale(per_region)) if rows.size else (None, None)
    typical = None if centre is None else (centre.astype(np.float32), scale.astype(np.float32))
    return Evidence(
        rows, photo_full[rows], object_scores(per_region), caption_cosines(index, query, rows), typical
    )


def _calibrated(cosines: np.ndarray, method: FusionMethod) -> np.ndarray:
    """A caption signal on the fusion's scale: robust z (``z`` methods) or centred on its median
    (``raw``); all NaN when too few candidates have it to calibrate."""
    finite = np.isfinite(cosines)
    if finite.sum() < MIN_CAPTIONS:
        return np.full(cosines.shape, np.nan, np.float32)
    if method == "raw":
        return cosines - np.median(cosines[finite])
    return _z(cosines)


def caption_part(evidence: Evidence, fusion: Fusion) -> np.ndarray:
    """The caption term of each candidate: 0 where there is no caption evidence."""
    calibrated = [_calibrated(evidence.captions[name], fusion.method) for name in fusion.caption_signals]
    best = _best_of(calibrated, evidence.rows.size)
    if fusion.method == "raw":
        term = best
    elif fusion.method == "z-signed":
        term = best - fusion.caption_floor
    else:
        term = np.maximum(best - fusion.caption_floor, 0.0)
    return fusion.w_caption * np.where(np.isfinite(best), term, 0.0).astype(np.float32)


def contributions(evidence: Evidence, fusion: Fusion) -> dict[ReasonKind, np.ndarray]:
    """Each signal's part of every candidate's score (they add up to ``fuse``)."""
    if fusion.method == "raw":
        photo, objects = evidence.photo, evidence.object
    else:
        photo, objects = _z(evidence.photo), _z(evidence.object)
    return {"photo": photo, "object": fusion.w_object * objects, "caption": caption_part(evidence, fusion)}


def fuse(evidence: Evidence, fusion: Fusion) -> np.ndarray:
    """One score per candidate of ``evidence.rows`` (module docstring)."""
    parts = contributions(evidence, fusion)
    return (parts["photo"] + parts["object"] + parts["caption"]).astype(np.float32)


# ----- ranking and reasons ------------------------------------------------------------------------------
def _box(i: int) -> Box:
    x, y, w, h = (float(v) for v in BOXES[i])
    return (x, y, w, h)


def standing(evidence: Evidence, fusion: Fusion) -> dict[ReasonKind, np.ndarray]:
    """How far each signal the fusion weighs puts every candidate above the others, on one scale (its
    part of the score before its weight): what a reason compares. A weight multiplies every candidate's
    part alike, so it says how much a signal counts, not which one singles a photo out."""
    parts = contributions(evidence, fusion)
    weights: dict[ReasonKind, float] = {"photo": 1.0, "object": fusion.w_object, "caption": fusion.w_caption}
    return {kind: parts[kind] / weight for kind, weight in weights.items() if weight > 0}


def reason_for(
    index: VectorIndex,
    query: ExampleQuery,
    parts: dict[ReasonKind, np.ndarray],
    at: int,
    position: int,
    typical: tuple[np.ndarray, np.ndarray] | None = None,
) -> Reason:
    """Why the candidate ``at`` (into the evidence's rows; index position ``position``) matched: the
    signal that singles it out most (``standing``); for an object, the query box whose match in this
    photo stands out most from its matches in the other candidates (``typical``: the evidence's
    per-region median and scale; without it, the best-matching box) and the photo's box it matches."""
    kind: ReasonKind = max(parts, key=lambda k: float(parts[k][at]))
    if kind != "object" or index.box_count != len(BOXES):
        return Reason(kind)
    per_query_box = index.region_cosines(query.regions, np.array([position]))[:, 0]
    if typical is not None:
        centre, scale = typical
        per_query_box = (per_query_box - centre) / np.maximum(scale, 1e-6)
    query_box = int(np.argmax(per_query_box))
    box, _ = index.best_region(query.regions[query_box], position)
    return Reason("object", _box(query_box), _box(box))


def rank_similar(
    index: VectorIndex, query: ExampleQuery, fusion: Fusion = DEFAULT_FUSION, top: int = 20
) -> list[Match]:
    """The ``top`` photos most like ``query``, best first, each with its reason."""
    found = evidence(index, query)
    scores = fuse(found, fusion)
    parts = standing(found, fusion)
    order = np.argsort(-scores, kind="stable")[:top]
    return [
        Match(
            photo_id=int(index.ids[found.rows[i]]),
            position=int(found.rows[i]),
            score=float(scores[i]),
            reason=reason_for(index, query, parts, int(i), int(found.rows[i]), found.region_typical),
        )
        for i in order
    ]


class NotInLibrary(ValueError):
    """The photo asked about has no vectors in the index (not indexed yet, or unreadable)."""


def similar_photos(
    index: VectorIndex,
    photo_id: int,
    *,
    fusion: Fusion = DEFAULT_FUSION,
    top: int = 20,
    right: tuple[int, ...] = (),
    wrong: tuple[int, ...] = (),
    parts_at: PartsAt | None = None,
    parts: int = PARTS_HEAD,
) -> list[Match]:
    """Photos of the library most like the photo ``photo_id``, moved toward the photos marked ``right``
    and away from those marked ``wrong`` (ids; relevance feedback), each with what made it match. With
    ``parts_at`` (index positions -> their parts, ``by_parts``), the first ``parts`` are re-ordered by
    their parts seen close up."""
    position = index.position(photo_id)
    if position is None or not index.usable[position]:
        raise NotInLibrary(f"photo {photo_id} is not in the searchable library (not indexed yet?)")
    query = example_of(index, position)
    if right or wrong:
        query = with_feedback(index, query, _positions(index, right), _positions(index, wrong))
    if parts_at is None or parts <= 0:
        return rank_similar(index, query, fusion, top)
    matches = rank_similar(index, query, fusion, max(top, parts))
    order, reasons = by_parts(np.array([m.position for m in matches]), position, parts_at, parts)
    picked = [matches[i] for i in order[:top]]
    return [
        replace(m, reason=Reason("object", *reasons[m.position], close_up=True))
        if m.position in reasons
        else m
        for m in picked
    ]


PartsAt = Callable[[np.ndarray], tuple[np.ndarray, list[int]]]


def by_parts(
    positions: np.ndarray,
    query_position: int,
    parts_at: PartsAt,
    head: int = PARTS_HEAD,
    budget_s: float | None = PARTS_SECONDS,
) -> tuple[np.ndarray, dict[int, tuple[Box, Box]]]:
    """A ranking's index ``positions`` re-ordered by their parts, close up (``app.parts``): the new order
    (into ``positions``) and, per re-ordered index position, its reason's query part and matched part.
    ``parts_at(index positions)`` gives the parts of those it could read; when the query photo cannot be
    read, the ranking stays as it was."""
    keep = np.arange(len(positions))
    if head <= 0 or not len(positions):
        return keep, {}
    query, readable = parts_at(np.array([query_position]))
    if not readable:
        return keep, {}
    found = reorder_by_parts(
        len(positions), query[0], lambda slots: parts_at(positions[slots]), head, budget_s
    )
    return found.order, {int(positions[slot]): pair for slot, pair in found.reasons.items()}


def _positions(index: VectorIndex, photo_ids: Sequence[int]) -> list[int]:
    found = (index.position(pid) for pid in photo_ids)
    return [p for p in found if p is not None]


# ----- in the app: a ranking to page through ----------------------------------------------------------
class SimilarPhotos(RankedPhotos):
    """A "more like this" ranking, paged like a search's: each hit carries what made it match, and for
    an object the matched box in the photo (the window draws it and names it)."""

    def __init__(
        self,
        ranking: Ranking,
        index: VectorIndex,
        db: Database,
        query: ExampleQuery,
        found: Evidence,
        parts: dict[ReasonKind, np.ndarray],
        part_reasons: dict[int, tuple[Box, Box]] | None = None,
    ) -> None:
        super().__init__(ranking, index, db, query.global_)
        self.query, self.parts, self.typical = query, parts, found.region_typical
        self.part_reasons = part_reasons or {}  # index position -> (query part, matched part)
        self._at = np.full(index.n, -1, np.int64)  # index position -> its row in the evidence
        self._at[found.rows] = np.arange(found.rows.size)

    def _hit(self, i: int, row: PhotoRow) -> Hit:
        hit = super()._hit(i, row)
        position = int(self.ranking.positions[i])
        if position in self.part_reasons:  # re-ordered by its parts: the part that matched is the reason
            reason = Reason("object", *self.part_reasons[position], close_up=True)
        else:
            reason = reason_for(
                self.index, self.query, self.parts, int(self._at[position]), position, self.typical
            )
        return replace(hit, reason=reason, region=reason.box)


def ranked_like(
    searcher: Searcher,
    query: Query,
    photo_id: int,
    *,
    right: Sequence[int] = (),
    wrong: Sequence[int] = (),
    fusion: Fusion = DEFAULT_FUSION,
    sort: SortOrder = "score",
    parts: int = PARTS_HEAD,
) -> SimilarPhotos:
    """Every photo of the library but ``photo_id`` that passes ``query``'s folder and date filters, most
    like it first, moved by the marks (``right``/``wrong``: photo ids; photos marked wrong are left out),
    for the window to page through.
    ``sort='date'`` puts the ``BY_DATE_HEAD`` most alike newest first (then the rest, most alike first).

    No cutoff: on the world's validation split, a line on the fused score's z that lets 1 % of the
    unrelated candidates through lets through only 1.6 % of the related ones (``bench-similar``,
    docs/similar.md), so a line would hide nearly everything a person looks for while claiming a
    distinction the scores do not make. The ranking says "most alike first" and claims no more.

    The first ``parts`` photos are then re-ordered by their parts seen close up (``app.parts``; 0: not),
    as many as ``PARTS_SECONDS`` of decoding and encoding allow."""
    index = searcher.index
    position = index.position(photo_id)
    if position is None or not index.usable[position]:
        raise QueryError("that photo is no longer searchable: update the library and try again")
    example = example_of(index, position)
    if right or wrong:
        example = with_feedback(index, example, _positions(index, right), _positions(index, wrong))
    found = evidence(index, example)
    scores = fuse(found, fusion)
    shown = searcher.filter_mask(query)
    shown[_positions(index, wrong)] = False  # a photo marked wrong is not shown again
    kept = np.flatnonzero(shown[found.rows])
    order = kept[np.argsort(-scores[kept], kind="stable")]
    captions = caption_cosines(index, example, found.rows)
    best_caption = _best_of([captions[name] for name in fusion.caption_signals], found.rows.size)
    ranking = Ranking(
        positions=found.rows[order],
        scores=scores[order],
        z=None,
        matched=int(kept.size),
        considered=int(kept.size),
        cutoff=NO_CUTOFF,
        cosines=RankCosines(found.photo[order], found.object[order], best_caption[order]),
    )
    parts_at = searcher.part_cache.parts_at(searcher.runtime, searcher.decode_positions, index)
    order, part_reasons = by_parts(ranking.positions, position, parts_at, parts)
    ranking = ranking.take(order)
    if sort == "date":
        head = min(BY_DATE_HEAD, len(ranking))
        newest = newest_first(ranking.positions[:head], index.times)
        ranking = ranking.take(np.concatenate([newest, np.arange(head, len(ranking))]))
    return SimilarPhotos(ranking, index, searcher.db, example, found, standing(found, fusion), part_reasons)
