"""More like this, close up: the part score, and the head re-ordered by it (app/parts.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.parts import CHUNK, PART_BOXES, PartCache, part_embeds, part_scores, reorder_by_parts
from app.similar import by_parts
from core.part_ranking import PART_GRID


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float64)
    return v / np.linalg.norm(v)


SAND, SKY, CAR, DOG = _unit(1, 0, 0, 0), _unit(0, 1, 0, 0), _unit(0, 0, 1, 0), _unit(0, 0, 0, 1)


def test_a_distinctive_part_outweighs_the_sand_every_photo_has() -> None:
    query = np.stack([SAND, SAND, SKY, CAR])  # mostly beach, and a small car
    with_car = np.stack([SAND, SKY, SKY, CAR])
    beach_only = np.stack([SAND, SAND, SKY, SKY])  # three of the query's four parts match exactly
    found = part_scores(query, np.stack([beach_only, with_car, np.stack([SAND, SAND, SAND, SKY])]))
    assert found.scores[1] > found.scores[0]  # the car decides, not the shared sand and sky
    assert found.weights[3] > 0.9 and abs(found.weights.sum() - 1) < 1e-9
    assert found.best[1].tolist() == [0, 0, 1, 3]  # each query part's match in the photo with the car
    np.testing.assert_allclose(found.matched[1], [1.0, 1.0, 1.0, 1.0])


def test_parts_that_are_all_typical_weigh_alike() -> None:
    same = np.stack([SAND] * 4)
    found = part_scores(same, np.stack([same, same]))
    np.testing.assert_allclose(found.weights, 0.25)  # (1 - 1)^p is 0 for all: an even mean
    assert part_scores(same, np.zeros((0, 4, 4))).scores.shape == (0,)


def test_the_head_is_reordered_unreadable_photos_keep_their_place_after_it() -> None:
    query = np.stack([SAND, CAR])
    photos = {0: [SAND, SKY], 1: [SAND, SKY], 2: [CAR, SAND], 3: [SAND, CAR], 4: [SAND, CAR], 5: [DOG, SKY]}
    asked: list[list[int]] = []

    def parts_of(slots: np.ndarray):
        asked.append([int(s) for s in slots])
        readable = [i for i, s in enumerate(slots) if int(s) != 1]  # the second photo's file is gone
        return np.stack([np.stack(photos[int(slots[i])]) for i in readable]), readable

    assert CHUNK == 6  # the head below is one chunk
    found = reorder_by_parts(8, query, parts_of, head=6, budget_s=None)
    assert asked == [[0, 1, 2, 3, 4, 5]]  # the head only, in one call; 6 and 7 are never decoded
    assert found.scored == 5
    assert found.order[:3].tolist() == [2, 3, 4]  # the car's photos, tied, in their old order
    assert set(found.order[3:5].tolist()) == {0, 5} and found.order[5] == 1  # then the others, unread last
    assert found.order[6:].tolist() == [6, 7]  # beyond the head: untouched
    query_part, its_match = found.reasons[2]
    # The query's car (its part 1) counts most in photo 2's score, matched by that photo's part 0.
    assert query_part == PART_BOXES[1] and its_match == PART_BOXES[0]


def test_the_budget_stops_at_a_chunk_boundary() -> None:
    ticks = iter(range(100))
    calls: list[int] = []

    def parts_of(slots: np.ndarray):
        calls.append(len(slots))
        return np.stack([np.stack([SAND, CAR])] * len(slots)), list(range(len(slots)))

    found = reorder_by_parts(
        40, np.stack([SAND, CAR]), parts_of, head=30, budget_s=0.5, clock=lambda: next(ticks)
    )
    assert calls == [CHUNK] and found.scored == CHUNK  # the second chunk found the budget spent


def test_an_unreadable_query_photo_leaves_the_ranking_as_it_was() -> None:
    order, reasons = by_parts(np.array([5, 3, 9]), 7, lambda positions: (np.zeros((0, 2, 4)), []))
    assert order.tolist() == [0, 1, 2] and reasons == {}


class _MeanColour:
    """A vision graph that embeds an image by its mean red and blue."""

    embed_dim = 2

    def encode_images(self, images):
        rgb = np.array([np.asarray(im, np.float64).reshape(-1, 3).mean(axis=0) for im in images])
        v = rgb[:, [0, 2]] + 1e-6
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), None


def test_each_part_is_its_grid_cell_cropped() -> None:
    image = Image.new("RGB", (90, 60), (0, 0, 255))
    image.paste((255, 0, 0), (60, 40, 90, 60))  # the bottom right cell is red
    parts = part_embeds(_MeanColour(), [image])
    assert parts.shape == (1, PART_GRID**2, 2)
    red = [i for i in range(PART_GRID**2) if parts[0, i, 0] > 0.99]
    assert red == [PART_GRID**2 - 1]


def test_the_cache_encodes_a_photo_once_per_index_and_forgets_the_oldest() -> None:
    encoded: list[list[int]] = []

    class Runtime:
        embed_dim = 2

        def encode_images(self, images):
            encoded.append([im.size[0] for im in images])
            return np.tile([[1.0, 0.0]], (len(images), 1)).astype(np.float32), None

    def decode(positions: np.ndarray):
        readable = [i for i, p in enumerate(positions) if int(p) != 9]  # photo 9's file is gone
        return [Image.new("RGB", (int(positions[i]) + 10, 9)) for i in readable], readable

    cache = PartCache(limit=3)
    index = object()
    parts, slots = cache.parts_at(Runtime(), decode, index)(np.array([1, 2, 9]))
    assert slots == [0, 1] and parts.shape == (2, PART_GRID**2, 2)
    assert len(encoded) == 1  # photos 1 and 2, their nine parts each, in one batch
    cache.parts_at(Runtime(), decode, index)(np.array([2, 1]))
    assert len(encoded) == 1  # both known: nothing encoded again (the next round of feedback)
    cache.parts_at(Runtime(), decode, index)(np.array([3, 4]))  # four photos: 2 (least recent) goes
    cache.parts_at(Runtime(), decode, index)(np.array([2]))
    assert len(encoded) == 3
    cache.parts_at(Runtime(), decode, object())(np.array([4]))  # another index: positions mean new photos
    assert len(encoded) == 4
