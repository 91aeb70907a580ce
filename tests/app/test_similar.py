"""More like this photo: the benchmark's grades, the fusion's fairness to photos without captions, the
reasons given, and relevance feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from search_fakes import DIM, K, Library, TextTable, axis, unit

from app.bench_similar import grade, grade_matrix, ndcg_at, photo_facts
from app.feedback import rocchio
from app.library.db import open_db
from app.query import QueryError, make_query
from app.reason_words import place_words, reason_sentence, reason_short
from app.search import Reason, Searcher
from app.similar import (
    Evidence,
    Fusion,
    NotInLibrary,
    _box,
    example_of,
    fuse,
    ranked_like,
    reason_for,
    similar_photos,
    standing,
    with_feedback,
)
from app.vectors import VectorIndex, load_index
from core.region_boxes import BOX_SET_NAME, BOXES
from core.search_settings import SearchSettings

DOG, CAT, CAR, BEACH, SNOW = (axis(i) for i in range(5))


# ----- grades on a hand-built world --------------------------------------------------------------------
def thing(kind: str, colour: str | None, box: list[int], size: str = "medium") -> dict[str, Any]:
    return {"kind": kind, "colour": colour, "bb": box, "size": size, "position": [None, None]}


def record(background: str, *objects: dict[str, Any]) -> dict[str, Any]:
    return {"background": background, "width": 400, "height": 300, "objects": list(objects)}


RED_CAR_BIG = thing("car", "red", [20, 100, 150, 100])
DOG_RIGHT = thing("dog", None, [300, 120, 60, 50])
QUERY = record("beach", RED_CAR_BIG, DOG_RIGHT)  # main object: the red car, left of the dog


def test_grades_follow_the_world_facts() -> None:
    query = photo_facts(QUERY)
    assert query.main == ("car", "red")
    assert ("car", "left of", "dog") in query.relations
    same_context = record(
        "snow", thing("car", "red", [10, 10, 60, 40]), thing("dog", None, [300, 20, 50, 40])
    )
    same_background = record("beach", thing("car", "red", [150, 150, 50, 40]))
    main_thing_only = record(
        "snow", thing("car", "red", [150, 150, 50, 40]), thing("cat", None, [10, 10, 50, 50])
    )
    other_colour = record("snow", thing("car", "blue", [150, 150, 50, 40]))
    shares_the_dog = record("snow", thing("dog", None, [150, 150, 50, 40]))
    nothing = record("beach", thing("cat", None, [150, 150, 50, 40]))
    grades = [
        grade(query, photo_facts(r))
        for r in (same_context, same_background, main_thing_only, other_colour, shares_the_dog, nothing)
    ]
    assert grades == [3, 3, 2, 1, 1, 0]


def test_the_main_object_is_the_largest_and_small_is_the_worlds_word() -> None:
    facts = photo_facts(
        record(
            "snow", thing("cat", None, [0, 0, 30, 30], "small"), thing("dog", None, [50, 50, 40, 40], "small")
        )
    )
    assert facts.main == ("dog", None) and facts.main_small
    assert not photo_facts(QUERY).main_small


def test_a_photo_is_not_its_own_candidate_and_ndcg_rewards_the_ideal_order() -> None:
    grades = grade_matrix([photo_facts(r) for r in (QUERY, QUERY, record("snow", DOG_RIGHT))])
    assert grades.diagonal().tolist() == [-1, -1, -1]
    assert grades[0].tolist() == [-1, 3, 1]
    g = np.array([0, 3, 1, 2])
    assert ndcg_at(np.array([1, 3, 2, 0]), g) == pytest.approx(1.0)
    assert ndcg_at(np.array([0, 2, 3, 1]), g) < 0.7


# ----- the fusion never ranks a photo lower for lacking a caption -----------------------------------------
def random_evidence(rng: np.random.Generator, n: int, captioned: np.ndarray) -> Evidence:
    """Visual evidence for ``n`` candidates, and caption cosines for the ``captioned`` ones."""
    return Evidence(
        rows=np.arange(n),
        photo=rng.normal(0.3, 0.1, n).astype(np.float32),
        object=rng.normal(0.4, 0.1, n).astype(np.float32),
        captions={
            "caption->caption": np.where(captioned, rng.normal(0.5, 0.2, n), np.nan).astype(np.float32)
        },
    )


def captioned_with(found: Evidence, who: np.ndarray, cosine: float) -> Evidence:
    """``found`` with the photos ``who`` given a caption of the given cosine."""
    cosines = found.captions["caption->caption"].copy()
    cosines[who] = cosine
    return replace(found, captions={"caption->caption": cosines})


FAIR = Fusion(w_object=1.0, w_caption=1.0, caption_floor=0.5, caption_signals=("caption->caption",))


@pytest.mark.parametrize("seed", range(5))
def test_a_photo_without_a_caption_scores_as_one_with_an_unrelated_caption_or_better(seed: int) -> None:
    """For every photo without a caption: giving it a caption, however unrelated, never lowers its
    score, and the photos without captions keep the order their visual evidence gives them."""
    rng = np.random.default_rng(seed)
    n = 200
    captioned = rng.random(n) < 0.3
    found = random_evidence(rng, n, captioned)
    scores = fuse(found, FAIR)
    for cosine in (-1.0, 0.0, 0.3, 0.5, 1.0):
        given = fuse(captioned_with(found, ~captioned, cosine), FAIR)
        assert np.all(given[~captioned] >= scores[~captioned] - 1e-6)
    visual = fuse(found, replace(FAIR, w_caption=0.0))
    bare = np.flatnonzero(~captioned)
    assert np.array_equal(np.argsort(-scores[bare], kind="stable"), np.argsort(-visual[bare], kind="stable"))


def test_a_signed_caption_term_would_sink_photos_with_unrelated_captions() -> None:
    """The property above is the positive part's doing: a signed term breaks it."""
    rng = np.random.default_rng(0)
    captioned = np.arange(200) < 100
    found = random_evidence(rng, 200, captioned)
    signed = replace(FAIR, method="z-signed")
    given = fuse(captioned_with(found, ~captioned, -1.0), signed)
    assert np.all(given[~captioned] < fuse(found, signed)[~captioned])


def test_too_few_captions_to_calibrate_add_nothing() -> None:
    rng = np.random.default_rng(1)
    found = random_evidence(rng, 200, np.arange(200) < 5)
    assert np.array_equal(fuse(found, FAIR), fuse(found, replace(FAIR, w_caption=0.0)))


def test_the_reason_is_the_signal_that_singles_a_photo_out_not_the_heaviest() -> None:
    """Objects weigh 16 times the photo; a candidate whose whole photo stands far above the rest while
    its objects are ordinary matched for the whole photo."""
    rng = np.random.default_rng(2)
    found = random_evidence(rng, 100, np.zeros(100, bool))
    found.photo[0], found.object[0] = 0.9, 0.45  # photo far above the crowd, objects a little
    heavy = replace(FAIR, w_object=16.0, w_caption=8.0)
    parts = standing(found, heavy)
    assert set(parts) == {"photo", "object", "caption"}
    assert reason_for(None, None, parts, 0, 0).kind == "photo"  # type: ignore[arg-type]
    assert set(standing(found, replace(FAIR, w_object=0.0, w_caption=0.0))) == {"photo"}


# ----- ranking a library, with reasons and feedback ------------------------------------------------------
@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    yield Library(db, tmp_path / "library.db", tmp_path, TextTable())
    db.close()


def index_of(lib: Library) -> VectorIndex:
    return load_index(lib.db, lib.path, lib.runtime.identity, BOX_SET_NAME)


def with_region(background: np.ndarray, box: int, inside: np.ndarray) -> np.ndarray:
    regions = np.tile(unit(background), (K, 1))
    regions[box] = unit(inside)
    return regions


def add_backgrounds(lib: Library, count: int) -> None:
    """Photos of plain scenery, the crowd every query is measured against."""
    rng = np.random.default_rng(3)
    for i in range(count):
        v = unit(BEACH + SNOW + 0.3 * rng.standard_normal(DIM))
        lib.add(f"scenery{i:02d}.jpg", v, np.tile(v, (K, 1)))


def test_a_small_thing_shared_with_the_query_is_found_and_boxed(lib: Library) -> None:
    """Two beach photos look alike overall; the dog in one corner of the query is in the other corner
    of one of them only, too small to show in the global views: the regions find it."""
    query = lib.add("query.jpg", unit(BEACH + 0.1 * DOG), with_region(BEACH, 0, DOG))
    dog = lib.add("beach_dog.jpg", unit(BEACH + 0.1 * CAT), with_region(BEACH, 8, DOG))
    cat = lib.add("beach_cat.jpg", unit(BEACH + 0.05 * CAT), with_region(BEACH, 8, CAT))
    add_backgrounds(lib, 30)
    index = index_of(lib)
    photo_only = similar_photos(index, query, fusion=Fusion(w_object=0.0, w_caption=0.0), top=3)
    assert [m.photo_id for m in photo_only[:2]] == [cat, dog]
    matches = similar_photos(index, query, fusion=Fusion(w_object=2.0, w_caption=0.0), top=3)
    assert [m.photo_id for m in matches[:2]] == [dog, cat]
    assert matches[0].reason.kind == "object"
    assert matches[0].reason.query_box == tuple(float(v) for v in BOXES[0])
    assert matches[0].reason.box == tuple(float(v) for v in BOXES[8])
    assert query not in [m.photo_id for m in matches]


def test_the_reason_names_the_query_part_that_singles_the_photo_out_not_the_shared_sand(
    lib: Library,
) -> None:
    """Every photo is on the same beach, so the query's beach regions match each of them as well as
    anything (better than the dog's region matches the photo with the dog): the reason's query box is
    the dog's, which only that photo matches."""
    query = lib.add("query.jpg", unit(BEACH + 0.1 * DOG), with_region(BEACH, 0, DOG))
    dog = lib.add("beach_dog.jpg", unit(BEACH + 0.1 * DOG), with_region(BEACH, 8, unit(DOG + 0.3 * CAT)))
    rng = np.random.default_rng(9)
    for i in range(30):
        sand = unit(BEACH + 0.05 * rng.standard_normal(DIM))
        lib.add(f"beach{i:02d}.jpg", sand, np.tile(sand, (K, 1)))
    index = index_of(lib)
    matches = similar_photos(index, query, fusion=Fusion(w_object=4.0, w_caption=0.0), top=3)
    assert matches[0].photo_id == dog and matches[0].reason.kind == "object"
    assert matches[0].reason.query_box == _box(0) and matches[0].reason.box == _box(8)
    example = example_of(index, index.position(query))
    parts = {"object": np.ones(1, np.float32)}
    raw = reason_for(index, example, parts, 0, index.position(dog))  # without the candidates' typical
    assert raw.query_box != _box(0)  # the best raw match is a stretch of sand


def test_the_query_caption_finds_a_photo_and_is_given_as_the_reason(lib: Library) -> None:
    """The query's caption says 'dog on the beach'; one photo's caption says so too, though its pixels
    look like snow; photos with other captions are the crowd that calibrates the caption signal."""
    query = lib.add("query.jpg", unit(BEACH + 0.2 * DOG), caption=unit(DOG + BEACH))
    same_caption = lib.add("same_caption.jpg", unit(SNOW + 0.2 * DOG), caption=unit(DOG + BEACH))
    rng = np.random.default_rng(5)
    for i in range(25):
        lib.add(
            f"captioned{i:02d}.jpg",
            unit(SNOW + CAR + 0.3 * rng.standard_normal(DIM)),
            caption=unit(CAT + CAR),
        )
    add_backgrounds(lib, 10)
    index = index_of(lib)
    visual = similar_photos(index, query, fusion=Fusion(w_object=0.0, w_caption=0.0), top=3)
    assert visual[0].photo_id != same_caption
    matches = similar_photos(index, query, fusion=Fusion(w_object=0.0, w_caption=1.0), top=3)
    assert matches[0].photo_id == same_caption
    assert matches[0].reason.kind == "caption"


def test_rocchio_moves_the_query_toward_right_and_away_from_wrong() -> None:
    query, right, wrong = unit(DOG + CAT), unit(DOG + CAR), unit(CAT)
    moved = rocchio(query, right[None], wrong[None])
    assert moved @ right > query @ right
    assert moved @ wrong < query @ wrong
    assert np.linalg.norm(moved) == pytest.approx(1.0)
    assert np.allclose(rocchio(query, np.zeros((0, DIM)), np.zeros((0, DIM))), query)


def test_feedback_moves_the_regions_toward_the_marked_photos_matching_ones(lib: Library) -> None:
    """The query's dog region moves toward the marked photo's dog (in another corner), its beach regions
    toward the marked photo's beach, and away from the wrong photo's cat."""
    query = lib.add("query.jpg", unit(BEACH + DOG), with_region(BEACH, 0, unit(DOG + 0.5 * SNOW)))
    right = lib.add("right.jpg", unit(BEACH + DOG), with_region(unit(BEACH + 0.3 * CAR), 8, DOG))
    wrong = lib.add("wrong.jpg", unit(CAT), np.tile(CAT, (K, 1)))
    index = index_of(lib)
    before = example_of(index, index.position(query))
    after = with_feedback(index, before, [index.position(right)], [index.position(wrong)])
    right_regions = index.photo_vectors(index.position(right))[1]
    assert after.regions[0] @ right_regions[8] > before.regions[0] @ right_regions[8] + 0.05
    assert after.regions[3] @ right_regions[3] > before.regions[3] @ right_regions[3]
    assert np.all(after.regions @ CAT < before.regions @ CAT + 1e-6)
    assert after.global_ @ CAT < before.global_ @ CAT


def test_marking_a_photo_right_brings_photos_like_it_up(lib: Library) -> None:
    query = lib.add("query.jpg", unit(DOG + CAT))
    marked = lib.add("marked.jpg", unit(DOG + CAR))
    like_marked = lib.add("like_marked.jpg", unit(DOG + 1.2 * CAR))
    lib.add("cat.jpg", unit(CAT + 0.3 * DOG))
    add_backgrounds(lib, 30)
    index = index_of(lib)
    plain = [m.photo_id for m in similar_photos(index, query, fusion=Fusion(0.0, 0.0), top=4)]
    moved = [
        m.photo_id for m in similar_photos(index, query, fusion=Fusion(0.0, 0.0), top=4, right=(marked,))
    ]
    assert moved.index(like_marked) < plain.index(like_marked)


def test_a_photo_not_in_the_library_is_one_sentence(lib: Library) -> None:
    lib.add("only.jpg", DOG)
    with pytest.raises(NotInLibrary, match="not in the searchable library"):
        similar_photos(index_of(lib), 999)


# ----- the command line ---------------------------------------------------------------------------------
def test_similar_on_the_command_line(
    lib: Library, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import commands
    from cli.main import main

    lib.add("query.jpg", unit(DOG + CAT))
    lib.add("marked.jpg", unit(DOG + CAR))
    add_backgrounds(lib, 30)
    monkeypatch.setattr(commands, "load_model", lambda args: lib.runtime)
    photos = lib.root / "photos"
    argv = ["similar", str(photos / "query.jpg"), "--db", str(lib.path), "--top", "3", "--json"]
    assert main([*argv, "--right", str(photos / "marked.jpg")]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert Path(results[0]["path"]).name == "marked.jpg"
    assert results[0]["reason"]["kind"] in ("photo", "object", "caption")
    assert main([*argv, "--wrong", str(photos / "marked.jpg")]) == 0
    names = [Path(r["path"]).name for r in json.loads(capsys.readouterr().out)["results"]]
    assert len(names) == 3 and "marked.jpg" not in names  # a photo marked wrong is not shown
    assert main(["similar", str(photos / "nowhere.jpg"), "--db", str(lib.path)]) == 2
    assert capsys.readouterr().err.strip().endswith("is not in the library: index its folder first")


# ----- in the app: a ranking the window pages through ----------------------------------------------------
def searcher_of(lib: Library) -> Searcher:
    return Searcher(lib.db, lib.path, lib.runtime, SearchSettings())


def test_the_windows_ranking_gives_reasons_boxes_and_filters(lib: Library) -> None:
    """``ranked_like`` is what the window's "Find similar" runs: the object evidence puts the photos with
    the dog first, their hits say so and carry the matched box; the folder filter holds; every other
    photo follows, most alike first, with no line claiming which match (docs/similar.md says why)."""
    query = lib.add("query.jpg", unit(BEACH + 0.1 * DOG), with_region(BEACH, 0, DOG))
    dog = lib.add("beach_dog.jpg", unit(BEACH + 0.1 * CAT), with_region(BEACH, 8, DOG))
    elsewhere = lib.add("dog_elsewhere.jpg", unit(BEACH), with_region(BEACH, 4, DOG), folder="other")
    add_backgrounds(lib, 60)
    searcher = searcher_of(lib)
    ranked = ranked_like(searcher, make_query(""), query, fusion=Fusion(w_object=4.0, w_caption=0.0))
    hits = ranked.first(3)
    assert {hits[0].photo_id, hits[1].photo_id} == {dog, elsewhere}
    example_at = searcher.index.position(query)
    assert example_at not in ranked.ranking.positions.tolist()  # the example is not its own result
    by_id = {hit.photo_id: hit for hit in hits}
    assert by_id[dog].reason == Reason("object", _box(0), _box(8))
    assert by_id[dog].region == _box(8)  # the window outlines the matched part
    assert by_id[elsewhere].reason == Reason("object", _box(0), _box(4))
    assert ranked.cutoff.source == "none" and ranked.matched == ranked.considered == len(ranked) == 62
    assert list(ranked.ranking.scores) == sorted(ranked.ranking.scores, reverse=True)

    in_photos = ranked_like(
        searcher, make_query("", folder=str(lib.root / "photos")), query, fusion=Fusion(4.0, 0.0)
    )
    ids = [hit.photo_id for hit in in_photos.first(len(in_photos))]
    assert elsewhere not in ids and ids[0] == dog and len(ids) == 61


def test_the_windows_ranking_moves_with_marks_and_sorts_by_date(lib: Library) -> None:
    query = lib.add("query.jpg", unit(DOG + CAT))
    marked = lib.add("marked.jpg", unit(DOG + CAR), taken_at="2020-01-01T10:00:00")
    like_marked = lib.add("like_marked.jpg", unit(DOG + 1.2 * CAR), taken_at="2024-01-01T10:00:00")
    cat = lib.add("cat.jpg", unit(CAT + 0.3 * DOG))
    add_backgrounds(lib, 30)
    searcher, fusion = searcher_of(lib), Fusion(0.0, 0.0)
    plain = [h.photo_id for h in ranked_like(searcher, make_query(""), query, fusion=fusion).first(4)]
    moved = ranked_like(searcher, make_query(""), query, fusion=fusion, right=(marked,))
    moved_ids = [h.photo_id for h in moved.first(4)]
    assert moved_ids.index(like_marked) < plain.index(like_marked)
    assert moved_ids[:2] == [like_marked, marked] or moved_ids[:2] == [marked, like_marked]
    cat_marked_wrong = ranked_like(searcher, make_query(""), query, fusion=fusion, wrong=(cat,))
    assert cat not in [h.photo_id for h in cat_marked_wrong.first(len(cat_marked_wrong))]
    newest = ranked_like(searcher, make_query(""), query, fusion=fusion, right=(marked,), sort="date")
    dated = [h.photo_id for h in newest.first(2)]
    assert dated == [like_marked, marked]
    with pytest.raises(QueryError, match="no longer searchable"):
        ranked_like(searcher, make_query(""), 999)


def test_marks_move_a_text_query_toward_the_right_photos(lib: Library) -> None:
    """Words for "dog" find both dogs alike; marking the dog on the beach right (and the one in the
    snow wrong) moves the words' vector, and the beach dog comes first."""
    lib.runtime.texts["dog"] = DOG
    beach_dog = lib.add("beach_dog.jpg", unit(DOG + 0.5 * SNOW + 0.45 * BEACH))
    snow_dog = lib.add("snow_dog.jpg", unit(DOG + 0.5 * SNOW + 0.4 * CAR))
    another_beach_dog = lib.add("another.jpg", unit(DOG + 0.3 * SNOW + 0.6 * BEACH))
    add_backgrounds(lib, 30)
    searcher = searcher_of(lib)
    terms = searcher.encode(make_query("dog"))
    before = searcher.rank(make_query("dog"), terms, use_cutoff=False)
    moved_terms = searcher.with_feedback(terms, [beach_dog], [snow_dog])
    after = searcher.rank(make_query("dog"), moved_terms, use_cutoff=False)
    rank = {int(lib_id): i for i, lib_id in enumerate(searcher.index.ids[before.positions])}
    rank_after = {int(lib_id): i for i, lib_id in enumerate(searcher.index.ids[after.positions])}
    assert rank_after[another_beach_dog] < rank[another_beach_dog]
    assert rank_after[snow_dog] > rank[snow_dog]
    assert moved_terms.vectors[0] @ BEACH > terms.vectors[0] @ BEACH
    left_out = searcher.rank(make_query("dog"), moved_terms, use_cutoff=False, leave_out=[snow_dog])
    assert snow_dog not in searcher.index.ids[left_out.positions].tolist()  # marked wrong: not shown
    assert searcher.with_feedback(terms, [], []) is terms  # no marks: the query as it was
    assert searcher.with_feedback(terms, [999], []) is terms  # a mark on a photo no longer indexed


def test_reasons_in_words() -> None:
    assert place_words(_box(0)) == "the top left"  # the 2x2 grid's first quarter
    assert place_words(_box(8)) == place_words(_box(13)) == "the centre"  # centre ninth, centre box
    assert place_words(_box(12)) == "the bottom right"
    assert place_words(_box(5)) == "the top" and place_words(_box(7)) == "the left"
    assert reason_short(Reason("photo")) == "the whole photo"
    assert reason_short(Reason("caption")) == "its caption"
    sentence = reason_sentence(Reason("object", (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5)), "IMG_1.jpg")
    assert "the bottom right" in sentence and "the top left of IMG_1.jpg" in sentence
    close = Reason("object", (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5), close_up=True)
    assert reason_short(close) == "a part at the bottom right, close up"
    sentence = reason_sentence(close, "IMG_1.jpg")
    assert sentence.startswith("Matched on a part, seen close up") and "not their score's" in sentence
    assert close.to_json()["close_up"] is True and "close_up" not in Reason("photo").to_json()


def test_find_similar_reorders_its_head_by_the_parts_close_up(lib: Library, monkeypatch) -> None:
    """The index ranks two beach photos alike; seen close up, only one holds the query's small red thing
    (in another cell): it comes first, and its reason is the part that matched, boxed in both photos."""
    from PIL import Image

    from app.parts import PART_BOXES

    def beach(red_cell: int | None) -> Image.Image:
        image = Image.new("RGB", (90, 90), (0, 0, 255))
        if red_cell is not None:
            x, y = red_cell % 3 * 30, red_cell // 3 * 30
            image.paste((255, 0, 0), (x + 5, y + 5, x + 25, y + 25))
        return image

    query = lib.add("query.jpg", unit(BEACH), np.tile(unit(BEACH), (K, 1)))
    plain = lib.add("plain.jpg", unit(BEACH + 0.01 * DOG), np.tile(unit(BEACH), (K, 1)))
    red = lib.add("red.jpg", unit(BEACH + 0.01 * CAT), np.tile(unit(BEACH), (K, 1)))
    add_backgrounds(lib, 10)
    searcher = searcher_of(lib)
    images = {query: beach(0), plain: beach(None), red: beach(8)}
    index = searcher.index

    def decode(positions: np.ndarray):
        ids = [int(index.ids[p]) for p in positions]
        found = [(slot, images[pid]) for slot, pid in enumerate(ids) if pid in images]
        return [im for _, im in found], [slot for slot, _ in found]

    def colour(crops):
        rgb = np.array([np.asarray(im, np.float64).reshape(-1, 3).mean(axis=0) for im in crops])
        v = np.zeros((len(crops), DIM))
        v[:, :2] = rgb[:, [0, 2]] + 1e-6
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), None

    monkeypatch.setattr(searcher, "decode_positions", decode)
    monkeypatch.setattr(searcher.runtime, "encode_images", colour)
    fusion = Fusion(w_object=0.0, w_caption=0.0)
    before = ranked_like(searcher, make_query(""), query, fusion=fusion, parts=0)
    assert [h.photo_id for h in before.first(2)] == [plain, red]  # the index alone: the closer global view
    after = ranked_like(searcher, make_query(""), query, fusion=fusion)
    first, second = after.first(2)
    assert (first.photo_id, second.photo_id) == (red, plain)
    assert first.reason == Reason("object", PART_BOXES[0], PART_BOXES[8], close_up=True)
    assert first.region == PART_BOXES[8]
