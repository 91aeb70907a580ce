"""A ranking's first photos re-ordered by a score that needs each photo decoded and encoded again.

Two kinds of query do this: one holding a taught name (``app.personal.name_rerank``: the name's box and
look) and other text (``app.head_itm``: the ITM head). The index keeps no image tokens, so the photos
are decoded again, a chunk at a time, within a time budget; the rest keep their order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PIL import Image

CHUNK = 10  # photos decoded and scored together (a batch for the graphs, and the budget's step)


def centre_to_corner(boxes: np.ndarray) -> np.ndarray:
    """(…, 4) centre boxes (cx, cy, w, h) -> corner boxes (x, y, w, h), kept inside the unit square."""
    cx, cy, w, h = np.moveaxis(np.asarray(boxes, np.float64), -1, 0)
    w, h = np.clip(w, 1e-3, 1.0), np.clip(h, 1e-3, 1.0)
    x = np.clip(cx - w / 2, 0.0, 1.0 - w)
    y = np.clip(cy - h / 2, 0.0, 1.0 - h)
    return np.stack([x, y, w, h], axis=-1)


def pinned_count(exact_in_order: np.ndarray, matched: int) -> int:
    """The leading run of photos found by their captions' exact words among a ranking's first ``matched``
    (``core.caption_words``: their lift outweighs any cosine): no re-order of the head moves them."""
    leading = np.asarray(exact_in_order[:matched], bool)
    return int(leading.size if leading.all() else np.argmin(leading))


def rerank_order(photo_cos: np.ndarray, box_cos: np.ndarray, done: np.ndarray, w_photo: float) -> np.ndarray:
    """The order of a ranking's head: photos with a box score (``done``) by the mixed score (``w_photo``
    the photo's share), best first, then those without (a file gone or unreadable) in their old order."""
    mixed = w_photo * np.asarray(photo_cos, np.float64) + (1.0 - w_photo) * np.asarray(box_cos, np.float64)
    mixed = np.where(done, mixed, -np.inf)
    return np.argsort(-mixed, kind="stable")


def segments(length: int, matched: int, count: int, pinned: int = 0) -> list[tuple[int, int]]:
    """The spans of a ranking re-ordered: its first ``count`` photos but the first ``pinned`` (found by
    their captions' exact words: ``pinned_count``), without mixing matches above the cutoff with the
    weaker ones after them (the window draws a line between the two)."""
    head = min(count, length)
    cut = min(matched, head)
    return [(a, b) for a, b in ((pinned, cut), (max(cut, pinned), head)) if b > a]


def head_order(
    photo_cos: np.ndarray, head_scores: np.ndarray, spans: list[tuple[int, int]], w_photo: float
) -> np.ndarray:
    """The new order of a ranking (positions into it): within each span, by the mixed score
    (``rerank_order``; a photo without a head score, NaN, after those with one); elsewhere unchanged."""
    order = np.arange(len(photo_cos))
    for a, b in spans:
        part = np.arange(a, b)
        done = ~np.isnan(head_scores[part])
        order[a:b] = part[rerank_order(photo_cos[part], head_scores[part], done, w_photo)]
    return order


def rerank_head(
    photo_cos: np.ndarray,
    matched: int,
    count: int,
    decode: Callable[[np.ndarray], tuple[list[Image.Image], list[int]]],
    score: Callable[[list[Image.Image]], np.ndarray],
    w_photo: float,
    budget_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    stale: Callable[[], bool] | None = None,
    pinned: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The new order of a ranking (positions into it) and the head score of each re-ordered photo (NaN
    for the rest). ``decode(slots)`` returns the images it could read and their slots, ``score(images)``
    their head scores (a name's box cosine, an ITM logit); ``w_photo`` is ``photo_cos``'s share of the
    mixed score (``core.name_ranking``; 0: the head score alone).

    The head is scored ``CHUNK`` photos at a time in rank order, and scoring stops at the first chunk
    boundary after ``budget_s`` seconds (None: the whole head): a large model's slower photos make a
    shorter head rather than a slower search. It also stops when ``stale()`` says the answer is no
    longer wanted (the window's next keystroke started another search). Photos left unscored keep their
    order after the scored; the first ``pinned`` are neither scored nor moved."""
    length = len(photo_cos)
    box_cos = np.full(length, np.nan, np.float32)
    spans = segments(length, matched, count, pinned)
    if not spans:
        return np.arange(length), box_cos
    start = clock()
    for first in range(spans[0][0], spans[-1][1], CHUNK):
        if budget_s is not None and first > spans[0][0] and clock() - start > budget_s:
            break
        if stale is not None and stale():
            break
        wanted = np.arange(first, min(first + CHUNK, spans[-1][1]))
        images, slots = decode(wanted)
        if images:
            box_cos[wanted[slots]] = score(images)
    return head_order(photo_cos, box_cos, spans, w_photo), box_cos
