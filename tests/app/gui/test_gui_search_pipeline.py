"""The window and ``multigrain search`` share one pipeline: the same query gives the same photos in the same
order, with the same scores and boxes, whether the GUI pages through them or the CLI prints its top N."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from search_fakes import K, Library, TextTable, axis, unit

from app import commands
from app.gui import search_engine
from app.gui.bundles import ModelHolder
from app.gui.search_engine import Page, SearchEngine, SearchOutcome, SearchRequest
from app.gui.tasks import SyncPool
from app.library.db import open_db
from cli.main import main

DOG = axis(0)


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    db = open_db(tmp_path / "library.db")
    library = Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": DOG, "cat": axis(1)}))
    rng = np.random.default_rng(3)
    for i in range(11):
        regions = unit(rng.standard_normal((K, DOG.size)) + rng.random() * DOG)
        month = 1 + i * 5 % 12  # dates that do not follow the scores
        taken_at = None if i % 4 == 3 else f"2023-{month:02d}-01T10:00:00"
        library.add(f"p{i:02d}.jpg", rng.standard_normal(DOG.size) + i * 0.2 * DOG, regions, taken_at)
    yield library
    db.close()


def gui_rows(lib: Library, request: SearchRequest) -> list[search_engine.ResultRow]:
    """Every row the window shows for ``request``, fetched page by page as its grid would."""
    engine = SearchEngine(lib.path, ModelHolder.fixed(lib.runtime), pool=SyncPool())
    outcomes: list[SearchOutcome] = []
    pages: list[Page] = []
    engine.results.connect(outcomes.append)
    engine.page.connect(pages.append)
    engine.load()
    generation = engine.search(request)
    rows, stop = list(outcomes[0].rows), outcomes[0].stop
    while stop < outcomes[0].matched:
        engine.fetch_page(generation, stop)
        rows += pages[-1].rows
        stop = pages[-1].stop
    engine.fetch_page(generation, stop)  # past the end: an empty page
    assert pages[-1].rows == [] and pages[-1].start == pages[-1].stop == outcomes[0].matched
    engine.shutdown()
    return rows


def cli_results(lib: Library, capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    assert main(["search", *argv, "--json", "--db", str(lib.path)]) == 0
    return json.loads(capsys.readouterr().out)["results"]


@pytest.mark.parametrize("sort", ["score", "date"])
def test_the_window_and_the_cli_rank_alike(
    lib: Library, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    monkeypatch.setattr(search_engine, "PAGE", 4)  # three pages, the last one short
    monkeypatch.setattr(commands, "load_model", lambda args: lib.runtime)
    rows = gui_rows(lib, SearchRequest(text="dog -cat", cutoff_offset=None, sort=sort))  # type: ignore[arg-type]
    printed = cli_results(lib, capsys, "dog -cat", "--all", "--top", "50", "--sort", sort)
    assert len(rows) == len(printed) == 11
    assert [r.path for r in rows] == [hit["path"] for hit in printed]
    assert [r.score for r in rows] == [hit["score"] for hit in printed]
    assert [r.z for r in rows] == [hit["z"] for hit in printed]
    assert [list(r.region) for r in rows if r.region] == [hit["region"] for hit in printed]
    if sort == "score":
        assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
    else:  # newest first; photos without a date last
        dated = [r.taken_at for r in rows if r.taken_at]
        assert dated == sorted(dated, reverse=True) and rows[-1].taken_at is None
