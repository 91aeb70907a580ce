"""Words in captions as evidence for a text search: does a photo's caption say what the query says?

Why words and not only the caption's embedding: a text embedding squeezes a sentence into one vector,
and two captions that share their template ("a small red guitar in the desert", "a small blue laptop in
the desert") land close together whatever their objects. On the world's libraries the embedding's
caption term could not lift the photos whose caption matched without lifting wrong ones above the
uncaptioned right photo (docs/similar.md). The words a person typed are sharper evidence: a caption
that names the query's rare words, and most of them, is about the same thing.

The evidence of one caption for one query has two parts:
- ``z``: its BM25 score (Robertson's ranking function; term weights from the library's own captions)
  as a robust z-score among the library's captioned photos, so a caption counts when it stands out
  from the others, whatever the query's length;
- ``coverage``: the share of the query's word weight (IDF) the caption holds. A caption sharing only
  the common words of a long query ("small", "field") is not about the same photo; the lift is scaled
  by ``coverage ** COVERAGE_POWER`` (chosen on the world's val split, docs/similar.md).

Search turns them into a lift (``lift``): ``min(max(z - floor, 0), Z_CAP) * coverage ** POWER``, zero
for a photo without a caption, so a photo is never ranked lower for lacking one; and a caption holding
every word of the query, one of them no other photo's caption holds (``exact``), puts its photo first.

Torch-free and file-free; the app builds one per library from its captions (``app.vectors``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# BM25's usual constants (term frequency saturation, length normalisation).
BM25_K1 = 1.2
BM25_B = 0.75
# The lift's shape: coverage of the query's word weight to this power (4: a caption must hold most of
# what the query names; on the world's val split 2 and 4 lost no uncaptioned query at the chosen weight,
# and 4 lost fewest when the weight was doubled), and a ceiling on the z a single rare word can reach
# (with most captions scoring 0 its scale is tiny and its z unbounded).
COVERAGE_POWER = 4
Z_CAP = 20.0
# A caption that holds every word of the query, one of them a word no other photo's caption holds, is
# the person's own words for that photo ("grandpa's bicycle at brighton"): search puts it first
# (``EXACT_LIFT`` in score units, more than any cosine gap) whatever the model makes of the pixels. On
# the world's templated captions it fires for 0.7 % of val and 0.2 % of test caption queries and moved
# no uncaptioned photo's query; a z threshold instead (15) depended on the library's size (a word held
# by one caption of N stands out by about sqrt(N)), and "held by at most one photo" alone, without the
# unique word, cost uncaptioned photos 0.5-0.8 points of R@1.
EXACT_LIFT = 3.0

# Words that say how a sentence is built, not what a photo holds: function words, and the words of
# placement a caption and a query phrase differently ("at the top left", "right of"). Kept out of both
# the query and the captions.
_STOP_TEXT = """a an the and or of with without in on at to by for from into onto over under near next
beside behind between together plus another other there here is are was were be been being it its this
that these those some any one photo photos picture image pictures images shot snapshot showing shows
show my our your his her their me we us you top bottom left right centre center middle side front back"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The content words of ``text``: letters only, case and accents folded, stop words left out."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.findall(plain) if w not in STOP_WORDS]


@dataclass(frozen=True)
class WordEvidence:
    """The evidence of every caption for each of Q queries, captions grouped by photo."""

    photos: np.ndarray  # (U,) the photos (positions) with captions, ascending
    starts: np.ndarray  # (U,) where each photo's captions start in the caption axis
    z: np.ndarray  # (Q, C) robust z of each caption's BM25 score among the photos' best
    coverage: np.ndarray  # (Q, C) share of the query's word weight each caption holds
    own: np.ndarray | None = None  # (Q, C) the caption holds every query word, one only its photo holds

    def exact(self) -> np.ndarray:
        """(Q, U) whether a photo has a caption holding every word of the query, one of them a word no
        other photo's caption holds (a query with no words has none)."""
        if self.photos.size == 0 or self.own is None:
            return np.zeros((self.z.shape[0], self.photos.size), bool)
        return np.maximum.reduceat(self.own, self.starts, axis=1)

    def lift(self, floor: float) -> np.ndarray:
        """(Q, U) per photo, its best caption's ``min(max(z - floor, 0), Z_CAP) * coverage ** POWER``."""
        if self.photos.size == 0:
            return np.zeros((self.z.shape[0], 0), np.float32)
        per_caption = np.clip(self.z - floor, 0.0, Z_CAP) * self.coverage**COVERAGE_POWER
        return np.maximum.reduceat(per_caption, self.starts, axis=1).astype(np.float32)


class CaptionWords:
    """An inverted index of a library's captions, for ``evidence``.

    ``texts`` are the captions, ``photos`` the photo (position) of each. ``background``: sentences that
    stand in for a library's captions when it has fewer than ``min_captioned`` captioned photos: they
    join the word weights and give the score distribution a z is measured against (a handful of
    captions cannot say what an unremarkable score is)."""

    def __init__(
        self,
        texts: Sequence[str],
        photos: Sequence[int] | np.ndarray,
        background: Sequence[str] = (),
        min_captioned: int = 20,
    ) -> None:
        photos = np.asarray(photos, np.int64)
        if photos.shape != (len(texts),):
            raise ValueError(f"{len(texts)} captions but {photos.size} photo positions")
        order = np.argsort(photos, kind="stable")
        self._order = order
        sorted_photos = photos[order]
        starts = np.flatnonzero(np.r_[True, sorted_photos[1:] != sorted_photos[:-1]])
        self.starts = starts if order.size else order
        self.photos = sorted_photos[self.starts] if order.size else sorted_photos
        self.use_background = self.photos.size < min_captioned and len(background) > 0
        docs = [words(texts[i]) for i in order]
        extra = [words(t) for t in background] if self.use_background else []
        self._postings, self._idf = _postings(docs + extra)
        holders: dict[str, set[int]] = {}
        for photo, doc in zip(sorted_photos.tolist(), docs, strict=True):
            for word in doc:
                holders.setdefault(word, set()).add(photo)
        self._own_words = frozenset(w for w, found in holders.items() if len(found) == 1)
        self._captions = len(docs)
        self._lengths = np.array([len(d) for d in docs + extra], np.float32)

    def __len__(self) -> int:
        return self._captions

    def evidence(self, queries: Sequence[str]) -> WordEvidence:
        """Each query's evidence from every caption (``WordEvidence``)."""
        q, c = len(queries), self._captions
        z = np.zeros((q, c), np.float32)
        coverage = np.zeros((q, c), np.float32)
        own = np.zeros((q, c), bool)
        for i, query in enumerate(queries):
            bm25, held = self._scores(query)
            z[i], coverage[i] = self._robust_z(bm25), held[:c]
            if self._own_words.intersection(words(query)):
                own[i] = coverage[i] >= 1.0 - 1e-5
        return WordEvidence(self.photos, self.starts, z, coverage, own)

    def _scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 and coverage of every document (captions, then any background) for one query."""
        total = self._lengths.size
        bm25 = np.zeros(total, np.float32)
        held = np.zeros(total, np.float32)
        wanted = set(words(query))
        weight = sum(self._idf.get(w, self._unseen_idf()) for w in wanted)
        if not wanted or total == 0:
            return bm25, held
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * self._lengths / max(float(self._lengths.mean()), 1e-9))
        for word in wanted:
            found = self._postings.get(word)
            if found is None:
                continue
            docs, counts = found
            idf = self._idf[word]
            bm25[docs] += idf * counts * (BM25_K1 + 1.0) / (counts + norm[docs])
            held[docs] += idf / weight
        return bm25, held

    def _unseen_idf(self) -> float:
        # A query word no caption holds weighs as much as a word held by one: it still counts against
        # coverage (a caption cannot hold it), as the query's rarest kind of word.
        return math.log(1.0 + (self._lengths.size - 0.5) / 1.5) if self._lengths.size else 1.0

    def _robust_z(self, bm25: np.ndarray) -> np.ndarray:
        """The captions' z among the photos' best scores (or among the background's, for a library
        with few captions): median and 1.4826 x MAD, the standard deviation where that is 0."""
        own = bm25[: self._captions]
        if self.use_background:
            reference = bm25[self._captions :]
        else:
            reference = np.maximum.reduceat(own, self.starts) if own.size else own
        if reference.size == 0:
            return np.zeros_like(own)
        centre = float(np.median(reference))
        scale = 1.4826 * float(np.median(np.abs(reference - centre)))
        if scale <= 1e-9:
            scale = float(np.std(reference))
        if scale <= 1e-9:  # every reference scored alike: a caption that beats them all stands out fully
            return np.where(own > centre, Z_CAP, 0.0).astype(np.float32)
        return ((own - centre) / scale).astype(np.float32)


def _postings(docs: list[list[str]]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float]]:
    """word -> (documents holding it, its count in each), and word -> BM25's IDF."""
    found: dict[str, dict[int, int]] = {}
    for i, doc in enumerate(docs):
        for word in doc:
            counts = found.setdefault(word, {})
            counts[i] = counts.get(i, 0) + 1
    n = len(docs)
    postings, idf = {}, {}
    for word, counts in found.items():
        postings[word] = (np.fromiter(counts, np.int64), np.fromiter(counts.values(), np.float32))
        idf[word] = math.log(1.0 + (n - len(counts) + 0.5) / (len(counts) + 0.5))
    return postings, idf
