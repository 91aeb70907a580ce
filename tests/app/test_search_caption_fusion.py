"""Text search's "z" caption fusion: a caption only adds evidence, so a photo without a caption scores
as one whose caption says little about the query, and a photo is never ranked lower for lacking one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from search_fakes import DIM, Library, TextTable, axis, unit

from app.library.db import open_db
from app.query import make_query
from app.search import Searcher
from core.search_settings import SearchSettings, SettingsError, parse_settings

DOG, CAT = axis(0), axis(1)
LOOK = unit(DOG + CAT + axis(2))  # what the three compared photos look like: the same for each


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    library = Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": DOG}))
    rng = np.random.default_rng(0)
    for i in range(40):  # captioned photos about anything: the crowd that calibrates the caption term
        library.add(f"other{i:02d}.jpg", rng.standard_normal(DIM), caption=rng.standard_normal(DIM))
    library.add("bare.jpg", LOOK)
    library.add("mild.jpg", LOOK, caption=unit(DOG + 2.5 * axis(3) + 2.5 * axis(4)))
    library.add("strong.jpg", LOOK, caption=DOG)
    yield library
    db.close()


def scores(lib: Library, settings: SearchSettings) -> dict[str, float]:
    response = Searcher(lib.db, lib.path, lib.runtime, settings).search(
        make_query("dog"), 50, use_cutoff=False
    )
    return {Path(h.path).name: h.score for h in response.hits}


def test_a_caption_below_the_floor_neither_lifts_nor_sinks(lib: Library) -> None:
    got = scores(
        lib, SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.05, caption_fusion="z", caption_floor=2.0)
    )
    assert got["mild.jpg"] == pytest.approx(got["bare.jpg"])
    assert got["strong.jpg"] > got["bare.jpg"] + 0.01


def test_the_centred_blend_moves_a_photo_for_a_caption_that_says_little(lib: Library) -> None:
    got = scores(lib, SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.5))
    assert got["mild.jpg"] != pytest.approx(got["bare.jpg"], abs=1e-3)


def test_no_photo_without_a_caption_falls_below_a_captioned_one_of_the_same_look(lib: Library) -> None:
    for floor in (0.0, 1.0, 3.0):
        got = scores(lib, SearchSettings(w_caption=0.1, caption_fusion="z", caption_floor=floor))
        assert got["bare.jpg"] <= min(got["mild.jpg"], got["strong.jpg"]) + 1e-6


def test_settings_name_a_known_caption_fusion() -> None:
    assert parse_settings({"caption_fusion": "z", "caption_floor": 3}).caption_floor == 3
    with pytest.raises(SettingsError, match="caption_fusion"):
        parse_settings({"caption_fusion": "rank"})


# ----- the "words" fusion: the captions' words (core.caption_words) -------------------------------------
CROWD_WORDS = ("a cat on a sofa", "mountains under snow", "a bowl of fruit", "a city street at night")


@pytest.fixture
def worded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    """Photos that all look alike, captioned in words: the crowd, one whose caption says what the query
    says, one that shares a single common word with it, and one without a caption."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    library = Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": DOG}))
    for i in range(40):
        text = CROWD_WORDS[i % len(CROWD_WORDS)] + (" by the beach" if i % 8 == 0 else "")
        library.add(f"other{i:02d}.jpg", LOOK, caption=axis(5), caption_text=text)
    library.add("bare.jpg", LOOK)
    library.add("strong.jpg", LOOK, caption=axis(5), caption_text="Rex, our brown dog, on the beach")
    library.add("partial.jpg", LOOK, caption=axis(5), caption_text="a sunny beach")
    yield library
    db.close()


def word_scores(lib: Library, text: str, w_caption: float = 0.05, floor: float = 2.0) -> dict[str, float]:
    settings = SearchSettings(
        w_global=1.0, w_region=0.0, w_caption=w_caption, caption_fusion="words", caption_floor=floor
    )
    response = Searcher(lib.db, lib.path, lib.runtime, settings).search(
        make_query(text), 50, use_cutoff=False
    )
    return {Path(h.path).name: h.score for h in response.hits}


def test_a_caption_that_says_what_the_query_says_lifts_its_photo_first(worded: Library) -> None:
    got = word_scores(worded, "a brown dog on the beach")
    assert max(got, key=got.__getitem__) == "strong.jpg"
    assert got["strong.jpg"] > got["bare.jpg"] + 0.05
    # Sharing one common word of the query covers too little of it to count for much.
    assert got["partial.jpg"] - got["bare.jpg"] < 0.1 * (got["strong.jpg"] - got["bare.jpg"])


def test_words_never_rank_a_photo_lower_for_lacking_a_caption(worded: Library) -> None:
    for text in ("a brown dog on the beach", "beach", "mountains", "zebra", "the"):
        for floor in (0.0, 2.0, 6.0):
            got = word_scores(worded, text, floor=floor)
            bare = got["bare.jpg"]
            assert bare == pytest.approx(word_scores(worded, text, w_caption=0.0)["bare.jpg"])
            assert all(score >= bare - 1e-6 for score in got.values()), (text, floor)


def test_a_caption_naming_an_excluded_word_sinks(worded: Library) -> None:
    worded.runtime.texts["beach"] = axis(6)  # the excluded word needs a vector to be a term at all
    plain = word_scores(worded, "dog")
    without_beach = word_scores(worded, "dog -beach")
    # Every photo looks alike, so only the captions' words set them apart from the uncaptioned one.
    assert without_beach["strong.jpg"] - without_beach["bare.jpg"] < plain["strong.jpg"] - plain["bare.jpg"]
    assert without_beach["partial.jpg"] < without_beach["bare.jpg"]


def test_a_persons_own_words_put_their_photo_first_however_it_looks(worded: Library) -> None:
    worded.add(
        "far.jpg", unit(-LOOK + 0.1 * axis(7)), caption=axis(5), caption_text="Grandpa at Brighton pier"
    )
    got = word_scores(worded, "grandpa at brighton pier")
    assert max(got, key=got.__getitem__) == "far.jpg"  # the model sees nothing of it; the caption says it all


def test_settings_accept_the_words_fusion() -> None:
    assert parse_settings({"caption_fusion": "words", "caption_floor": 6}).caption_fusion == "words"
