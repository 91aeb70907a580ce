"""A text search's first photos re-ordered by the ITM head (``app.head_itm``): the whole photo's logit,
plus the region's where the words point at the settings' weight; nothing decoded when turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from itm_fakes import BLUE, RED, ItmRuntime, halves, red_ball_library
from PIL import Image
from search_fakes import Library, unit

from app.head_itm import head_itm, itm_parts
from app.query import make_query
from app.search import Searcher
from core.search_settings import SearchSettings, SettingsError, parse_settings


def test_the_whole_photo_and_the_region_where_the_words_point_are_scored() -> None:
    runtime = ItmRuntime()
    _, hidden, mask = runtime.encode_texts(["x"])
    images = [halves(RED, BLUE), halves(BLUE, RED), Image.new("RGB", (64, 32), RED)]
    whole, region = itm_parts(runtime, images, hidden, mask)
    np.testing.assert_allclose(whole, [0.0, 0.0, 10.0], atol=1e-3)  # half red, half blue: even
    assert region is not None
    np.testing.assert_allclose(region, [10.0, -10.0, 10.0], atol=0.3)  # the left half only (edges blur)
    np.testing.assert_allclose(head_itm(runtime, images, hidden, mask, 0.5), whole + 0.5 * region, atol=1e-4)
    calls = runtime.itm_pairs
    head_itm(runtime, images, hidden, mask, 0.0)
    assert runtime.itm_pairs == calls + 3  # no region weight: the whole photo only


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    library = red_ball_library(tmp_path)
    yield library
    library.db.close()


def order(lib: Library, head: int, w_region: float = 0.0, **kwargs: object) -> list[str]:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, itm_head=head, w_region_itm=w_region)
    searcher = Searcher(lib.db, lib.path, lib.runtime, settings, **kwargs)
    return [Path(h.path).name for h in searcher.search(make_query("red ball"), 10, use_cutoff=False).hits]


def test_the_index_order_stands_when_the_settings_have_no_itm_head(lib: Library) -> None:
    assert order(lib, 0) == ["right.png", "red.png", "left.png"]
    assert lib.runtime.images_encoded == 0 and lib.runtime.itm_pairs == 0


def test_the_itm_head_reorders_and_the_region_weighs_where_the_words_point(lib: Library) -> None:
    assert order(lib, 20) == ["red.png", "right.png", "left.png"]  # an even tie keeps the index order
    assert order(lib, 20, w_region=0.5) == ["red.png", "left.png", "right.png"]


def test_only_the_head_is_reordered(lib: Library) -> None:
    assert order(lib, 1) == ["right.png", "red.png", "left.png"]  # a head of one: nothing to re-order
    assert lib.runtime.images_encoded == 1


def test_a_searcher_can_turn_the_bundles_head_off(lib: Library) -> None:
    assert order(lib, 20, itm_head=0) == ["right.png", "red.png", "left.png"]
    assert lib.runtime.itm_pairs == 0


def test_a_reordered_hit_reports_its_itm_logit(lib: Library) -> None:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, itm_head=20)
    hits = (
        Searcher(lib.db, lib.path, lib.runtime, settings)
        .search(make_query("red ball"), 10, use_cutoff=False)
        .hits
    )
    assert hits[0].itm == pytest.approx(10.0, abs=1e-4)


def test_sorting_by_date_reorders_nothing(lib: Library) -> None:
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, itm_head=20)
    searcher = Searcher(lib.db, lib.path, lib.runtime, settings)
    searcher.search(make_query("red ball"), 10, sort="date", use_cutoff=False)
    assert lib.runtime.itm_pairs == 0


def test_a_photo_gone_since_indexing_is_no_hit_and_the_rest_are_still_reordered(lib: Library) -> None:
    (lib.root / "photos" / "red.png").unlink()
    assert order(lib, 20, w_region=0.5) == ["left.png", "right.png"]


def test_settings_keep_the_itm_head_and_region_weight_in_range() -> None:
    assert parse_settings({"itm_head": 20, "w_region_itm": 0.5}).itm_head == 20
    assert parse_settings({}).itm_head == 0  # settings written before: no re-order
    for bad in (
        {"itm_head": -1},
        {"itm_head": 2.5},
        {"itm_head": True},
        {"w_region_itm": -1},
        {"w_region_itm": "x"},
    ):
        with pytest.raises(SettingsError, match="itm"):
            parse_settings(bad)


def test_the_itm_head_leaves_a_photo_found_by_its_captions_exact_words_first(lib: Library) -> None:
    from app.library import store

    digest = lib.db.execute("SELECT content_hash FROM photos WHERE path LIKE '%left.png'").fetchone()[0]
    caption = store.put_caption(lib.db, digest, "user", "Red ball at Brighton")
    store.put_caption_vector(lib.db, caption, lib.runtime.identity, unit(np.ones(8)))
    settings = SearchSettings(
        w_global=1.0, w_region=0.0, w_caption=0.02, caption_fusion="words", caption_floor=6.0, itm_head=20
    )
    searcher = Searcher(lib.db, lib.path, lib.runtime, settings)
    lib.runtime.texts["red ball at brighton"] = lib.runtime.texts["red ball"]
    hits = searcher.search(make_query("red ball at brighton"), 10, use_cutoff=False).hits
    # The ITM head finds 'red' reddest, but the caption holds every word of the query: it stays first.
    assert [Path(h.path).name for h in hits] == ["left.png", "red.png", "right.png"]
    assert hits[0].itm is None and hits[1].itm is not None
