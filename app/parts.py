"""More like this, close up: the first photos of a "more like this" ranking re-ordered by their parts,
each cropped and seen by the vision model at its full input size.

Why (docs/similar.md, "Parts, close up"): the demo model sees a photo as 10 x 10 patches, so a small
object is a patch or two of the global embedding and a sliver of any stored grid region; the region
vectors describe the background around it more than the thing. Cropping a ninth of the photo and
encoding the crop shows the model that part at three times the pixels, where the thing is a thing. The
index keeps no crops (each would cost a vision pass per photo when indexing), so only the head of a
ranking is looked at again, within a time budget, as a query holding a taught name does.

The part score of a candidate: for each part of the query photo, its best match among the candidate's
parts, averaged with weights that favour the query's distinctive parts, (1 - cos(part, typical
part))^PART_POWER, where the typical part is the mean of the parts of the photos looked at. A stretch
of sky or sand that every photo has weighs almost nothing; the part holding the small red car weighs
most. The weighted score alone orders the head: on the world's validation split it beat mixing it with
the fused score (docs/similar.md).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from core.name_look import look_crop
from core.part_ranking import PART_GRID, PART_POWER, PARTS_HEAD, PARTS_SECONDS
from core.region_boxes import grid

Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the photo


PART_BOXES: tuple[Box, ...] = tuple(grid(PART_GRID))  # core.part_ranking says why this grid
CHUNK = 6  # photos decoded and encoded together (a batch for the vision graph, and the budget's step)


def part_embeds(runtime: Any, images: list[Image.Image]) -> np.ndarray:
    """(len(images), K, D): each photo's ``PART_BOXES`` cropped and encoded by the vision graph."""
    if not images:
        return np.zeros((0, len(PART_BOXES), int(runtime.embed_dim)), np.float32)
    crops = [look_crop(image, box) for image in images for box in PART_BOXES]
    embeds, _ = runtime.encode_images(crops)
    return embeds.reshape(len(images), len(PART_BOXES), -1)


@dataclass(frozen=True)
class PartScores:
    scores: np.ndarray  # (H,) the weighted part score of each candidate
    weights: np.ndarray  # (K,) each query part's weight (they sum to 1)
    matched: np.ndarray  # (H, K) each query part's best cosine among the candidate's parts
    best: np.ndarray  # (H, K) ... and which part that is


def part_scores(query: np.ndarray, candidates: np.ndarray) -> PartScores:
    """The part score (module docstring) of each of ``candidates`` (H, K, D) for ``query`` (K, D)."""
    query = np.asarray(query, np.float64)
    candidates = np.asarray(candidates, np.float64)
    if candidates.shape[0] == 0:
        empty = np.zeros((0, len(query)))
        return PartScores(np.zeros(0), np.full(len(query), 1.0 / len(query)), empty, empty.astype(int))
    typical = np.concatenate([query[None], candidates]).reshape(-1, query.shape[-1]).mean(axis=0)
    typical /= max(float(np.linalg.norm(typical)), 1e-12)
    weights = np.clip(1.0 - query @ typical, 0.0, None) ** PART_POWER
    total = float(weights.sum())
    weights = weights / total if total > 0 else np.full(len(query), 1.0 / len(query))
    cosines = np.einsum("kd,hjd->hkj", query, candidates)  # (H, query part, candidate part)
    matched = cosines.max(axis=2)
    return PartScores(matched @ weights, weights, matched, cosines.argmax(axis=2))


@dataclass(frozen=True)
class PartOrder:
    order: np.ndarray  # positions into the ranking, the re-ordered head first
    scored: int  # head photos scored by their parts (the rest of the head kept its place after them)
    reasons: dict[int, tuple[Box, Box]]  # ranking position -> (query part, its match in that photo)


def reorder_by_parts(
    length: int,
    query: np.ndarray,
    parts_of: Callable[[np.ndarray], tuple[np.ndarray, list[int]]],
    head: int = PARTS_HEAD,
    budget_s: float | None = PARTS_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> PartOrder:
    """The new order of a ranking of ``length`` photos: its first ``head`` by their part score for
    ``query`` (K, D), then the head's others in their old order, then the rest. ``parts_of(slots)``
    gives the parts (n, K, D) of the photos it could read among those ranking positions, and which
    (``PartCache.parts_at``, in the app); it is asked ``CHUNK`` photos at a time until
    ``budget_s`` is spent (None: the whole head). Each re-ordered photo's reason is the query part that
    counts most in its score and the part of the photo it matched."""
    order = np.arange(length)
    count = min(head, length)
    start = clock()
    slots: list[int] = []
    parts: list[np.ndarray] = []
    for first in range(0, count, CHUNK):
        if budget_s is not None and first > 0 and clock() - start > budget_s:
            break
        wanted = np.arange(first, min(first + CHUNK, count))
        found, readable = parts_of(wanted)
        if readable:
            parts.append(found)
            slots.extend(int(wanted[i]) for i in readable)
    if not slots:
        return PartOrder(order, 0, {})
    scored = part_scores(query, np.concatenate(parts))
    ranked = np.array(slots)[np.argsort(-scored.scores, kind="stable")]
    done = set(slots)
    rest = [p for p in range(count) if p not in done]
    order[:count] = np.concatenate([ranked, np.array(rest, dtype=int)])
    reasons = {}
    for row, slot in enumerate(slots):
        k = int(np.argmax(scored.weights * scored.matched[row]))  # the query part that counts most here
        reasons[slot] = (PART_BOXES[k], PART_BOXES[int(scored.best[row, k])])
    return PartOrder(order, len(slots), reasons)


class PartCache:
    """The parts of photos already looked at, by index position, for as long as the index is the same
    one: a mark (Right, Wrong) runs "Find similar" again, and the new head is mostly the old one, so a
    round of feedback encodes only the photos new to it. At most ``limit`` photos (9 parts of 256
    floats each: 9 kB a photo with the demo model), the least recently used dropped first."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self._parts: OrderedDict[int, np.ndarray] = OrderedDict()
        self._index: object | None = None

    def parts_at(
        self,
        runtime: Any,
        decode: Callable[[np.ndarray], tuple[list[Image.Image], list[int]]],
        index: object,
    ) -> Callable[[np.ndarray], tuple[np.ndarray, list[int]]]:
        """``reorder_by_parts``' ``parts_of`` for index positions of ``index``, through this cache;
        ``decode(positions)`` gives the photos it could read and their slots
        (``Searcher.decode_positions``)."""
        if index is not self._index:
            self._parts.clear()
            self._index = index

        def parts_of(positions: np.ndarray) -> tuple[np.ndarray, list[int]]:
            missing = np.array([p for p in positions if int(p) not in self._parts], dtype=np.int64)
            if missing.size:
                images, readable = decode(missing)
                found = part_embeds(runtime, images)
                for row, slot in enumerate(readable):
                    self._parts[int(missing[slot])] = found[row]
            slots = [i for i, p in enumerate(positions) if int(p) in self._parts]
            for i in slots:
                self._parts.move_to_end(int(positions[i]))
            while len(self._parts) > self.limit:
                self._parts.popitem(last=False)
            if not slots:
                return np.zeros((0, len(PART_BOXES), int(runtime.embed_dim)), np.float32), []
            return np.stack([self._parts[int(positions[i])] for i in slots]), slots

        return parts_of
