"""Search on hand-made vectors: weights, regions, negatives, filters, cutoff, sorting, odd queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from photo_files import write_jpeg
from PIL import Image
from search_fakes import DIM, K, Library, TextTable, axis, unit

from app.library.db import open_db
from app.query import Query, QueryError, make_query, parse_date, split_terms
from app.search import AppliedCutoff, Searcher, robust_stats
from app.settings import load_settings, save_settings
from core.region_boxes import BOXES
from core.search_settings import Cutoff, SearchSettings, SettingsError, parse_settings

DOG, CAT, CAR = axis(0), axis(1), axis(2)


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    runtime = TextTable({"dog": DOG, "cat": CAT, "a small red car": CAR, "car": CAR})
    yield Library(db, tmp_path / "library.db", tmp_path, runtime)
    db.close()


def searcher(lib: Library, **settings: object) -> Searcher:
    return Searcher(lib.db, lib.path, lib.runtime, SearchSettings(**settings))


def names(response: object) -> list[str]:
    return [Path(h.path).name for h in response.hits]  # type: ignore[attr-defined]


# ----- query syntax ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "positive", "negatives"),
    [
        ("dog -cat", "dog", ("cat",)),
        ('a dog -"black cat" -bird', "a dog", ("black cat", "bird")),
        ("t-shirt with a - sign", "t-shirt with a - sign", ()),
        ("-cat", "", ("cat",)),
        ("--", "--", ()),
        ('"unclosed quote', "unclosed quote", ()),
        ("", "", ()),
    ],
)
def test_split_terms(text: str, positive: str, negatives: tuple[str, ...]) -> None:
    assert split_terms(text) == (positive, negatives)


def test_dates_include_both_days() -> None:
    day = 86400.0
    assert parse_date("2024-05-01", end=True) - parse_date("2024-05-01") == day
    assert parse_date("2024-05-01T12:00:00+02:00") == parse_date("2024-05-01") + day / 2
    with pytest.raises(QueryError):
        parse_date("yesterday")


# ----- scoring --------------------------------------------------------------------------------------
def test_regions_find_a_small_object(lib: Library) -> None:
    """The car fills one region of photo A and none of its global view; photo B is a bit car-like
    overall. Without regions B wins; with them, A does."""
    regions = np.tile(unit(DOG + CAT), (K, 1))
    regions[5] = CAR
    lib.add("a_small_car.jpg", unit(DOG + CAT + 0.2 * CAR), regions)
    lib.add("b_carish.jpg", unit(0.45 * CAR + axis(3)), np.tile(unit(0.2 * CAR + axis(3)), (K, 1)))
    query = make_query("a small red car")
    off = searcher(lib, w_global=1.0, w_region=0.0).search(query, use_cutoff=False)
    on = searcher(lib, w_global=0.5, w_region=0.5).search(query, use_cutoff=False)
    assert names(off)[0] == "b_carish.jpg"
    assert names(on)[0] == "a_small_car.jpg"
    hit = on.hits[0]
    assert hit.cosines.region == pytest.approx(1.0, abs=0.01)
    assert hit.region == pytest.approx(tuple(BOXES[5]))  # the second box of the 3x3 grid


def test_a_ranking_reordered_by_a_taught_name_draws_no_grid_region(lib: Library) -> None:
    """The preview draws a taught name's own box; the words' best grid region beside it would be noise."""
    from dataclasses import replace

    from app.search import RankedPhotos

    regions = np.tile(unit(DOG + CAT), (K, 1))
    regions[5] = CAR
    lib.add("a_small_car.jpg", unit(DOG + CAT + 0.2 * CAR), regions)
    s = searcher(lib, w_global=0.5, w_region=0.5)
    query = make_query("a small red car")
    terms = s.encode(query)
    ranking = s.rank(query, terms, use_cutoff=False)
    vector = terms.vectors[terms.main]
    assert RankedPhotos(ranking, s.index, lib.db, vector).first(1)[0].region == pytest.approx(tuple(BOXES[5]))
    named = replace(ranking, name_box=np.ones(len(ranking), np.float32))
    assert RankedPhotos(named, s.index, lib.db, vector).first(1)[0].region is None


def test_scores_follow_the_weights(lib: Library) -> None:
    regions = np.tile(unit(CAT), (K, 1))
    regions[0] = DOG
    lib.add("p.jpg", unit(DOG + CAT), regions)
    hit = searcher(lib, w_global=0.3, w_region=0.7).search(make_query("dog"), use_cutoff=False).hits[0]
    expected = 0.3 * (1 / np.sqrt(2)) + 0.7 * 1.0
    assert hit.score == pytest.approx(expected, abs=0.01)
    assert hit.cosines.global_ == pytest.approx(1 / np.sqrt(2), abs=0.01)


def test_negative_terms_push_photos_down(lib: Library) -> None:
    lib.add("dog_and_cat.jpg", unit(DOG + 0.8 * CAT))
    lib.add("dog.jpg", unit(DOG + 0.9 * axis(4)))
    s = searcher(lib)
    assert names(s.search(make_query("dog"), use_cutoff=False))[0] == "dog_and_cat.jpg"
    negative = s.search(make_query("dog -cat"), use_cutoff=False)
    assert names(negative)[0] == "dog.jpg"
    plain = {Path(h.path).name: h.score for h in s.search(make_query("dog"), use_cutoff=False).hits}
    assert {Path(h.path).name: h.score for h in negative.hits}["dog_and_cat.jpg"] < plain["dog_and_cat.jpg"]
    heavier = s.search(make_query("dog -cat", negative_weight=1.0), use_cutoff=False)
    assert heavier.hits[-1].score < negative.hits[-1].score


def test_only_negative_terms_rank_the_least_similar_first(lib: Library) -> None:
    lib.add("cat.jpg", CAT)
    lib.add("dog.jpg", DOG)
    response = searcher(lib).search(make_query("-cat"), use_cutoff=False)
    assert names(response) == ["dog.jpg", "cat.jpg"]


def test_image_query_and_its_weight(lib: Library, tmp_path: Path) -> None:
    example = write_jpeg(tmp_path / "example.jpg", (200, 30, 30))
    with Image.open(example) as image:
        image_vector, _ = lib.runtime.encode_images([image.convert("RGB")])
    lib.add("looks_alike.jpg", image_vector[0])
    lib.add("dog.jpg", DOG)
    s = searcher(lib)
    assert names(s.search(make_query(image=example), use_cutoff=False))[0] == "looks_alike.jpg"
    assert (
        names(s.search(make_query("dog", image=example, image_weight=0.1), use_cutoff=False))[0] == "dog.jpg"
    )
    both = s.search(make_query("dog", image=example, image_weight=0.9), use_cutoff=False)
    assert names(both)[0] == "looks_alike.jpg"


def test_captions_change_scores(lib: Library) -> None:
    lib.add("captioned.jpg", axis(5), caption=DOG)
    lib.add("plain.jpg", unit(axis(5) + 0.1 * DOG))
    without = searcher(lib, w_caption=0.0).search(make_query("dog"), use_cutoff=False)
    with_captions = searcher(lib, w_caption=0.5).search(make_query("dog"), use_cutoff=False)
    assert names(without)[0] == "plain.jpg"
    assert names(with_captions)[0] == "captioned.jpg"
    assert with_captions.hits[0].cosines.caption == pytest.approx(1.0, abs=0.01)
    assert with_captions.hits[1].cosines.caption is None


# ----- filters and ordering -------------------------------------------------------------------------
def test_folder_and_date_filters(lib: Library) -> None:
    lib.add("old.jpg", DOG, taken_at="2019-07-01T10:00:00", folder="trips/2019")
    lib.add("new.jpg", unit(DOG + 0.1 * CAT), taken_at="2024-05-01T23:30:00+02:00", folder="trips/2024")
    lib.add("undated.jpg", unit(DOG + 0.2 * CAT), folder="other")
    s = searcher(lib)
    run = lambda **f: names(s.search(make_query("dog", **f), use_cutoff=False))  # noqa: E731
    assert run(folder=str(lib.root / "trips")) == ["old.jpg", "new.jpg"]
    assert run(folder=str(lib.root / "trips/2024")) == ["new.jpg"]
    assert run(folder=str(lib.root / "trip")) == []  # a prefix of a name is not a folder
    assert run(after="2024-05-01") == ["new.jpg"]
    assert run(before="2024-05-01", after="2024-05-01") == ["new.jpg"]  # its local day, both ends included
    assert run(before="2024-04-30", after="2000-01-01") == ["old.jpg"]
    # An undated photo is placed by its file time (here 1970), not dropped from date ranges.
    assert "undated.jpg" in run(before="1971-01-01")


def test_sort_by_date_keeps_the_cutoff(lib: Library) -> None:
    lib.add_noise(120, away_from=DOG)
    lib.add("dog_2020.jpg", DOG, taken_at="2020-01-01T00:00:00")
    lib.add("dog_2023.jpg", unit(DOG + 0.05 * CAT), taken_at="2023-01-01T00:00:00")
    lib.add("dog_2021.jpg", unit(DOG + 0.1 * CAT), taken_at="2021-01-01T00:00:00")
    s = searcher(lib)
    by_score = s.search(make_query("dog"))
    by_date = s.search(make_query("dog"), sort="date")
    assert names(by_score) == ["dog_2020.jpg", "dog_2023.jpg", "dog_2021.jpg"]
    assert names(by_date) == ["dog_2023.jpg", "dog_2021.jpg", "dog_2020.jpg"]
    assert by_date.matched == 3 and by_date.considered == 123


# ----- the relevance cutoff -------------------------------------------------------------------------
def test_cutoff_keeps_the_matches_of_a_large_library(lib: Library) -> None:
    lib.add_noise(200, away_from=CAR)
    for i in range(3):
        lib.add(f"car{i}.jpg", unit(CAR + 0.1 * axis(3 + i)))
    s = searcher(lib)
    response = s.search(make_query("car"), top=50)
    assert sorted(names(response)) == ["car0.jpg", "car1.jpg", "car2.jpg"]
    assert response.cutoff == AppliedCutoff("library", 3.0)
    assert all(h.z is not None and h.z >= 3.0 for h in response.hits)
    assert len(s.search(make_query("car"), top=50, use_cutoff=False).hits) == 50
    stricter = Searcher(lib.db, lib.path, lib.runtime, SearchSettings(cutoff=Cutoff(z=1e6)))
    assert stricter.search(make_query("car")).hits == []


def test_small_library_uses_the_bundle_calibration(lib: Library) -> None:
    lib.add("car.jpg", CAR)
    lib.add("dog.jpg", DOG)
    untuned = searcher(lib).search(make_query("car"))
    assert untuned.cutoff.source == "none" and len(untuned.hits) == 2
    tuned = SearchSettings(cutoff=Cutoff(z=3.0, null_median=0.0, null_scale=0.1), tuned=True)
    response = Searcher(lib.db, lib.path, lib.runtime, tuned).search(make_query("car"))
    assert response.cutoff.source == "world"
    assert names(response) == ["car.jpg"]


def test_settings_are_stored_per_bundle(lib: Library) -> None:
    assert load_settings("model-a") == SearchSettings()
    chosen = SearchSettings(
        w_global=0.2, w_region=0.8, cutoff=Cutoff(z=2.5, fpr=0.01), tuned=True, source="t"
    )
    save_settings("model-a", chosen)
    assert load_settings("model-a") == chosen
    assert load_settings("model-b") == SearchSettings()
    lib.runtime.identity = "model-a"
    assert Searcher(lib.db, lib.path, lib.runtime).settings == chosen


def test_a_bundle_ships_settings_and_a_persons_own_tuning_wins(lib: Library) -> None:
    shipped = SearchSettings(w_global=0.8, w_region=0.2, w_caption=0.0, cutoff=Cutoff(z=3.125), tuned=True)
    assert load_settings("model-s", shipped.to_json()) == shipped
    lib.runtime.identity = "model-s"
    lib.runtime.manifest = {"search_settings": shipped.to_json()}  # type: ignore[attr-defined]
    assert Searcher(lib.db, lib.path, lib.runtime).settings == shipped
    own = SearchSettings(w_global=0.3, w_region=0.7, tuned=True, source="mine")
    save_settings("model-s", own)
    assert load_settings("model-s", shipped.to_json()) == own
    assert Searcher(lib.db, lib.path, lib.runtime).settings == own
    # Shipped settings that make no sense are ignored, not trusted.
    assert load_settings("model-t", {"w_global": "lots"}) == SearchSettings()
    assert load_settings("model-t", {"w_global": 1.5}) == SearchSettings()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "JSON object"),
        ({"w_region": -0.1}, "weights must be numbers in"),
        ({"cutoff": {"z": "high"}}, "cutoff z must be a number"),
        ({"cutoff": {"z": 3.0, "unknown": 1}, "w_caption": None}, "weights must be numbers in"),
    ],
)
def test_settings_handed_over_are_read_strictly(data: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(data)


def test_robust_stats_ignore_the_few_matches() -> None:
    scores = np.r_[np.random.default_rng(0).normal(0.1, 0.02, 1000), [0.9, 0.95]]
    median, scale = robust_stats(scores)
    assert median == pytest.approx(0.1, abs=0.005) and scale == pytest.approx(0.02, abs=0.004)
    assert robust_stats(np.ones(10)) is None


# ----- odd queries ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE photos; --",
        "dog " * 2500,  # 10 kB
        "🐶 chien über 犬",
        "\x00\t\n",
        "-",
        '-"',
        "-cat -dog",
        "%_\\",
    ],
)
def test_odd_queries_never_crash(lib: Library, text: str) -> None:
    lib.add("dog.jpg", DOG)
    lib.add("cat.jpg", CAT)
    s = searcher(lib)
    try:
        response = s.search(make_query(text, folder=text[:50] or None))
        assert response.considered <= 2
    except QueryError:
        pass  # "nothing to search for" is an answer, not a crash
    assert lib.db.execute("SELECT count(*) FROM photos").fetchone()[0] == 2


def test_empty_queries_are_refused_in_words(lib: Library) -> None:
    lib.add("dog.jpg", DOG)
    s = searcher(lib)
    for query in (Query(), make_query(""), make_query("   "), make_query("!!! ???")):
        with pytest.raises(QueryError):
            s.search(query)
    with pytest.raises(QueryError):
        make_query("dog", image_weight=1.5)
    with pytest.raises(QueryError, match="no such image file"):
        make_query("dog", image=lib.path.parent / "missing.jpg")
    with pytest.raises(QueryError):
        s.search(make_query("dog"), sort="random")


def test_empty_library_searches_to_nothing(lib: Library) -> None:
    response = searcher(lib).search(make_query("dog"))
    assert response.hits == [] and response.considered == 0


def test_weights_of_terms(lib: Library) -> None:
    terms = searcher(lib).encode(replace(make_query("dog -cat -car"), negative_weight=0.6))
    assert terms.labels == ("text", "-cat", "-car")
    assert terms.weights.tolist() == pytest.approx([1.0, -0.3, -0.3])
    assert terms.vectors.shape == (3, DIM)


# ----- weaker matches, a photo as the example, browsing ---------------------------------------------
def test_weaker_photos_follow_the_matches_in_score_order_and_date_order_keeps_them_last(lib: Library) -> None:
    lib.add_noise(120, away_from=CAR)
    lib.add("car_2020.jpg", CAR, taken_at="2020-01-01T00:00:00")
    lib.add("car_2023.jpg", unit(CAR + 0.05 * DOG), taken_at="2023-01-01T00:00:00")
    lib.add("dog_2024.jpg", DOG, taken_at="2024-01-01T00:00:00")  # newer, and no match: stays below
    s = searcher(lib)
    query = make_query("car")
    ranking = s.rank(query, weaker=500)  # more than there are: every other photo
    assert ranking.matched == 2 and ranking.weaker == 121 and len(ranking) == 123
    assert ranking.z is not None
    assert (ranking.z[:2] >= 3.0).all() and (ranking.z[2:] < 3.0).all()
    assert list(ranking.scores[2:]) == sorted(ranking.scores[2:], reverse=True)
    dated = s.ordered(ranking, s.encode(query), sort="date")
    hits = dated.page(0, 123)
    assert [h.path.rsplit("/", 1)[-1] for h in hits[:2]] == ["car_2023.jpg", "car_2020.jpg"]
    assert [h.rank for h in hits] == list(range(123)) and dated.weaker == 121


def test_a_library_photo_is_an_example_from_its_stored_vectors(lib: Library) -> None:
    lib.add_noise(60, away_from=CAR)
    car = lib.add("car.jpg", CAR)
    lib.add("car_like.jpg", unit(CAR + 0.2 * DOG))
    s = searcher(lib)
    terms = s.with_photo(None, car, 0.5)
    assert terms.labels == ("image",)
    ranking = s.rank(make_query(""), terms, use_cutoff=False, limit=2)
    first = s.ordered(ranking, terms).page(0, 2)
    assert [h.path.rsplit("/", 1)[-1] for h in first] == ["car.jpg", "car_like.jpg"]
    # With words too, the words keep 1 - image weight of the score.
    both = s.with_photo(s.encode(make_query("dog")), car, 0.3)
    assert both.labels == ("text", "image") and both.weights.tolist() == pytest.approx([0.7, 0.3])


def test_browsing_lists_every_photo_newest_first_or_by_folder(lib: Library) -> None:
    lib.add("old.jpg", CAR, taken_at="2019-05-01T00:00:00", folder="a")
    lib.add("new.jpg", DOG, taken_at="2024-05-01T00:00:00", folder="b")
    lib.add("mid.jpg", CAT, taken_at="2021-05-01T00:00:00", folder="b")
    s = searcher(lib)
    by_month = s.browse(make_query(""), "month").page(0, 10)
    assert [h.path.rsplit("/", 1)[-1] for h in by_month] == ["new.jpg", "mid.jpg", "old.jpg"]
    by_folder = s.browse(make_query(""), "folder").page(0, 10)
    assert [h.path.rsplit("/", 1)[-1] for h in by_folder] == ["old.jpg", "new.jpg", "mid.jpg"]  # a/, then b/
    assert all(h.moment is not None for h in by_month)
