"""Search: a query -> the library's photos, scored multi-grained, filtered, cut off, optionally re-ranked.

The score of a photo for one query vector q (a text, an example image, or a negative term):

    s(q) = w_global * cos(q, global) + w_region * max_k cos(q, region_k)
           [+ w_caption * (max_c cos(q, caption_c) - median caption cosine of q)   for captioned photos]

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image
from sqlite_utils import Database

from app.library.db import bind_path, under_folder_params, under_folder_sql
from app.library.decode import decode_image
from app.library.regions import BOX_SET_NAME, BOXES
from app.query import Query, QueryError
from app.vectors import VectorIndex, load_index
from core.errors import KnownError
from core.search_settings import SearchSettings

RESCORE_MIN = 2000  # photos whose regions are scored again in int8 after the 4-bit pass, at least
RESCORE_SHARE = 0.01  # ... and at least this share of the library
# Two-stage search (large libraries): candidates whose regions are scored. 3 % of a million photos
# costs ~110 ms and keeps ~97 % of the exact top 10 (``multigrain tune-search`` measures it).
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


@dataclass(frozen=True)
class Hit:
    photo_id: int
    path: str
    score: float
    z: float | None  # robust z-score among the library's scores for this query
    cosines: dict[str, float | None]  # of the main term: global, region, caption (None: no caption)
    taken_at: str | None
    width: int | None
    height: int | None
    itm: float | None = None  # ITM 'match' logit when re-ranked
    region: tuple[float, float, float, float] | None = None  # best candidate box (x, y, w, h, fractions)


@dataclass
class SearchResponse:
    hits: list[Hit]
    matched: int  # photos passing the filters and the cutoff
    considered: int  # photos passing the filters
    cutoff: dict[str, object]  # {"source": "library" | "world" | "none", "z": ...}
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranking:
    positions: np.ndarray  # index positions that passed the filters (and cutoff), best first
    scores: np.ndarray
    z: np.ndarray | None
    matched: int  # photos that passed (``positions`` may hold only the first of them)
    considered: int
    cutoff: dict[str, object]
    cosines: dict[str, np.ndarray]  # main term's global/region/caption cosines, aligned with positions


def combine(
    global_cos: np.ndarray,
    region_cos: np.ndarray,
    weights: np.ndarray,
    settings: SearchSettings,
) -> np.ndarray:
    """The visual part of the score: sum over terms of weight * (w_global * cos_g + w_region * cos_r)."""
    mixed = settings.w_global * global_cos + settings.w_region * region_cos
    return np.asarray(weights, np.float32) @ mixed


def robust_stats(scores: np.ndarray) -> tuple[float, float] | None:
    """(median, 1.4826 x median absolute deviation) of a query's scores; None if they do not spread."""
    if scores.size < 2:
        return None
    median = float(np.median(scores))
    scale = 1.4826 * float(np.median(np.abs(scores - median)))
    if not np.isfinite(scale) or scale <= 1e-9:
        scale = float(np.std(scores))
    return (median, scale) if scale > 1e-9 else None


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
    ) -> None:
        from app.settings import load_settings

        self.db, self.db_path, self.runtime = db, Path(db_path), runtime
        if settings is None:
            shipped = (getattr(runtime, "manifest", None) or {}).get("search_settings")
            settings = load_settings(runtime.identity, shipped)
        self.settings = settings
        self.threads = threads
        self._index = index
        self._sample: np.ndarray | None = None
        self._reference_vectors: np.ndarray | None = None

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

    # ----- queries -> vectors ----------------------------------------------------------------------
    def encode(self, query: Query) -> Terms:
        if query.is_empty:
            raise QueryError("the query is empty: give words to search for, or --image FILE")
        vectors: list[np.ndarray] = []
        weights: list[float] = []
        labels: list[str] = []
        hidden = None
        texts = ([query.text] if query.text else []) + list(query.negatives)
        if texts:
            embeds, text_hidden, mask = self.runtime.encode_texts(texts)
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
        )

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
        folder = os.path.abspath(os.path.expanduser(folder))
        inside = under_folder_sql("path")
        rows = self.db.execute(
            f"SELECT id FROM photos WHERE status = 'ok' AND (path = CAST(:exact AS TEXT) OR {inside})",
            {"exact": bind_path(folder), **under_folder_params(folder)},
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def _caption_part(self, terms: Terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photo positions with captions (U,), weighted centred caption term (U,), main term's cosines)."""
        index = self.index
        rows, best = index.caption_scores(terms.vectors)
        if rows.size == 0 or self.settings.w_caption == 0.0:
            return rows, np.zeros(rows.size, np.float32), best[terms.main]
        if rows.size >= MIN_CAPTIONS:
            centre = np.median(best, axis=1)
        else:
            centre = np.median(terms.vectors @ self._references().T, axis=1)
        term = self.settings.w_caption * (terms.weights @ (best - centre[:, None]))
        return rows, term.astype(np.float32), best[terms.main]

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

    def rank(
        self, query: Query, terms: Terms | None = None, *, use_cutoff: bool = True, limit: int | None = None
    ) -> Ranking:
        """The photos passing the filters (and the cutoff), best first: all, or the first ``limit``."""
        index, w = self.index, self.settings
        terms = terms if terms is not None else self.encode(query)
        mask = self.filter_mask(query)
        cap_rows, cap_term, cap_main = self._caption_part(terms)
        caption_full = np.zeros(index.n, np.float32)
        caption_full[cap_rows] = cap_term

        def shortlist(global_cos: np.ndarray, coarse: np.ndarray | None) -> np.ndarray:
            if coarse is not None:  # the full score, with 4-bit regions
                first, size = (
                    combine(global_cos, coarse, terms.weights, w),
                    max(RESCORE_MIN, RESCORE_SHARE * index.n),
                )
            else:  # two-stage: regions correlate with the global view, which carries both weights
                first = (w.w_global + w.w_region) * (terms.weights @ global_cos)
                size = max(SHORTLIST_MIN, SHORTLIST_SHARE * index.n)
            first = first + caption_full
            first[~mask] = -np.inf
            picked = _top(first, int(size))
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
        full = rows.size == index.n

        stats, source = None, "none"
        if use_cutoff:
            sample = self._stats_sample()
            if sample.size >= MIN_STATS:
                at = sample if full else np.searchsorted(rows, sample)
                stats, source = robust_stats(scores[at]), "library"
            elif w.cutoff.null_scale and terms.labels == ("text",):
                stats, source = (w.cutoff.null_median or 0.0, w.cutoff.null_scale), "world"
        z = (scores - stats[0]) / stats[1] if stats else None
        keep = mask[rows]
        considered = int(keep.sum())
        if z is not None:
            keep &= z >= w.cutoff.z
        kept = np.flatnonzero(keep)
        # Only the first ``limit`` are ordered: a full sort of a million scores would cost 100 ms.
        order = kept[_top(scores[kept], kept.size if limit is None else limit)]
        caption_by_pos = np.full(index.n, np.nan, np.float32)
        if cap_rows.size:
            caption_by_pos[cap_rows] = cap_main
        return Ranking(
            positions=rows[order],
            scores=scores[order],
            z=None if z is None else z[order],
            matched=int(kept.size),
            considered=considered,
            cutoff={"source": source if stats else "none", "z": w.cutoff.z if stats else None},
            cosines={
                "global": global_cos[terms.main, order],
                "region": regions[terms.main, order],
                "caption": caption_by_pos[rows[order]],
            },
        )

    def search(
        self,
        query: Query,
        top: int = 20,
        *,
        sort: str = "score",
        rerank: int = 0,
        use_cutoff: bool = True,
    ) -> SearchResponse:
        """The best ``top`` photos for ``query``; ``sort='date'`` orders the photos above the cutoff by
        date (newest first); ``rerank`` re-orders the first k by the model's ITM head."""
        if sort not in ("score", "date"):
            raise QueryError(f"sort must be 'score' or 'date', not {sort!r}")
        t0 = time.perf_counter()
        terms = self.encode(query)
        t1 = time.perf_counter()
        # Sorting by date needs every photo above the cutoff; by score, only the first ones.
        limit = None if sort == "date" else max(top, rerank, 0)
        ranking = self.rank(query, terms, use_cutoff=use_cutoff, limit=limit)
        t2 = time.perf_counter()
        picked = np.arange(len(ranking.positions))
        itm: dict[int, float] = {}
        if rerank > 0 and terms.text_hidden is not None:
            itm = self._itm(ranking.positions[:rerank], terms.text_hidden)
            head = sorted(picked[:rerank], key=lambda i: -itm.get(i, -np.inf))
            picked = np.concatenate([np.array(head, np.int64), picked[rerank:]])
        if sort == "date":
            times = self.index.times[ranking.positions]
            picked = picked[np.argsort(-np.nan_to_num(times[picked], nan=-np.inf), kind="stable")]
        picked = picked[: max(top, 0)]
        hits = self._hits(ranking, picked, terms, itm)
        t3 = time.perf_counter()
        return SearchResponse(
            hits,
            ranking.matched,
            ranking.considered,
            ranking.cutoff,
            {"encode": (t1 - t0) * 1e3, "rank": (t2 - t1) * 1e3, "finish": (t3 - t2) * 1e3},
        )

    # ----- results ---------------------------------------------------------------------------------
    def _hits(self, ranking: Ranking, picked: np.ndarray, terms: Terms, itm: dict[int, float]) -> list[Hit]:
        index = self.index
        ids = [int(index.ids[ranking.positions[i]]) for i in picked]
        rows = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found = self.db.execute(
                f"SELECT id, path, taken_at, width, height FROM photos WHERE id IN ({marks})", chunk
            )
            rows.update({r[0]: r[1:] for r in found})
        hits = []
        for i, pid in zip(picked, ids, strict=True):
            if pid not in rows:  # removed since the index was loaded
                continue
            path, taken_at, width, height = rows[pid]
            caption = float(ranking.cosines["caption"][i])
            box, _ = index.best_region(terms.vectors[terms.main], int(ranking.positions[i]))
            hits.append(
                Hit(
                    photo_id=pid,
                    path=path,
                    score=float(ranking.scores[i]),
                    z=None if ranking.z is None else float(ranking.z[i]),
                    cosines={
                        "global": float(ranking.cosines["global"][i]),
                        "region": float(ranking.cosines["region"][i]),
                        "caption": None if np.isnan(caption) else caption,
                    },
                    taken_at=taken_at,
                    width=width,
                    height=height,
                    itm=itm.get(int(i)),
                    region=tuple(float(v) for v in BOXES[box]) if index.box_count == len(BOXES) else None,
                )
            )
        return hits

    def _itm(self, positions: np.ndarray, text: tuple[np.ndarray, np.ndarray]) -> dict[int, float]:
        """ITM logits of the positive text with the photos at ``positions`` (files decoded again)."""
        index = self.index
        ids = [int(index.ids[p]) for p in positions]
        paths = (
            dict(
                self.db.execute(
                    f"SELECT id, path FROM photos WHERE id IN ({','.join('?' * len(ids))})", ids
                ).fetchall()
            )
            if ids
            else {}
        )
        images, slots = [], []
        for slot, pid in enumerate(ids):
            try:
                images.append(decode_image(paths[pid], 2 * int(self.runtime.image_size)).image)
                slots.append(slot)
            except (KeyError, KnownError):
                continue  # a file gone or changed since indexing keeps its place, without ITM
        if not images:
            return {}
        _, tokens = self.runtime.encode_images(images)
        logits = self.runtime.itm_scores(text[0], text[1], tokens)
        return {slot: float(v) for slot, v in zip(slots, logits, strict=True)}
