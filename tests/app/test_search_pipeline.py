"""The one search pipeline: a ranking in the order shown (ITM head, date order), turned into hits a page
at a time; the CLI's ``search --top N`` is its first page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from search_fakes import Library, TextTable, axis, unit

from app.library import store
from app.library.db import open_db
from app.query import make_query
from app.search import NO_CUTOFF, RankCosines, RankedPhotos, Ranking, Searcher, SortOrder, by_date
from core.search_settings import SearchSettings

DOG = axis(0)
# (name, how dog-like, date): scores fall with the list; dates do not follow them
PHOTOS = [
    ("a.jpg", 1.0, "2021-01-01T10:00:00"),
    ("b.jpg", 0.9, None),
    ("c.jpg", 0.8, "2023-06-01T10:00:00"),
    ("d.jpg", 0.7, "2021-01-01T10:00:00"),
    ("e.jpg", 0.6, "2022-03-01T10:00:00"),
    ("f.jpg", 0.5, None),
    ("g.jpg", 0.4, "2024-01-01T10:00:00"),
]


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    library = Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": DOG}))
    for name, likeness, taken_at in PHOTOS:
        library.add(name, unit(likeness * DOG + (1 - likeness) * axis(1)), taken_at=taken_at)
    yield library
    db.close()


def searcher(lib: Library) -> Searcher:
    return Searcher(lib.db, lib.path, lib.runtime, SearchSettings())


def names(hits: list) -> list[str]:
    return [Path(h.path).name for h in hits]


def ranked(lib: Library, sort: SortOrder = "score") -> RankedPhotos:
    s = searcher(lib)
    query = make_query("dog")
    terms = s.encode(query)
    return s.ordered(s.rank(query, terms, use_cutoff=False), terms, sort=sort)


def test_pages_join_into_the_whole_ranking_and_stop_at_its_end(lib: Library) -> None:
    photos = ranked(lib)
    assert len(photos) == len(PHOTOS)
    whole = photos.page(0, 100)
    assert names(whole) == [name for name, _, _ in PHOTOS]
    assert photos.page(0, 3) + photos.page(3, 6) + photos.page(6, 9) == whole
    assert photos.page(5, 7) == whole[5:]  # a page that reaches past the end is shorter
    assert photos.page(7, 10) == [] and photos.page(50, 60) == []
    assert [h.score for h in whole] == sorted((h.score for h in whole), reverse=True)


def test_the_cli_top_n_is_the_first_page(lib: Library) -> None:
    photos = ranked(lib)
    sorts: tuple[SortOrder, ...] = ("score", "date")
    for sort in sorts:
        response = searcher(lib).search(make_query("dog"), top=4, sort=sort, use_cutoff=False)
        assert response.hits == ranked(lib, sort).page(0, 4)
    assert response.cutoff == NO_CUTOFF and response.considered == photos.considered == len(PHOTOS)


def test_date_order_is_newest_first_unknown_dates_last_ties_by_score(lib: Library) -> None:
    hits = ranked(lib, "date").page(0, 100)
    # d and a share a date: a scores higher; b and f have none: last, b first.
    assert names(hits) == ["g.jpg", "c.jpg", "e.jpg", "a.jpg", "d.jpg", "b.jpg", "f.jpg"]


def test_a_photo_removed_after_ranking_is_left_out_of_its_page(lib: Library) -> None:
    photos = ranked(lib)
    first = photos.page(0, 3)
    store.delete_photos(lib.db, [first[1].photo_id])
    assert names(photos.page(0, 3)) == [names(first)[0], names(first)[2]]


def hand_ranking(n: int) -> Ranking:
    scores = np.linspace(1.0, 0.5, n).astype(np.float32)
    cosines = RankCosines(scores.copy(), scores.copy(), np.full(n, np.nan, np.float32))
    return Ranking(np.arange(n) * 10, scores, None, n, n, NO_CUTOFF, cosines)


def test_date_order_moves_every_aligned_array() -> None:
    ranking = hand_ranking(4)
    times = np.full(40, np.nan)
    times[[0, 10, 20, 30]] = [1.0, np.nan, 3.0, 2.0]
    dated = by_date(ranking, times)
    assert dated.positions.tolist() == [20, 30, 0, 10]
    np.testing.assert_array_equal(dated.scores, ranking.scores[[2, 3, 0, 1]])
    np.testing.assert_array_equal(dated.cosines.global_, ranking.cosines.global_[[2, 3, 0, 1]])
