"""The window shows a text search in the index's order at once, then the same search with its first
photos re-ordered by the ITM head (``SearchOutcome.refine`` / ``refined``); a newer keystroke drops the
re-order, and a preview left open stays on its photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from itm_fakes import red_ball_library
from search_fakes import Library

from app.gui.bundles import ModelHolder
from app.gui.search_engine import SearchEngine, SearchOutcome, SearchRequest
from app.gui.tasks import SyncPool
from app.settings import save_settings
from core.search_settings import SearchSettings


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    """The index ranks 'right' > 'red' > 'left' for "red ball"; the ITM head finds 'red' reddest."""
    library = red_ball_library(tmp_path)
    settings = SearchSettings(w_global=1.0, w_region=0.0, w_caption=0.0, itm_head=20, tuned=True)
    save_settings(library.runtime.identity, settings)  # as the bundle's tuned settings would say
    yield library
    library.db.close()


def names(outcome: SearchOutcome) -> list[str]:
    return [Path(row.path).name for row in outcome.rows if row.path]


def test_the_index_order_comes_first_then_the_itm_order(lib: Library) -> None:
    engine = SearchEngine(lib.path, ModelHolder.fixed(lib.runtime), pool=SyncPool())
    outcomes: list[SearchOutcome] = []
    engine.results.connect(outcomes.append)
    engine.load()
    engine.search(SearchRequest(text="red ball", cutoff_offset=None))
    assert [(o.refine, o.refined) for o in outcomes] == [(True, False), (False, True)]
    assert names(outcomes[0]) == ["right.png", "red.png", "left.png"]
    assert names(outcomes[1]) == ["red.png", "right.png", "left.png"]
    assert outcomes[0].generation == outcomes[1].generation
    engine.shutdown()


def test_a_newer_search_drops_the_reorder(lib: Library) -> None:
    engine = SearchEngine(lib.path, ModelHolder.fixed(lib.runtime), pool=SyncPool())
    outcomes: list[SearchOutcome] = []
    engine.load()

    def typed_on(outcome: SearchOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            engine.cancel()  # the next keystroke, before the re-order runs

    engine.results.connect(typed_on)
    engine.search(SearchRequest(text="red ball", cutoff_offset=None))
    assert len(outcomes) == 1 and lib.runtime.itm_pairs == 0
    engine.shutdown()


def test_sorted_by_date_there_is_nothing_to_reorder(lib: Library) -> None:
    engine = SearchEngine(lib.path, ModelHolder.fixed(lib.runtime), pool=SyncPool())
    outcomes: list[SearchOutcome] = []
    engine.results.connect(outcomes.append)
    engine.load()
    engine.search(SearchRequest(text="red ball", cutoff_offset=None, sort="date"))
    assert [(o.refine, o.refined) for o in outcomes] == [(False, False)]
    engine.shutdown()
