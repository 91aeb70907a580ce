"""A query holding a taught name re-orders its first photos by the name's box in each: the pure parts, and
the head re-ordering they share with the ITM re-order (``app.head_rerank``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.head_rerank import centre_to_corner, rerank_head, rerank_order, segments
from app.personal.usage import has_other_words, names_in
from core.names import NameTable


def _table(*names: str) -> NameTable:
    return NameTable({name: slot for slot, name in enumerate(names)}, np.zeros((64, 4), np.float32))


def test_names_are_found_as_whole_words_in_any_case_each_once() -> None:
    table = _table("Rex", "Grandma's house", "Bella")
    assert names_in("REX and rex on the beach with bella", table) == ("Rex", "Bella")
    assert names_in("Rexford on the beach", table) == ()
    assert names_in("grandmas house in the snow", table) == ("Grandma's house",)  # as the text graph reads it
    assert names_in("Rex", None) == ()


def test_a_query_says_more_than_its_names_when_other_words_remain() -> None:
    table = _table("Rex", "Bella")
    assert not has_other_words("Rex", table) and not has_other_words("REX, bella!", table)
    assert has_other_words("Rex on the beach", table) and has_other_words("a photo of rex", table)
    assert has_other_words("Rexford", table)  # not a name: a word


def test_centre_boxes_become_corner_boxes_inside_the_photo() -> None:
    boxes = np.array([[0.5, 0.5, 0.2, 0.4], [0.05, 0.95, 0.2, 0.2], [0.5, 0.5, 1.4, 0.0]])
    expected = [[0.4, 0.3, 0.2, 0.4], [0.0, 0.8, 0.2, 0.2], [0.0, 0.4995, 1.0, 0.001]]
    np.testing.assert_allclose(centre_to_corner(boxes), expected, atol=1e-9)


def test_segments_never_mix_matches_with_weaker_photos() -> None:
    assert segments(length=30, matched=30, count=20) == [(0, 20)]
    assert segments(length=30, matched=5, count=20) == [(0, 5), (5, 20)]
    assert segments(length=30, matched=0, count=20) == [(0, 20)]
    assert segments(length=3, matched=3, count=20) == [(0, 3)]
    assert segments(length=0, matched=0, count=20) == []


def test_segments_leave_the_pinned_photos_out() -> None:
    assert segments(length=30, matched=5, count=20, pinned=2) == [(2, 5), (5, 20)]
    assert segments(length=30, matched=5, count=20, pinned=5) == [(5, 20)]
    assert segments(length=30, matched=30, count=4, pinned=6) == []  # a head shorter than the pinned


def test_the_order_mixes_photo_and_box_cosines_and_puts_unread_photos_last() -> None:
    photo = np.array([0.9, 0.5, 0.5, 0.8])
    box = np.array([0.1, 0.9, 0.2, 0.0])
    done = np.array([True, True, True, False])
    mixed = 0.3 * photo + 0.7 * box
    assert list(rerank_order(photo, box, done, 0.3)) == [*np.argsort(-mixed[:3]), 3]
    assert rerank_order(photo, box, done, 0.3)[0] == 1  # the box outweighs the photo's cosine
    assert list(rerank_order(photo, box, done, 1.0)) == [0, 1, 2, 3]  # the photo alone: the old order
    assert list(rerank_order(photo, box, done, 0.0)) == [1, 2, 0, 3]  # the box alone


def test_the_head_is_reordered_per_segment_and_only_it_is_decoded() -> None:
    photo = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    asked: list[list[int]] = []

    def decode(slots: np.ndarray):
        asked.append(list(slots))
        readable = [int(s) for s in slots if s != 2]  # the third photo's file is gone
        return [f"img{s}" for s in readable], readable

    def score(images):
        by_slot = {"img0": 0.0, "img1": 0.9, "img3": 0.9, "img4": 0.1}
        return np.array([by_slot[i] for i in images])

    order, box_cos = rerank_head(photo, matched=3, count=5, decode=decode, score=score, w_photo=0.3)
    assert asked == [[0, 1, 2, 3, 4]]  # the first five, in one call; the sixth is not decoded
    # Matches (0-2): 1 rises above 0, the unread 2 stays last among them; weaker (3-4): 3 before 4;
    # the rest keeps its place.
    assert list(order) == [1, 0, 2, 3, 4, 5]
    assert np.isnan(box_cos[[2, 5]]).all() and box_cos[1] == pytest.approx(0.9)


def test_nothing_readable_keeps_the_order() -> None:
    order, box_cos = rerank_head(
        np.array([0.3, 0.9]),
        2,
        20,
        lambda slots: ([], []),
        lambda images: pytest.fail("nothing to score"),
        0.0,
    )
    assert list(order) == [0, 1] and np.isnan(box_cos).all()


def test_the_head_stops_at_the_time_budget_in_whole_chunks() -> None:
    from app.head_rerank import CHUNK

    photo = np.linspace(0.9, 0.1, 45)
    asked: list[list[int]] = []
    ticks = iter([0.0, 0.5, 1.0, 2.0, 9.0])  # the clock at the start, then before each later chunk

    def decode(slots: np.ndarray):
        asked.append(list(slots))
        return [int(s) for s in slots], [int(i) for i in range(len(slots))]

    def score(images):
        return np.array([1.0 if s == 25 else 0.0 for s in images])

    order, box_cos = rerank_head(photo, 45, 45, decode, score, 0.0, budget_s=1.5, clock=lambda: next(ticks))
    # Chunks start at 0, 10, 20 (clock 0.5 and 1.0 are within 1.5 s); at 30 the clock says 2.0: stop.
    assert [a[0] for a in asked] == [0, CHUNK, 2 * CHUNK] and asked[-1][-1] == 29
    assert order[0] == 25  # the best box among the scored moves to the top
    assert list(order[30:]) == list(range(30, 45))  # the unscored keep the index's order after them
    assert np.isnan(box_cos[30:]).all() and not np.isnan(box_cos[:30]).any()


def test_a_stale_search_stops_scoring_at_the_next_chunk() -> None:
    photo = np.linspace(0.9, 0.1, 45)
    asked: list[int] = []
    wanted = iter([False, True])  # the next keystroke arrives while the first chunk is scored

    def decode(slots: np.ndarray):
        asked.append(int(slots[0]))
        return [int(s) for s in slots], list(range(len(slots)))

    def score(images):
        return np.zeros(len(images))

    order, box_cos = rerank_head(photo, 45, 45, decode, score, 0.0, stale=lambda: next(wanted))
    assert asked == [0]  # one chunk, then it stopped: no other photo was decoded
    assert list(order) == list(range(45)) and np.isnan(box_cos[10:]).all()


class _ColourRuntime:
    """A runtime whose vision graph embeds an image by its mean colour (red, blue), whose box head puts a
    name in each photo's left half, and whose region embedding is the same for every box: only a look
    can tell the photos apart, and only through the crop of the box."""

    def encode_images(self, images):
        rgb = np.array([np.asarray(im, np.float64).reshape(-1, 3).mean(axis=0) for im in images])
        embeds = rgb[:, [0, 2]] / np.linalg.norm(rgb[:, [0, 2]], axis=1, keepdims=True)
        return embeds.astype(np.float32), np.zeros((len(images), 2, 2), np.float32)

    def encode_texts(self, texts, names=None):
        n = len(texts)
        return np.tile([[0.6, 0.8]], (n, 1)).astype(np.float32), np.zeros((n, 3, 2)), np.ones((n, 3))

    def predict_boxes(self, hidden, mask, tokens):
        return np.tile([[0.25, 0.5, 0.5, 1.0]], (len(tokens), 1))  # centre box: the left half

    def encode_regions(self, tokens, boxes):
        return np.tile([[[0.6, 0.8]]], (len(tokens), 1, 1)).astype(np.float32)


def _halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (40, 20), right)
    image.paste(left, (0, 0, 20, 20))
    return image


def test_a_name_with_a_look_scores_the_crop_of_its_box_and_one_without_the_box_alone() -> None:
    from app.personal.name_rerank import named_boxes
    from core.name_ranking import W_LOOK

    red, blue = (255, 0, 0), (0, 0, 255)
    images = [_halves(blue, red), _halves(red, blue)]  # Rex (red) is in the box only in the second
    plain = _table("Rex")
    looked = NameTable(plain.slots, plain.embeddings, {"Rex": np.array([1.0, 0.0], np.float32)})
    without = named_boxes(_ColourRuntime(), images, ("Rex",), plain).cosines
    np.testing.assert_allclose(without, [1.0, 1.0], rtol=1e-6)  # the box's cosine: a tie
    scored = named_boxes(_ColourRuntime(), images, ("Rex",), looked)
    np.testing.assert_allclose(scored.cosines, [1 - W_LOOK, 1.0], rtol=1e-6)  # blue crop 0, red crop 1
    np.testing.assert_allclose(scored.boxes[:, 0], [[0.0, 0.0, 0.5, 1.0]] * 2)


def test_pinned_photos_are_the_leading_run_of_exact_caption_matches_among_the_matches() -> None:
    from app.head_rerank import pinned_count

    assert pinned_count(np.array([True, True, False, True]), 4) == 2
    assert pinned_count(np.array([True, True, True]), 3) == 3
    assert pinned_count(np.array([True, True, True]), 1) == 1  # the weaker photos are never pinned
    assert pinned_count(np.array([False, True]), 2) == 0
    assert pinned_count(np.zeros(0, bool), 0) == 0
