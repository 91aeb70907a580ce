"""tune-search's close-up step re-orders a head as search does, and its helpers measure what they say."""

from __future__ import annotations

import numpy as np

from app.head_rerank import rerank_head
from app.tune_close_up import QueryCloseUps, choose_share, heads_of, reordered_ranks


def test_heads_are_the_first_photos_by_score_ties_by_position() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.9, 0.2]])
    assert heads_of(scores, 3).tolist() == [[3, 1, 2]]


def test_the_reorder_is_the_one_search_makes_cutoff_segments_included() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((6, 12))
    close = rng.random((6, 5))
    matched = np.array([0, 2, 3, 5, 12, 1])
    share = 0.4
    for q in range(6):
        order = np.argsort(-scores[q], kind="stable")
        # What search does to its ranking (photos in score order) with every head photo readable.
        new, _ = rerank_head(
            scores[q, order],
            int(matched[q]),
            5,
            lambda slots: ([object()] * len(slots), list(range(len(slots)))),
            _scorer(close[q]),
            1.0 - share,
        )
        searched = order[new]
        for photo in range(12):
            gt = np.array([photo])
            rank = reordered_ranks(scores[q : q + 1], close[q : q + 1], share, matched[q : q + 1], gt)[0]
            assert searched[rank] == photo


class _Scores:
    def __init__(self, cosines: np.ndarray) -> None:
        self.cosines = cosines


def _scorer(close: np.ndarray):
    served = {"next": 0}

    def score(images: list[object]) -> _Scores:
        start = served["next"]
        served["next"] += len(images)
        return _Scores(close[start : start + len(images)])

    return score


def test_share_zero_keeps_the_score_order_and_relevant_sets_take_the_best() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    close = np.array([[0.0, 0.0, 1.0]])
    assert reordered_ranks(scores, close, 0.0, np.array([4]), np.array([2])).tolist() == [2]
    assert reordered_ranks(scores, close, 0.9, np.array([4]), np.array([2])).tolist() == [0]
    best = reordered_ranks(scores, close, 0.0, np.array([4]), np.array([0]), [np.array([3, 1])])
    assert best.tolist() == [1]


def test_the_share_chosen_is_the_one_that_finds_more_and_the_smaller_on_a_tie() -> None:
    scores = np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1]])
    helps = QueryCloseUps(
        "q", scores, np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([3, 3]), np.array([1, 1]), None
    )
    chosen, by_share = choose_share([helps])
    assert by_share[0.0] < by_share[chosen] and chosen > 0
    useless = QueryCloseUps("q", scores, np.zeros((2, 2)), np.array([3, 3]), np.array([0, 0]), None)
    assert choose_share([useless])[0] == 0.0


def test_the_table_scores_as_search_does_and_each_pair_and_photo_once(tmp_path) -> None:
    from PIL import Image
    from test_close_up import BLUE, RED, PointingRuntime, colour, halves

    from app.close_up import close_ups
    from app.tune_close_up import CloseUpTable

    pictures = [halves(BLUE, RED), halves(RED, BLUE), halves(RED, RED)]
    keys = []
    for i, picture in enumerate(pictures):
        picture.save(tmp_path / f"{i}.png")
        keys.append(f"{i}.png")
    runtime = PointingRuntime()
    runtime.texts["red ball"] = colour(runtime, RED)
    table = CloseUpTable(tmp_path, keys, runtime)
    heads = np.array([[1, 0], [0, 2]])
    got = table.cosines(["red ball", "red ball"], heads)
    assert runtime.images_encoded == 3 + 3  # each photo once for its tokens, each (query, photo) crop once
    embeds, hidden, mask = runtime.encode_texts(["red ball"])
    images = [Image.open(tmp_path / k).convert("RGB") for k in keys]
    expected = close_ups(runtime, images, hidden, mask, embeds[0]).cosines
    np.testing.assert_allclose(got, expected[heads], rtol=1e-5)
    encoded = runtime.images_encoded
    again = table.cosines(["red ball"], np.array([[2, 1]]))
    np.testing.assert_allclose(again, expected[[[2, 1]]], rtol=1e-5)
    assert runtime.images_encoded == encoded  # nothing new to see
