"""Search: a query -> the library's photos, scored multi-grained, filtered, cut off, optionally re-ranked.

The score of a photo for one query vector q (a text, an example image, or a negative term):

    s(q) = w_global * cos(q, global) + w_region * max_k cos(q, region_k)
           [+ w_caption * (max_c cos(q, caption_c) - median caption cosine of q)   for captioned photos]

or, with the settings' ``caption_fusion`` "z", the caption part is ``w_caption * max(0, z - caption_floor)``
where z is that centred cosine over the robust scale of q's caption cosines: a caption only adds
evidence, and a photo without one scores as one whose caption says nothing about the query. With
``caption_fusion`` "words" the caption part is the captions' words instead
(``core.caption_words``): ``w_caption * min(max(z - caption_floor, 0), Z_CAP) * coverage ** 4``, z the
caption's BM25 score standardised among the library's captions and coverage the share of the query's
word weight it holds; it too only lifts.

and a query's score is the weighted sum over its vectors: the text (weight 1, or 1 - image weight when
there is an example image too), the image, and each negative term with ``-negative_weight / count``.
The caption term is centred on the query's median caption cosine across the library, so a caption
unrelated to the query neither lifts nor sinks its photo relative to photos without captions.

Relevance cutoff: scores are standardised per query against the library's own scores for that query
(robust z: median and 1.4826 x MAD; almost every photo does not match a given query, so these describe
non-matching photos), and photos below the bundle's calibrated z are dropped (``settings.Cutoff``). A
library too small for that uses the non-matching score distribution measured on the world.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np
from PIL import Image
from sqlite_utils import Database

from app.feedback import rocchio
from app.head_itm import head_itm
from app.head_rerank import pinned_count, rerank_head
from app.library import store
from app.library.decode import decode_image
from app.library.presence import presence
from app.parts import PartCache
from app.personal.name_rerank import named_boxes
from app.personal.usage import encode_texts as encode_with_names
from app.personal.usage import has_other_words, names_for, names_in
from app.query import Query, QueryError
from app.vectors import VectorIndex, load_index
from core.caption_words import EXACT_LIFT, WordEvidence
from core.errors import KnownError
from core.name_ranking import NAME_RERANK, NAME_RERANK_SECONDS, W_PHOTO_ALONE, W_PHOTO_IN_CONTEXT
from core.names import NameTable
from core.region_boxes import BOX_SET_NAME, BOXES
from core.search_settings import RERANK_SECONDS, SearchSettings

RESCORE_MIN = 2000  # photos whose regions are scored again in int8 after the 4-bit pass, at least
RESCORE_SHARE = 0.01  # ... and at least this share of the library
# Two-stage search (large libraries): candidates whose regions are scored. With 3 % of a million photos
# a text search takes ~61 ms (p50, ``multigrain bench-search``) and kept 100 % of the exact top 10 on
# the whole world, 21,500 photos (``multigrain tune-search`` measures it).
SHORTLIST_MIN = 20_000
SHORTLIST_SHARE = 0.03
MIN_STATS = 50  # photos needed to estimate a query's score distribution from the library itself
STATS_SAMPLE = 4096  # photos whose scores estimate that distribution (in two-stage mode, scored in full)
MIN_CAPTIONS = 20  # captions needed to centre the caption term on the library's median
# With fewer captions, the caption term is centred on the query's median cosine with these: text-text
# cosines run high for any two sentences, and the centre has to come from the model itself.
REFERENCE_CAPTIONS = (
    "a dog running on the grass",
    "two people sitting at a table in a restaurant",
    "a city street at night with cars",
    "a bowl of fruit on a kitchen counter",
    "mountains covered in snow under a blue sky",
    "a child playing with a red ball",
    "a boat on a lake at sunset",
    "a cat sleeping on a sofa",
    "a plate of pasta and a glass of wine",
    "a birthday cake with candles",
    "a train arriving at a station",
    "flowers in a garden",
    "a man riding a bicycle",
    "a beach with palm trees",
    "an old church in a village",
    "a laptop and a cup of coffee on a desk",
)


class SearchModel(Protocol):
    """The bundle runtime's surface that search uses (``export.runtime.Runtime`` has it)."""

    @property
    def identity(self) -> str: ...
    @property
    def embed_dim(self) -> int: ...
    @property
    def image_size(self) -> int: ...
    def encode_images(
        self, images: Sequence[Image.Image] | np.ndarray, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def itm_scores(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Terms:
    """A query as vectors: (Q, D) unit (or zero) vectors and their weights."""

    vectors: np.ndarray
    weights: np.ndarray
    labels: tuple[str, ...]
    main: int  # the term whose cosines a hit reports (the text, else the image, else the first)
    text_hidden: tuple[np.ndarray, np.ndarray] | None = None  # the positive text's, for ITM
    names: tuple[str, ...] = ()  # taught names in the positive text (their photos are re-ordered)
    beyond_names: bool = False  # the positive text has words besides its names ("Rex on the beach")
    texts: tuple[str, ...] = ()  # each term's words ("" for an example image): for the captions' words


SortOrder = Literal["score", "date"]  # best first, or newest first among the photos above the cutoff
BrowseOrder = Literal["month", "folder"]  # an empty query's timeline: newest first, or folder by folder
CutoffSource = Literal["library", "world", "none"]  # whose score distribution the cutoff's z is against


@dataclass(frozen=True)
class AppliedCutoff:
    """The relevance cutoff a search applied (module docstring)."""

    source: CutoffSource  # 'none': no cutoff (asked for none, or no distribution to judge scores by)
    z: float | None  # photos below this robust z were dropped; None when there was no cutoff


NO_CUTOFF = AppliedCutoff("none", None)


@dataclass(frozen=True)
class HitCosines:
    """Cosines of a query's main term with one photo."""

    global_: float  # with the photo's global embedding ('global' is a Python keyword)
    region: float  # with its best-matching candidate region
    caption: float | None  # with its best caption; None: no caption

    def to_json(self) -> dict[str, float | None]:
        return {"global": self.global_, "region": self.region, "caption": self.caption}


ReasonKind = Literal["photo", "object", "caption"]
Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the photo


@dataclass(frozen=True)
class Reason:
    """What made a photo match a photo query ("more like this", ``app.similar``): the whole photo, an
    object in it (the query's box and the matched box in the photo), or its caption."""

    kind: ReasonKind
    query_box: Box | None = None
    box: Box | None = None
    close_up: bool = False  # the boxes are parts seen close up (``app.parts``), which ordered the photo

    def to_json(self) -> dict[str, object]:
        def rounded(box: Box | None) -> list[float] | None:
            return None if box is None else [round(v, 4) for v in box]

        out: dict[str, object] = {
            "kind": self.kind,
            "query_box": rounded(self.query_box),
            "box": rounded(self.box),
        }
        if self.close_up:
            out["close_up"] = True
        return out


@dataclass(frozen=True)
class Hit:
    photo_id: int
    path: str
    score: float
    z: float | None  # robust z-score among the library's scores for this query
    cosines: HitCosines
    taken_at: str | None
    width: int | None
    height: int | None
    itm: float | None = None  # ITM 'match' logit when re-ranked
    region: tuple[float, float, float, float] | None = None  # best candidate box (x, y, w, h, fractions)
    content_hash: str | None = None  # names the photo's thumbnail
    missing: bool = False  # the file is not there now, nor its folder (an unplugged drive, a renamed
    # folder not indexed again yet); a file gone from a folder that is there is never a hit
    rank: int = 0  # position in the ranking shown (matches first, then any weaker photos)
    moment: float | None = None  # local wall-clock seconds of EXIF taken_at, else of the file's mtime
    reason: Reason | None = None  # what made it match a photo query (None for words)


@dataclass(frozen=True)
class SearchTimings:
    """Milliseconds spent on each step of one search."""

    encode: float  # the query into vectors
    rank: float  # scores, cutoff, order
    finish: float  # re-ranking, date order, hits


@dataclass
class SearchResponse:
    hits: list[Hit]
    matched: int  # photos passing the filters and the cutoff
    considered: int  # photos passing the filters
    cutoff: AppliedCutoff
    timings_ms: SearchTimings


@dataclass(frozen=True)
class RankCosines:
    """The main term's cosines, aligned with a ranking's positions; caption NaN where a photo has none."""

    global_: np.ndarray
    region: np.ndarray
    caption: np.ndarray

    def take(self, order: np.ndarray) -> RankCosines:
        return RankCosines(self.global_[order], self.region[order], self.caption[order])


@dataclass(frozen=True)
class Ranking:
    positions: np.ndarray  # index positions that passed the filters (and cutoff), best first
    scores: np.ndarray
    z: np.ndarray | None
    matched: int  # photos that passed (``positions`` may hold only the first of them)
    considered: int
    cutoff: AppliedCutoff
    cosines: RankCosines
    itm: np.ndarray | None = None  # ITM logits of the re-ranked first ones (NaN for the rest)
    name_box: np.ndarray | None = None  # the named box's cosine of the re-ordered first ones (NaN: rest)
    weaker: int = 0  # after all ``matched``, this many best photos below the cutoff (asked for)
    pinned: int = 0  # the first photos, matched by their captions' exact words, that no re-order moves

    def __len__(self) -> int:
        return len(self.positions)

    def take(self, order: np.ndarray) -> Ranking:
        """The same photos in another ``order`` (positions into this ranking)."""
        return replace(
            self,
            positions=self.positions[order],
            scores=self.scores[order],
            z=None if self.z is None else self.z[order],
            cosines=self.cosines.take(order),
            itm=None if self.itm is None else self.itm[order],
            name_box=None if self.name_box is None else self.name_box[order],
        )


class RankedPhotos:
    """A search's ranking in the order shown, turned into hits a page at a time (the CLI takes the first
    page, the GUI further ones as its grid scrolls). Keeps the index and connection it was ranked with:
    positions point into that index."""

    def __init__(
        self, ranking: Ranking, index: VectorIndex, db: Database, main_vector: np.ndarray | None
    ) -> None:
        self.ranking, self.index, self.db, self.main_vector = ranking, index, db, main_vector

    def __len__(self) -> int:
        return len(self.ranking)

    @property
    def matched(self) -> int:
        return self.ranking.matched

    @property
    def considered(self) -> int:
        return self.ranking.considered

    @property
    def cutoff(self) -> AppliedCutoff:
        return self.ranking.cutoff

    @property
    def weaker(self) -> int:
        """Photos below the cutoff ranked after the matches (the window shows them under a divider)."""
        return self.ranking.weaker

    def page(self, start: int, stop: int) -> list[Hit]:
        """Hits of the photos ranked ``start`` to ``stop`` (past the end: fewer, or none). Photos removed
        from the library since the index loaded, and files deleted since they were indexed, are left
        out; a file whose folder is not reachable is kept and marked ``missing``."""
        start, stop = max(start, 0), max(stop, 0)
        positions = self.ranking.positions[start:stop]
        ids = [int(i) for i in self.index.ids[positions]]
        rows = store.photo_rows(self.db, ids)
        hits = []
        for offset, pid in enumerate(ids):
            row = rows.get(pid)
            if row is None:  # removed since the index was loaded
                continue
            state = presence(row.path)
            if state == "deleted":  # the next index run forgets it; never shown meanwhile
                continue
            hits.append(replace(self._hit(start + offset, row), missing=state == "unreachable"))
        return hits

    def first(self, count: int) -> list[Hit]:
        """The first ``count`` hits, reading further down the ranking past left-out photos."""
        hits: list[Hit] = []
        start = 0
        while len(hits) < count and start < len(self):
            stop = start + max(count - len(hits), 1)
            hits += self.page(start, stop)
            start = stop
        return hits[:count]

    def _hit(self, i: int, row: store.PhotoRow) -> Hit:
        ranking = self.ranking
        caption = float(ranking.cosines.caption[i])
        itm = None if ranking.itm is None else float(ranking.itm[i])
        return Hit(
            photo_id=row.id,
            path=row.path,
            score=float(ranking.scores[i]),
            z=None if ranking.z is None else float(ranking.z[i]),
            cosines=HitCosines(
                float(ranking.cosines.global_[i]),
                float(ranking.cosines.region[i]),
                None if np.isnan(caption) else caption,
            ),
            taken_at=row.taken_at,
            width=row.width,
            height=row.height,
            itm=None if itm is None or np.isnan(itm) else itm,
            # A taught name's own box is what the preview draws for it; a grid region beside it is noise.
            region=None if ranking.name_box is not None else self._best_box(int(ranking.positions[i])),
            content_hash=row.content_hash,
            rank=i,
            moment=_finite(self.index.times[int(ranking.positions[i])]),
        )

    def _best_box(self, position: int) -> tuple[float, float, float, float] | None:
        """The candidate box that best matches the query's main term, when the index holds every box."""
        if self.index.box_count != len(BOXES) or self.main_vector is None:
            return None
        box, _ = self.index.best_region(self.main_vector, position)
        x, y, w, h = (float(v) for v in BOXES[box])
        return (x, y, w, h)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def newest_first(positions: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Order of ``positions`` newest first (``times``: of every index position; NaN, an unknown date,
    goes last); photos of the same date keep their order."""
    return np.argsort(-np.nan_to_num(times[positions], nan=-np.inf), kind="stable")


def by_date(ranking: Ranking, times: np.ndarray) -> Ranking:
    """``ranking``'s matches newest first; weaker photos below the cutoff stay after them, best first."""
    head = min(ranking.matched, len(ranking))
    order = np.concatenate([newest_first(ranking.positions[:head], times), np.arange(head, len(ranking))])
    return ranking.take(order)


# ----- the formulas (``tune-search`` measures with these same functions) --------------------------------
def _over_terms(per_term: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Rows of per-term scores summed with the terms' ``weights``; None keeps one row per term (each term
    a query of its own, as ``tune-search`` scores its queries)."""
    return per_term if weights is None else np.asarray(weights, np.float32) @ per_term


def combine(
    global_cos: np.ndarray,
    region_cos: np.ndarray,
    weights: np.ndarray | None,
    settings: SearchSettings,
) -> np.ndarray:
    """The visual part of the score: sum over terms of weight * (w_global * cos_g + w_region * cos_r)."""
    mixed = settings.w_global * global_cos + settings.w_region * region_cos
    return _over_terms(mixed, weights)


def caption_term(
    best: np.ndarray,
    centre: np.ndarray,
    weights: np.ndarray | None,
    settings: SearchSettings,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """The caption part of the score, summed over terms with ``weights``: w_caption * (best caption
    cosine - the term's centre), or with ``caption_fusion`` "z", w_caption * max(0, that / ``scale`` -
    caption_floor). ``best`` (Q, U), ``centre`` and ``scale`` (Q,): a caption as unrelated to the query
    as the centre neither lifts nor sinks its photo."""
    centred = best - centre[:, None]
    if settings.caption_fusion == "words":
        raise ValueError("the 'words' caption fusion scores captions' words: use word_term")
    if settings.caption_fusion == "z" and scale is not None:
        z = centred / np.maximum(scale, 1e-9)[:, None]
        centred = np.maximum(z - settings.caption_floor, 0.0)
    return settings.w_caption * _over_terms(centred, weights)


def word_term(evidence: WordEvidence, weights: np.ndarray | None, settings: SearchSettings) -> np.ndarray:
    """The caption part of the score by the captions' words (``caption_fusion`` "words"), summed over
    terms with ``weights``: w_caption * the evidence's lift above ``caption_floor`` (zero or more), and
    ``EXACT_LIFT`` for a caption holding all the term's words, one of them its own
    (``WordEvidence.exact``)."""
    lift = settings.w_caption * evidence.lift(settings.caption_floor) + EXACT_LIFT * evidence.exact()
    return _over_terms(lift, weights)


def first_stage(
    global_cos: np.ndarray, coarse: np.ndarray | None, weights: np.ndarray | None, settings: SearchSettings
) -> np.ndarray:
    """What a shortlist is picked by: the full visual score with 4-bit regions (``coarse``), or, in a
    two-stage search, the global cosine carrying both weights (regions correlate with the global view)."""
    if coarse is not None:
        return combine(global_cos, coarse, weights, settings)
    return (settings.w_global + settings.w_region) * _over_terms(global_cos, weights)


def robust_scale(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust scale of ``scores`` along the last axis (kept, size 1): 1.4826 x the median
    absolute deviation, or the standard deviation where that is 0; the scale in float64."""
    median = np.median(scores, axis=-1, keepdims=True)
    scale = 1.4826 * np.median(np.abs(scores - median), axis=-1, keepdims=True).astype(np.float64)
    flat = ~np.isfinite(scale) | (scale <= 1e-9)
    if flat.any():
        scale = np.where(flat, np.std(scores, axis=-1, keepdims=True).astype(np.float64), scale)
    return median, scale


def robust_stats(scores: np.ndarray) -> tuple[float, float] | None:
    """(median, 1.4826 x median absolute deviation) of a query's scores; None if they do not spread."""
    if scores.size < 2:
        return None
    median, scale = (float(v.item()) for v in robust_scale(scores))
    return (median, scale) if scale > 1e-9 else None


def z_scores(scores: np.ndarray, median: float | np.ndarray, scale: float | np.ndarray) -> np.ndarray:
    """(scores - median) / scale, in the scores' own precision."""
    return (scores - np.asarray(median, scores.dtype)) / np.asarray(scale, scores.dtype)


def shortlist_size(n: int, coarse: bool) -> int:
    """Photos of ``n`` whose regions are scored exactly: after a 4-bit pass over every photo (``coarse``),
    or after the global stage of a two-stage search."""
    return int(max(RESCORE_MIN, RESCORE_SHARE * n) if coarse else max(SHORTLIST_MIN, SHORTLIST_SHARE * n))


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` highest scores, best first."""
    count = min(count, scores.size)
    if count <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, count - 1)[:count] if count < scores.size else np.arange(scores.size)
    return part[np.argsort(-scores[part], kind="stable")]


class Searcher:
    """Searches one library with one model bundle. Use from one thread at a time."""

    def __init__(
        self,
        db: Database,
        db_path: str | Path,
        runtime: SearchModel,
        settings: SearchSettings | None = None,
        index: VectorIndex | None = None,
        threads: int = 0,
        name_rerank: int = NAME_RERANK,
        name_rerank_seconds: float | None = NAME_RERANK_SECONDS,
        itm_head: int | None = None,
        itm_seconds: float | None = RERANK_SECONDS,
    ) -> None:
        """``name_rerank``: for a query holding a taught name, up to this many photos at the head of the
        ranking are re-ordered by the name's box in each (``app.personal.name_rerank``), as many as
        ``name_rerank_seconds`` of scoring allow (None: all of them); 0: none. ``itm_head``: for other
        words, up to this many are re-ordered by the model's ITM head (``app.head_itm``), within
        ``itm_seconds``; None: the settings' ``itm_head`` (0 for a bundle never tuned); 0: none."""
        from app.settings import load_settings

        self.db, self.db_path, self.runtime = db, Path(db_path), runtime
        if settings is None:
            shipped = (getattr(runtime, "manifest", None) or {}).get("search_settings")
            settings = load_settings(runtime.identity, shipped)
        self.settings = settings
        self.threads = threads
        self.name_rerank = name_rerank
        self.name_rerank_seconds = name_rerank_seconds
        self.itm_head = settings.itm_head if itm_head is None else itm_head
        self.itm_seconds = itm_seconds
        self._index = index
        self._sample: np.ndarray | None = None
        self._reference_vectors: np.ndarray | None = None
        self._names: NameTable | bool | None = False  # False: not read yet (taught names, app.personal)
        self.part_cache = PartCache()  # photos' parts seen close up, for "more like this" (app.parts)

    # ----- the index -------------------------------------------------------------------------------
    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = load_index(
                self.db, self.db_path, self.runtime.identity, BOX_SET_NAME, threads=self.threads
            )
        return self._index

    def refresh(self) -> None:
        """Reload the index if the library changed since it was loaded (cheap when it did not)."""
        from app import vectorcache

        fresh = vectorcache.find_fresh(self.db, self.db_path, self.runtime.identity, BOX_SET_NAME)
        if self._index is None or fresh is None or fresh.path != self._index.info.path:
            self._index, self._sample = None, None
        self._names = False  # a name may have been taught, renamed or forgotten since

    @property
    def names(self) -> NameTable | None:
        """The library's taught names this bundle can use (read once, again after ``refresh``)."""
        if self._names is False:
            self._names = names_for(self.db, self.runtime)
        return self._names or None

    # ----- queries -> vectors ----------------------------------------------------------------------
    def encode(self, query: Query) -> Terms:
        if query.is_empty:
            raise QueryError("the query is empty: give words to search for, or --image FILE")
        vectors: list[np.ndarray] = []
        weights: list[float] = []
        labels: list[str] = []
        hidden = None
        named = names_in(query.text, self.names) if query.text else ()
        beyond = bool(named) and has_other_words(query.text or "", self.names)
        texts = ([query.text] if query.text else []) + list(query.negatives)
        if texts:
            embeds, text_hidden, mask = encode_with_names(self.runtime, texts, self.names)
            text_weight = 1.0 - query.image_weight if query.image is not None else 1.0
            if query.text:
                vectors.append(embeds[0])
                weights.append(text_weight)
                labels.append("text")
                hidden = (text_hidden[:1], mask[:1])
            negatives = embeds[1:] if query.text else embeds
            for neg, vec in zip(query.negatives, negatives, strict=True):
                vectors.append(vec)
                weights.append(-query.negative_weight / len(query.negatives))
                labels.append(f"-{neg}")
        if query.image is not None:
            decoded = decode_image(query.image, 2 * int(self.runtime.image_size))
            embeds, _ = self.runtime.encode_images([decoded.image])
            vectors.append(embeds[0])
            weights.append(query.image_weight if query.text else 1.0)
            labels.append("image")
        term_texts = [*texts, *([""] if query.image is not None else [])]
        keep = [i for i, v in enumerate(vectors) if np.linalg.norm(v) > 1e-6 and weights[i] != 0.0]
        if not keep:
            raise QueryError("nothing to search for: the query has no words the model can read")
        main = next((keep.index(i) for i in keep if labels[i] in ("text", "image")), 0)
        return Terms(
            np.stack([vectors[i] for i in keep]).astype(np.float32),
            np.array([weights[i] for i in keep], np.float32),
            tuple(labels[i] for i in keep),
            main,
            hidden if "text" in [labels[i] for i in keep] else None,
            named if "text" in [labels[i] for i in keep] else (),
            beyond,
            tuple(term_texts[i] for i in keep),
        )

    def with_photo(self, terms: Terms | None, photo_id: int, image_weight: float) -> Terms:
        """A query by example of a library photo, from its stored global embedding (no decoding, no
        encoding): alone, or added to ``terms`` (the query's words) with ``image_weight``."""
        position = self.index.position(photo_id)
        if position is None:
            raise QueryError("that photo is no longer searchable: update the library and try again")
        vector = self.index.global_vector(position)
        if terms is None:
            return Terms(vector[None], np.ones(1, np.float32), ("image",), 0, texts=("",))
        has_text = "text" in terms.labels
        share = image_weight if has_text else 1.0
        weights = terms.weights.copy()
        weights[np.array([label == "text" for label in terms.labels])] *= 1.0 - share
        return replace(
            terms,
            vectors=np.vstack([terms.vectors, vector[None]]),
            weights=np.append(weights, share).astype(np.float32),
            labels=(*terms.labels, "image"),
            main=terms.main if has_text else len(terms.labels),
            texts=(*terms.texts, ""),
        )

    def with_feedback(self, terms: Terms, right: Sequence[int], wrong: Sequence[int]) -> Terms:
        """``terms`` with each of its positive vectors (the words, an example image) moved toward the
        photos marked ``right`` and away from those marked ``wrong`` (ids; Rocchio, ``app.feedback``);
        negative terms stay. Marked photos no longer in the index are left out."""
        index = self.index

        def positions(ids: Sequence[int]) -> np.ndarray:
            return np.array([p for p in map(index.position, ids) if p is not None], np.int64)

        right_at, wrong_at = positions(right), positions(wrong)
        if right_at.size == 0 and wrong_at.size == 0:
            return terms
        right_vectors, wrong_vectors = index.global_vectors(right_at), index.global_vectors(wrong_at)
        vectors = terms.vectors.copy()
        for i, weight in enumerate(terms.weights):
            if weight > 0:
                vectors[i] = rocchio(vectors[i], right_vectors, wrong_vectors)
        return replace(terms, vectors=vectors)

    def browse(self, query: Query, by: BrowseOrder = "month") -> RankedPhotos:
        """Every photo passing the query's filters, for browsing: newest first, or by folder (then newest
        first within it); scores are 0 and no photo is cut."""
        mask = self.filter_mask(query)
        positions = np.flatnonzero(mask)
        order = newest_first(positions, self.index.times)
        positions = positions[order]
        if by == "folder":
            paths = store.photo_paths(self.db)  # one query for the whole library: cheaper than chunks
            folders = np.array([os.path.dirname(paths.get(int(i), "")) for i in self.index.ids[positions]])
            positions = positions[np.argsort(folders, kind="stable")]
        zeros = np.zeros(positions.size, np.float32)
        ranking = Ranking(
            positions=positions,
            scores=zeros,
            z=None,
            matched=int(positions.size),
            considered=int(positions.size),
            cutoff=NO_CUTOFF,
            cosines=RankCosines(zeros, zeros, np.full(positions.size, np.nan, np.float32)),
        )
        return RankedPhotos(ranking, self.index, self.db, None)

    # ----- ranking ---------------------------------------------------------------------------------
    def filter_mask(self, query: Query) -> np.ndarray:
        """(N,) bool: usable photos that pass the query's folder and date filters."""
        index, f = self.index, query.filters
        mask = index.usable.copy()
        if f.folder is not None:
            mask &= np.isin(index.ids, self._ids_under(f.folder))
        if f.after is not None:
            mask &= index.times >= f.after
        if f.before is not None:
            mask &= index.times < f.before
        return mask

    def _ids_under(self, folder: str) -> np.ndarray:
        return store.readable_photo_ids_in(self.db, os.path.abspath(os.path.expanduser(folder)))

    def _caption_part(self, terms: Terms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(photo positions with captions (U,), weighted caption term (U,), main term's cosines (U,),
        whether the main term's words are exactly in the photo's caption (U,), ``WordEvidence.exact``)."""
        index = self.index
        rows, best = index.caption_scores(terms.vectors)
        none = np.zeros(rows.size, bool)
        if rows.size == 0 or self.settings.w_caption == 0.0:
            return rows, np.zeros(rows.size, np.float32), best[terms.main], none
        if self.settings.caption_fusion == "words":
            texts = terms.texts if len(terms.texts) == len(terms.labels) else ("",) * len(terms.labels)
            evidence = index.caption_words(REFERENCE_CAPTIONS).evidence(texts)
            term = word_term(evidence, terms.weights, self.settings)
            return rows, term.astype(np.float32), best[terms.main], evidence.exact()[terms.main]
        # Unrelated captions' cosines: the library's own, or with too few, the reference captions'.
        unrelated = best if rows.size >= MIN_CAPTIONS else terms.vectors @ self._references().T
        centre, scale = (v[:, 0] for v in robust_scale(unrelated))
        term = caption_term(best, centre, terms.weights, self.settings, scale)
        return rows, term.astype(np.float32), best[terms.main], none

    def _references(self) -> np.ndarray:
        if self._reference_vectors is None:
            self._reference_vectors = self.runtime.encode_texts(list(REFERENCE_CAPTIONS))[0]
        return self._reference_vectors

    def _stats_sample(self) -> np.ndarray:
        if self._sample is None:
            usable = np.flatnonzero(self.index.usable)
            rng = np.random.default_rng(0)
            size = min(STATS_SAMPLE, usable.size)
            self._sample = np.sort(rng.choice(usable, size, replace=False)) if size else usable
        return self._sample

    def _null_distribution(
        self, scores: np.ndarray, rows: np.ndarray, terms: Terms
    ) -> tuple[tuple[float, float], CutoffSource] | None:
        """(median, scale) of the scores of photos that do not match the query, and whose scores they are:
        this library's (``scores`` of the index positions ``rows``), else the world's; None: unknown."""
        sample = self._stats_sample()
        if sample.size >= MIN_STATS:
            at = sample if rows.size == self.index.n else np.searchsorted(rows, sample)
            stats = robust_stats(scores[at])
            return (stats, "library") if stats else None
        cutoff = self.settings.cutoff
        if cutoff.null_scale and terms.labels == ("text",):
            return (cutoff.null_median or 0.0, cutoff.null_scale), "world"
        return None

    def rank(
        self,
        query: Query,
        terms: Terms | None = None,
        *,
        use_cutoff: bool = True,
        limit: int | None = None,
        weaker: int = 0,
        leave_out: Sequence[int] = (),
    ) -> Ranking:
        """The photos passing the filters (and the cutoff), best first: all, or the first ``limit``; then
        the best ``weaker`` photos that pass the filters but not the cutoff, so a query whose matches
        are few still has something to show. ``leave_out``: photo ids never shown (marked wrong)."""
        index, w = self.index, self.settings
        terms = terms if terms is not None else self.encode(query)
        mask = self.filter_mask(query)
        mask[[p for p in map(index.position, leave_out) if p is not None]] = False
        cap_rows, cap_term, cap_main, cap_exact = self._caption_part(terms)
        caption_full = np.zeros(index.n, np.float32)
        caption_full[cap_rows] = cap_term

        def shortlist(global_cos: np.ndarray, coarse: np.ndarray | None) -> np.ndarray:
            first = first_stage(global_cos, coarse, terms.weights, w) + caption_full
            first[~mask] = -np.inf
            picked = _top(first, shortlist_size(index.n, coarse is not None))
            # The score distribution's sample needs region scores: coarse ones do, if there are any.
            return picked if coarse is not None else np.union1d(picked, self._stats_sample())

        cos = index.cosines(terms.vectors, shortlist)
        if cos.coarse is not None:  # every photo keeps a score: coarse, exact for the shortlist
            regions = cos.coarse.copy()
            regions[:, cos.rows] = cos.regions
            rows, global_cos = np.arange(index.n), cos.global_
        else:
            rows, regions = cos.rows, cos.regions
            global_cos = cos.global_[:, rows]
        scores = combine(global_cos, regions, terms.weights, w) + caption_full[rows]
        # A query of taught names alone ("Rex") is ordered by the names' boxes and looks, which no line
        # calibrated on general phrases describes: it gets none, and says "best first" and no more.
        names_alone = self.name_rerank > 0 and bool(terms.names) and not terms.beyond_names
        names_alone = names_alone and query.image is None and not query.negatives
        null = self._null_distribution(scores, rows, terms) if use_cutoff and not names_alone else None
        z = z_scores(scores, *null[0]) if null else None
        keep = mask[rows]
        considered = int(keep.sum())
        if z is not None:
            keep &= z >= w.cutoff.z
        kept = np.flatnonzero(keep)
        # Only the first ``limit`` are ordered: a full sort of a million scores would cost 100 ms.
        order = kept[_top(scores[kept], kept.size if limit is None else limit)]
        below = np.zeros(0, np.int64)
        if weaker > 0 and z is not None and (limit is None or order.size == kept.size):
            rest = np.flatnonzero(mask[rows] & ~keep)
            below = rest[_top(scores[rest], weaker)]
            order = np.concatenate([order, below])
        caption_by_pos = np.full(index.n, np.nan, np.float32)
        exact = np.zeros(index.n, bool)
        if cap_rows.size:
            caption_by_pos[cap_rows] = cap_main
            exact[cap_rows] = cap_exact
        # The photos whose captions hold the words exactly come first (their lift outweighs any
        # cosine); a re-order of the first photos leaves them there.
        pinned = pinned_count(exact[rows[order]], int(kept.size))
        return Ranking(
            positions=rows[order],
            scores=scores[order],
            z=None if z is None else z[order],
            matched=int(kept.size),
            considered=considered,
            cutoff=AppliedCutoff(null[1], w.cutoff.z) if null else NO_CUTOFF,
            cosines=RankCosines(
                global_cos[terms.main, order], regions[terms.main, order], caption_by_pos[rows[order]]
            ),
            weaker=int(below.size),
            pinned=pinned,
        )

    def search(
        self,
        query: Query,
        top: int = 20,
        *,
        sort: SortOrder = "score",
        rerank: int = 0,
        use_cutoff: bool = True,
    ) -> SearchResponse:
        """The best ``top`` photos for ``query``; ``sort='date'`` orders the photos above the cutoff by
        date (newest first); ``rerank`` re-orders the first k by the model's ITM head."""
        if sort not in get_args(SortOrder):
            raise QueryError(f"sort must be 'score' or 'date', not {sort!r}")
        t0 = time.perf_counter()
        terms = self.encode(query)
        t1 = time.perf_counter()
        # Sorting by date needs every photo above the cutoff; by score, only the first ones.
        limit = None if sort == "date" else max(top, rerank, self.itm_head, 0)
        ranking = self.rank(query, terms, use_cutoff=use_cutoff, limit=limit)
        t2 = time.perf_counter()
        ranked = self.ordered(ranking, terms, sort=sort, rerank=rerank)
        hits = ranked.first(top)
        t3 = time.perf_counter()
        return SearchResponse(
            hits,
            ranking.matched,
            ranking.considered,
            ranking.cutoff,
            SearchTimings(encode=(t1 - t0) * 1e3, rank=(t2 - t1) * 1e3, finish=(t3 - t2) * 1e3),
        )

    def ordered(
        self,
        ranking: Ranking,
        terms: Terms,
        *,
        sort: SortOrder = "score",
        rerank: int = 0,
        stale: Callable[[], bool] | None = None,
        itm: bool = True,
    ) -> RankedPhotos:
        """``ranking`` in the order shown, then everything by date if ``sort`` asks so; its hits come a
        page at a time. Its first photos are re-ordered: ``rerank`` (asked for) by the ITM head, the
        whole head whatever it costs; else for a query with a taught name by the name's box; else for
        other words the searcher's ``itm_head`` by the ITM head, within ``itm_seconds``, unless ``itm``
        is False (the window shows the index's order first, then this one: ``itm_applies``)."""
        if rerank > 0 and terms.text_hidden is not None:
            ranking = self._by_itm(ranking, terms, rerank, None, stale)
        elif self.name_rerank > 0 and terms.names and self.names and sort == "score":
            ranking = self._by_named_box(ranking, terms.names, terms.beyond_names, stale)
        elif itm and self.itm_applies(terms, sort):
            ranking = self._by_itm(ranking, terms, self.itm_head, self.itm_seconds, stale)
        if sort == "date":
            ranking = by_date(ranking, self.index.times)
        return RankedPhotos(ranking, self.index, self.db, terms.vectors[terms.main])

    # ----- results ---------------------------------------------------------------------------------
    def decode_positions(self, positions: np.ndarray) -> tuple[list[Image.Image], list[int]]:
        """The photos at index ``positions`` decoded again (for the model's input size), and the slots
        (into ``positions``) of those that could be: a file gone or changed since indexing is left out."""
        index = self.index
        ids = [int(index.ids[p]) for p in positions]
        paths = store.photo_paths(self.db, ids)
        images, slots = [], []
        for slot, pid in enumerate(ids):
            try:
                images.append(decode_image(paths[pid], 2 * int(self.runtime.image_size)).image)
                slots.append(slot)
            except (KeyError, KnownError, OSError):
                continue
        return images, slots

    def _by_named_box(
        self,
        ranking: Ranking,
        names: tuple[str, ...],
        beyond_names: bool,
        stale: Callable[[], bool] | None = None,
    ) -> Ranking:
        """The head of ``ranking`` re-ordered by the names' boxes (``app.personal.name_rerank``), mixed
        with the whole query's photo cosine when the query has more words than its names."""
        table = self.names
        assert table is not None
        order, box_cos = rerank_head(
            ranking.cosines.global_,
            ranking.matched,
            self.name_rerank,
            lambda slots: self.decode_positions(ranking.positions[slots]),
            lambda images: named_boxes(self.runtime, images, names, table).cosines,
            W_PHOTO_IN_CONTEXT if beyond_names else W_PHOTO_ALONE,
            self.name_rerank_seconds,
            stale=stale,
        )
        return replace(ranking, name_box=box_cos).take(order)

    def itm_applies(self, terms: Terms, sort: SortOrder = "score") -> bool:
        """Whether ``ordered`` re-orders these terms' first photos by the ITM head of the settings: words
        without a taught name (those get the name's re-order), sorted by score."""
        if sort != "score" or terms.text_hidden is None or self.itm_head <= 0:
            return False
        return not (self.name_rerank > 0 and terms.names and self.names)

    def _by_itm(
        self,
        ranking: Ranking,
        terms: Terms,
        count: int,
        budget_s: float | None,
        stale: Callable[[], bool] | None = None,
    ) -> Ranking:
        """The first ``count`` of ``ranking`` re-ordered by the ITM head (``app.head_itm``), matches above
        the cutoff apart from the weaker photos; a photo that cannot be read keeps its place after them."""
        assert terms.text_hidden is not None
        hidden, mask = terms.text_hidden
        w_region = self.settings.w_region_itm
        order, logits = rerank_head(
            ranking.scores,
            ranking.matched,
            count,
            lambda slots: self.decode_positions(ranking.positions[slots]),
            lambda images: head_itm(self.runtime, images, hidden, mask, w_region),
            0.0,
            budget_s,
            stale=stale,
            pinned=ranking.pinned,  # photos found by their captions' exact words stay first
        )
        return replace(ranking, itm=logits).take(order)
