"""tune-search's ITM step re-orders a head as search does, and its helpers measure what they say."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.head_rerank import rerank_head
from app.tune_itm import ITM_HEAD, NO_ITM, ItmTable, QueryItm, choose_itm, heads_of, reordered_ranks


def test_heads_are_the_first_photos_by_score_ties_by_position() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.9, 0.2]])
    assert heads_of(scores, 3).tolist() == [[3, 1, 2]]


def test_the_reorder_is_the_one_search_makes_cutoff_segments_included() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((6, 12))
    logits = rng.normal(size=(6, 5))
    matched = np.array([0, 2, 3, 5, 12, 1])
    for q in range(6):
        order = np.argsort(-scores[q], kind="stable")
        served = iter(logits[q])
        # What search does to its ranking (photos in score order), every head photo readable.
        new, _ = rerank_head(
            scores[q, order],
            int(matched[q]),
            5,
            lambda slots: ([object()] * len(slots), list(range(len(slots)))),
            lambda images, served=served: np.array([next(served) for _ in images]),
            0.0,
        )
        searched = order[new]
        for photo in range(12):
            rank = reordered_ranks(
                scores[q : q + 1], logits[q : q + 1], matched[q : q + 1], np.array([photo])
            )
            assert searched[rank[0]] == photo


def test_no_head_keeps_the_score_order_and_relevant_sets_take_the_best() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    logits = np.array([[0.0, 0.0, 1.0]])
    assert reordered_ranks(scores, None, np.array([4]), np.array([2])).tolist() == [2]
    assert reordered_ranks(scores, logits, np.array([4]), np.array([2])).tolist() == [0]
    assert reordered_ranks(scores, logits, np.array([1]), np.array([2])).tolist() == [1]  # below the line
    best = reordered_ranks(scores, None, np.array([4]), np.array([0]), [np.array([3, 1])])
    assert best.tolist() == [1]


def query(scores: np.ndarray, whole: np.ndarray, region: np.ndarray, gt: list[int]) -> QueryItm:
    matched = np.full(len(scores), scores.shape[1])
    return QueryItm("q", scores, whole, region, matched, np.array(gt), None)


def test_the_option_chosen_finds_more_and_on_a_tie_is_no_reorder_or_the_smaller_weight() -> None:
    scores = np.tile(np.linspace(1.0, 0.0, ITM_HEAD + 2), (2, 1))
    whole = np.zeros((2, ITM_HEAD))
    whole[:, 1] = 1.0  # the ITM head finds the second photo best
    region = np.zeros((2, ITM_HEAD))
    chosen, by_option = choose_itm([query(scores, whole, region, [1, 1])])
    assert (
        chosen == (ITM_HEAD, 0.0)
        and by_option["none"] < by_option[f"the first {ITM_HEAD} by ITM, region ITM weight 0.0"]
    )
    region[:, 2] = 3.0  # ... and the region the third, which is the right one
    assert choose_itm([query(scores, whole, region, [2, 2])])[0] == (ITM_HEAD, 0.5)
    useless = query(scores, np.zeros((2, ITM_HEAD)), np.zeros((2, ITM_HEAD)), [0, 0])
    assert choose_itm([useless])[0] == NO_ITM


def test_the_table_scores_as_search_does_and_each_pair_and_photo_once(tmp_path: Path) -> None:
    from itm_fakes import BLUE, RED, ItmRuntime, halves
    from PIL import Image

    from app.head_itm import itm_parts

    pictures = [halves(BLUE, RED), halves(RED, BLUE), halves(RED, RED)]
    keys = []
    for i, picture in enumerate(pictures):
        picture.save(tmp_path / f"{i}.png")
        keys.append(f"{i}.png")
    runtime = ItmRuntime()
    table = ItmTable(tmp_path, keys, runtime)
    heads = np.array([[1, 0], [0, 2]])
    whole, region = table.logits(["red ball", "red ball"], heads)
    assert runtime.images_encoded == 3  # each photo once, for its tokens
    assert runtime.itm_pairs == 2 * 3  # each (query, photo) pair once: whole photo and region
    _, hidden, mask = runtime.encode_texts(["red ball"])
    images = [Image.open(tmp_path / k).convert("RGB") for k in keys]
    expected_whole, expected_region = itm_parts(runtime, images, hidden, mask)
    np.testing.assert_allclose(whole, expected_whole[heads], rtol=1e-5)
    np.testing.assert_allclose(region, expected_region[heads], rtol=1e-5)
    calls = runtime.itm_pairs
    again, _ = table.logits(["red ball"], np.array([[2, 1]]))
    np.testing.assert_allclose(again, expected_whole[[[2, 1]]], rtol=1e-5)
    assert runtime.itm_pairs == calls  # nothing new to score
