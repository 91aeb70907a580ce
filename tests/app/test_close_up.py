"""A text search's first photos seen close up where its words point (``app.close_up``): the crop is what
is compared, the head is re-ordered by the settings' share, and nothing is decoded when the share is 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from search_fakes import Library, TextTable, unit

from app.close_up import close_ups
from app.library.db import open_db
from app.query import make_query
from app.search import Searcher
from core.search_settings import SearchSettings, SettingsError, parse_settings

RED, BLUE = (255, 0, 0), (0, 0, 255)


class PointingRuntime(TextTable):
    """Words always point at the left half of a photo."""

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.tile([[0.25, 0.5, 0.5, 1.0]], (len(tokens), 1))  # centre box: the left half


def halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (64, 32), right)
    image.paste(left, (0, 0, 32, 32))
    return image


def colour(runtime: TextTable, rgb: tuple[int, int, int]) -> np.ndarray:
    return runtime._embed(np.array([rgb], np.float32) / 255)[0]


def test_the_crop_where_the_words_point_is_compared_with_them() -> None:
    runtime = PointingRuntime()
    red = colour(runtime, RED)
    found = close_ups(runtime, [halves(BLUE, RED), halves(RED, BLUE)], *runtime.encode_texts(["x"])[1:], red)
    np.testing.assert_allclose(found.boxes, [[0.0, 0.0, 0.5, 1.0]] * 2)
    assert found.cosines[1] == pytest.approx(1.0, abs=1e-5)  # the red half, cropped, is red
    assert found.cosines[0] < 0.99


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    """Two photos the index puts in the wrong order for "red ball": the first is near the words as a whole
    but blue where they point; the second a little further, and red there."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    runtime = PointingRuntime()
    red = colour(runtime, RED)
    runtime.texts["red ball"] = red
    library = Library(db, tmp_path / "library.db", tmp_path, runtime)
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(1)
    near, far = (
        unit(red + 0.1 * rng.standard_normal(red.size)),
        unit(red + 0.3 * rng.standard_normal(red.size)),
    )
    assert near @ red > far @ red
    for name, vector, picture in (
        ("blue_left.png", near, halves(BLUE, RED)),
        ("red_left.png", far, halves(RED, BLUE)),
    ):
        picture.save(tmp_path / "photos" / name)
        library.add(name, vector)
    yield library
    db.close()


def order(lib: Library, share: float, **kwargs: object) -> list[str]:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, w_close_up=share, close_up_head=20)
    searcher = Searcher(lib.db, lib.path, lib.runtime, settings, **kwargs)
    return [Path(h.path).name for h in searcher.search(make_query("red ball"), 10, use_cutoff=False).hits]


def test_the_head_is_reordered_by_the_close_up_at_the_settings_share(lib: Library) -> None:
    assert order(lib, 0.0) == ["blue_left.png", "red_left.png"]
    assert lib.runtime.images_encoded == 0  # no share: nothing decoded or encoded again
    assert order(lib, 0.5) == ["red_left.png", "blue_left.png"]
    assert lib.runtime.images_encoded == 4  # each photo, then its crop


def test_the_command_lines_head_can_turn_it_off(lib: Library) -> None:
    assert order(lib, 0.5, close_up=0) == ["blue_left.png", "red_left.png"]
    assert lib.runtime.images_encoded == 0


def test_a_close_up_hit_reports_its_cosine(lib: Library) -> None:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, w_close_up=0.5)
    hits = (
        Searcher(lib.db, lib.path, lib.runtime, settings)
        .search(make_query("red ball"), 10, use_cutoff=False)
        .hits
    )
    assert hits[0].close_up == pytest.approx(1.0, abs=1e-5)


def test_sorting_by_date_sees_nothing_close_up(lib: Library) -> None:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, w_close_up=0.5)
    Searcher(lib.db, lib.path, lib.runtime, settings).search(
        make_query("red ball"), 10, sort="date", use_cutoff=False
    )
    assert lib.runtime.images_encoded == 0


def test_settings_keep_the_close_up_share_and_head_in_range() -> None:
    assert parse_settings({"w_close_up": 0.15, "close_up_head": 20}).w_close_up == 0.15
    assert parse_settings({}).w_close_up == 0.0  # settings written before: no close-up
    for bad in ({"w_close_up": 1.5}, {"w_close_up": "a lot"}, {"close_up_head": -1}, {"close_up_head": 2.5}):
        with pytest.raises(SettingsError, match="close_up"):
            parse_settings(bad)
