"""The captions' words as evidence (core.caption_words): BM25 and coverage against hand computations, and
the lift's shape (never negative, zero below the floor, capped, the best of a photo's captions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.caption_words import (
    BM25_B,
    BM25_K1,
    COVERAGE_POWER,
    Z_CAP,
    CaptionWords,
    WordEvidence,
    words,
)


def test_words_fold_case_and_accents_and_leave_out_stop_words_and_digits() -> None:
    assert words("The Café at the TOP left, 2019: Rex's ball!") == ["cafe", "rex", "s", "ball"]
    assert words("a photo of the") == []


def idf(n: int, df: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def test_bm25_and_coverage_match_a_hand_computation() -> None:
    texts = ["red dog beach", "red car", "blue car car", "dog"]
    index = CaptionWords(texts, [0, 1, 2, 3], min_captioned=0)
    bm25, held = index._scores("red dog")
    lengths = np.array([3, 2, 3, 1], float)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / lengths.mean())
    red, dog = idf(4, 2), idf(4, 2)
    expected = np.array(
        [
            red * 2.2 / (1 + norm[0]) + dog * 2.2 / (1 + norm[0]),
            red * 2.2 / (1 + norm[1]),
            0.0,
            dog * 2.2 / (1 + norm[3]),
        ]
    )
    np.testing.assert_allclose(bm25, expected, rtol=1e-5)
    np.testing.assert_allclose(held, [1.0, 0.5, 0.0, 0.5], rtol=1e-6)


def test_a_query_word_no_caption_holds_still_counts_against_coverage() -> None:
    index = CaptionWords(["red dog", "blue car"], [0, 1], min_captioned=0)
    _, held = index._scores("red dog zebra")
    assert 0.0 < held[0] < 1.0
    assert held[1] == 0.0


def evidence(
    z: list[list[float]], coverage: list[list[float]], starts: list[int], photos: list[int]
) -> WordEvidence:
    return WordEvidence(
        np.array(photos), np.array(starts), np.array(z, np.float32), np.array(coverage, np.float32)
    )


def test_the_lift_is_zero_below_the_floor_capped_above_and_scaled_by_coverage() -> None:
    ev = evidence([[1.0, 5.0, 100.0, 5.0]], [[1.0, 1.0, 1.0, 0.5]], [0, 1, 2, 3], [0, 1, 2, 3])
    lift = ev.lift(3.0)
    np.testing.assert_allclose(lift, [[0.0, 2.0, Z_CAP, 2.0 * 0.5**COVERAGE_POWER]])


def test_a_photo_takes_its_best_caption() -> None:
    ev = evidence([[4.0, 9.0, 6.0]], [[1.0, 0.1, 1.0]], [0, 2], [7, 9])  # photo 7 has two captions
    np.testing.assert_allclose(ev.lift(2.0), [[max(2.0, 7.0 * 0.1**COVERAGE_POWER), 4.0]], rtol=1e-6)


def test_the_lift_is_never_negative() -> None:
    rng = np.random.default_rng(0)
    texts = [
        " ".join(rng.choice(["dog", "cat", "red", "blue", "beach", "snow", "car"], 4)) for _ in range(60)
    ]
    index = CaptionWords(texts, rng.integers(0, 40, 60))
    ev = index.evidence(["red dog on the beach", "snow", "zebra", ""])
    for floor in (-5.0, 0.0, 3.0):
        assert (ev.lift(floor) >= 0).all()
    assert (ev.lift(0.0)[2:] == 0).all()  # a word no caption holds, and no words at all: no evidence


def test_captions_are_grouped_by_photo_whatever_their_order() -> None:
    index = CaptionWords(["beach", "snow", "red beach"], [5, 2, 5], min_captioned=0)
    assert index.photos.tolist() == [2, 5]
    lift = index.evidence(["beach"]).lift(-10.0)
    assert lift[0, 0] == 0.0  # the snowy photo holds none of the query's words
    assert lift[0, 1] > 0.0


def test_a_library_with_few_captions_is_measured_against_the_background() -> None:
    background = ["a dog running on the grass", "a city street at night", "a bowl of fruit", "a red car"]
    alone = CaptionWords(["my dog rex at the beach"], [0])
    assert not alone.use_background  # nothing to stand in for the library: its own captions
    helped = CaptionWords(["my dog rex at the beach"], [0], background)
    assert helped.use_background
    # Words none of the background holds: the caption stands out as far as a z may.
    assert helped.evidence(["rex at the beach"]).z[0, 0] == Z_CAP
    # A word the background holds too ("dog"): a finite z, measured against the background's scores.
    z = helped.evidence(["dog"]).z[0, 0]
    assert 0.0 < z < Z_CAP


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="captions"):
        CaptionWords(["a", "b"], [0])


def test_a_caption_holding_every_word_one_its_own_is_exact() -> None:
    texts = ["Grandpa's old bicycle at Brighton", "a red bicycle", "a red bicycle at the beach", "grandpa"]
    index = CaptionWords(texts, [3, 8, 9, 9], min_captioned=0)
    exact = index.evidence(["grandpa's bicycle at brighton", "red bicycle", "bicycle at brighton", "old red"])
    assert exact.exact().tolist() == [
        [True, False, False],  # every word, and 'brighton' (and 'old') only photo 3 says
        [False, False, False],  # every word, but two photos say them: no one's own words
        [True, False, False],
        [False, False, False],  # 'old' is photo 3's own, but its caption does not say 'red'
    ]
    # 'grandpa' is said by photos 3 and 9: not own words, though one caption holds every word.
    assert not index.evidence(["grandpa"]).exact().any()


def test_a_query_with_no_words_has_no_exact_caption() -> None:
    assert not CaptionWords(["a dog"], [0], min_captioned=0).evidence(["the"]).exact().any()
