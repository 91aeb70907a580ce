"""The results model: Qt's model checks, custom roles, paging, thumbnails with an LRU cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from photo_files import write_jpeg
from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from app.gui.results_model import (
    PathRole,
    PhotoIdRole,
    RegionRole,
    ResultsModel,
    ScoreRole,
    TakenAtRole,
    ThumbRole,
    ZRole,
)
from app.gui.search_engine import Page, ResultRow, SearchOutcome, SearchRequest
from app.gui.tasks import SyncPool
from app.gui.thumb_delegate import CELL, ThumbDelegate
from app.gui.thumb_loader import BROKEN, ThumbLoader


def rows(start: int, stop: int, folder: str = "/photos") -> list[ResultRow]:
    return [
        ResultRow(
            i,
            f"{folder}/p{i:06d}.jpg",
            1.0 - i * 1e-5,
            4.0,
            "2024-05-01T12:00:00",
            40,
            30,
            (0.0, 0.0, 0.5, 0.5),
            None,
        )
        for i in range(start, stop)
    ]


class Ranking:
    """A fake search engine holding ``matched`` results. Like the real one, it answers a page request
    later, from the event loop (the model checks rely on it: no rows arrive inside a reset)."""

    def __init__(self, matched: int, page: int = 100) -> None:
        self.matched, self.page = matched, page
        self.model: ResultsModel | None = None
        self.asked: list[int] = []

    def fetch(self, generation: int, start: int) -> None:
        self.asked.append(start)
        stop = min(start + self.page, self.matched)
        model = self.model
        assert model is not None
        QTimer.singleShot(0, model, lambda: model.add_page(Page(generation, start, stop, rows(start, stop))))

    def outcome(self, generation: int = 1) -> SearchOutcome:
        stop = min(self.page, self.matched)
        return SearchOutcome(
            generation, SearchRequest(text="x"), rows(0, stop), stop, self.matched, self.matched, {}, 1.0
        )


def fetch_all(qtbot, model: ResultsModel) -> None:
    while model.canFetchMore(QModelIndex()) or model._pending:
        count = model.rowCount()
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda count=count: model.rowCount() > count, timeout=5000)


@pytest.mark.parametrize("force_py", [False, True], ids=["qt-tester", "python-tester"])
def test_the_model_passes_qt_model_checks(qtbot, qtmodeltester, force_py: bool) -> None:
    ranking = Ranking(1000)
    model = ResultsModel(ThumbLoader(QSize(64, 64), pool=SyncPool()), ranking.fetch)
    ranking.model = model
    model.set_outcome(ranking.outcome())
    # The tester checks the model now, then every change it signals from here on.
    qtmodeltester.check(model, force_py=force_py)
    fetch_all(qtbot, model)
    assert model.rowCount() == 1000
    model.set_outcome(ranking.outcome(generation=2))
    model.clear()
    model.set_outcome(ranking.outcome(generation=3))
    qtbot.waitUntil(lambda: not model._pending, timeout=5000)  # the tester's own fetch has landed


def test_roles_and_names() -> None:
    ranking = Ranking(5)
    model = ResultsModel(None, ranking.fetch)
    ranking.model = model
    model.set_outcome(ranking.outcome())
    index = model.index(2, 0)
    assert model.data(index, PathRole) == "/photos/p000002.jpg"
    assert model.data(index, PhotoIdRole) == 2
    assert model.data(index, ScoreRole) == 1.0 - 2e-5
    assert model.data(index, ZRole) == 4.0
    assert model.data(index, TakenAtRole) == "2024-05-01T12:00:00"
    assert model.data(index, RegionRole) == (0.0, 0.0, 0.5, 0.5)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "p000002.jpg"
    assert "score" not in model.data(index, Qt.ItemDataRole.ToolTipRole)  # numbers: the details pane
    names = model.roleNames()
    assert names[int(PathRole)] == b"path" and names[int(ThumbRole)] == b"thumb"


def test_pages_of_older_searches_are_ignored() -> None:
    model = ResultsModel(None, lambda generation, start: None)
    ranking = Ranking(500)
    model.set_outcome(ranking.outcome(generation=1))
    model.set_outcome(ranking.outcome(generation=2))
    model.add_page(Page(1, 100, 200, rows(100, 200)))  # the old search's answer arrives late
    assert model.rowCount() == 100
    model.add_page(Page(2, 100, 200, rows(100, 200)))
    model.add_page(Page(2, 100, 200, rows(100, 200)))  # asked twice: inserted once
    assert model.rowCount() == 200


def test_a_hundred_thousand_results_load_lazily(qtbot) -> None:
    """The view only fetches the pages it shows; uniform sizes keep the layout cheap."""
    ranking = Ranking(100_000, page=240)
    model = ResultsModel(ThumbLoader(QSize(64, 64), pool=SyncPool()), ranking.fetch)
    ranking.model = model
    view = QListView()
    qtbot.addWidget(view)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setItemDelegate(ThumbDelegate(view))
    view.setModel(model)
    view.resize(900, 700)
    view.show()
    model.set_outcome(ranking.outcome())
    qtbot.wait(50)
    assert model.rowCount() < 2000
    view.scrollToBottom()
    qtbot.wait(50)
    assert model.rowCount() < 5000 and model.matched == 100_000
    assert view.itemDelegate().sizeHint(QStyleOptionViewItem(), model.index(0, 0)) == CELL


def test_thumbnails_load_in_the_background_into_an_lru_cache(qtbot, tmp_path: Path) -> None:
    files = [write_jpeg(tmp_path / f"t{i}.jpg", (10 * i, 80, 200), size=(120, 90)) for i in range(4)]
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    loader = ThumbLoader(QSize(60, 60))
    assert loader.request(files[0], None) is None  # a miss queues a load
    with qtbot.waitSignal(loader.loaded, timeout=5000) as blocker:
        pass
    assert blocker.args == [files[0]]
    image = loader.request(files[0], None)
    assert isinstance(image, QImage) and image.width() == 60 and image.height() == 45
    loader.budget_bytes = 3 * image.sizeInBytes() + 100  # room for three thumbnails
    for path in files[1:]:
        loader.request(path, None)
    qtbot.waitUntil(lambda: all(loader.request(p, None) is not None for p in files[1:]), timeout=5000)
    assert loader.cached_bytes <= loader.budget_bytes
    # The least recently used (the first) was evicted.
    assert files[0] not in loader._cache and files[3] in loader._cache
    # An unreadable file is cached as broken, not retried.
    loader.request(str(tmp_path / "bad.jpg"), None)
    qtbot.waitUntil(lambda: loader.request(str(tmp_path / "bad.jpg"), None) is BROKEN, timeout=5000)


def test_the_indexer_thumbnail_is_preferred(qtbot, tmp_path: Path) -> None:
    photo = write_jpeg(tmp_path / "photo.jpg", (200, 0, 0), size=(300, 200))
    thumb = write_jpeg(tmp_path / "thumb.jpg", (0, 0, 200), size=(30, 20))
    loader = ThumbLoader(QSize(60, 60), pool=SyncPool())
    loader.request(photo, thumb)
    qtbot.waitUntil(lambda: loader.request(photo, thumb) is not None, timeout=5000)
    image = loader.request(photo, thumb)
    assert (image.width(), image.height()) == (30, 20)  # the small thumbnail, not the photo
    assert image.pixelColor(15, 10).blue() > 150
