"""Searching in the window: live results, stale answers dropped, search by a dropped image, refinements."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from gui_fakes import GroundingFake
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from search_fakes import axis

from app.gui.bundles import ModelHolder
from app.gui.main_window import MainWindow
from app.gui.results_model import PathRole, ScoreRole, ThumbRole
from app.gui.search_engine import SearchEngine, SearchRequest
from app.gui.tasks import SyncPool

TIMEOUT = 10_000


def wait_ready(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)


def result_names(window: MainWindow) -> list[str]:
    m = window.model
    return [os.path.basename(m.data(m.index(i, 0), PathRole)) for i in range(m.rowCount())]


def test_typing_a_query_shows_results(qtbot, make_window: Callable[..., MainWindow], indexed: Path) -> None:
    window = make_window()
    wait_ready(qtbot, window)
    assert window.engine.state.photos == 12
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "red car")
    # One search for the whole word: the keystrokes were debounced.
    assert window.request is not None and window.request.text == "red car"
    assert window.model.rowCount() == 12 and window.model.matched == 12
    scores = [window.model.data(window.model.index(i, 0), ScoreRole) for i in range(12)]
    assert scores == sorted(scores, reverse=True)
    assert "12 photos, best first" in window.summary.text()
    # Thumbnails load off the GUI thread and replace the placeholders.
    first = window.model.index(0, 0)
    window.model.data(first, ThumbRole)
    qtbot.waitUntil(lambda: window.model.data(first, ThumbRole) is not None, timeout=TIMEOUT)
    assert not window.model.data(first, ThumbRole).isNull()


def test_an_empty_search_box_shows_the_library_as_a_timeline(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    with qtbot.waitSignal(window.engine.browsed, timeout=TIMEOUT) as blocker:
        wait_ready(qtbot, window)
    assert blocker.args[0].browsing and window.model.photo_count() == 12
    # The photos were written today: one month heading, then every photo, newest first.
    assert window.model.is_heading(0) and not window.model.is_heading(1)
    month = window.model.data(window.model.index(0, 0), Qt.ItemDataRole.DisplayRole)
    assert month == datetime.now().strftime("%B %Y")
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "dog")
    with qtbot.waitSignal(window.engine.browsed, timeout=TIMEOUT):
        window.search.query.clear()
    assert window.request is None and window.model.photo_count() == 12
    # By folder: a heading per folder, its photos under it.
    with qtbot.waitSignal(window.engine.browsed, timeout=TIMEOUT):
        window.refine.browse.setCurrentIndex(window.refine.browse.findData("folder"))
    headings = [
        window.model.data(window.model.index(i, 0), Qt.ItemDataRole.DisplayRole)
        for i in range(window.model.rowCount())
        if window.model.is_heading(i)
    ]
    assert headings == [str(indexed / "album"), str(indexed / "other")]
    assert window.prefs.browse == "folder"


def test_stale_results_never_overwrite_newer_ones(qtbot, db_path: Path, photos: Path) -> None:
    """The first query's text encoder is slow; the second query is sent meanwhile. Only the second's
    results are delivered, though the first finishes later on the worker."""
    from gui_fakes import index_folder

    gate = threading.Event()
    runtime = GroundingFake({"dog": axis(0), "cat": axis(1)}, slow_texts=["dog"], gate=gate)
    index_folder(db_path, runtime, [photos / "album"])
    engine = SearchEngine(db_path, ModelHolder.fixed(runtime))
    delivered: list[str] = []
    engine.results.connect(lambda outcome: delivered.append(outcome.request.text))
    with qtbot.waitSignal(engine.ready, timeout=TIMEOUT):
        engine.load()
    engine.search(SearchRequest(text="dog", cutoff_offset=None))
    assert runtime.entered.wait(10)  # the worker is now inside the slow encode of "dog"
    second = engine.search(SearchRequest(text="cat", cutoff_offset=None))
    with qtbot.waitSignal(engine.results, timeout=TIMEOUT) as blocker:
        gate.set()
    assert blocker.args[0].generation == second
    qtbot.wait(100)
    assert delivered == ["cat"]
    engine.shutdown()


def test_a_skipped_request_does_no_work(qtbot, db_path: Path, photos: Path) -> None:
    """Requests replaced before the worker reached them are never encoded."""
    from gui_fakes import index_folder

    gate = threading.Event()
    runtime = GroundingFake(slow_texts=["busy"], gate=gate)
    index_folder(db_path, runtime, [photos / "album"])
    engine = SearchEngine(db_path, ModelHolder.fixed(runtime))
    with qtbot.waitSignal(engine.ready, timeout=TIMEOUT):
        engine.load()
    runtime.text_calls.clear()
    engine.search(SearchRequest(text="busy", cutoff_offset=None))
    assert runtime.entered.wait(10)  # the worker is busy with it
    for text in ("d", "do", "dog", "dogs"):
        engine.search(SearchRequest(text=text, cutoff_offset=None))
    with qtbot.waitSignal(engine.results, timeout=TIMEOUT) as blocker:
        gate.set()
    assert blocker.args[0].request.text == "dogs"
    assert [t for call in runtime.text_calls for t in call] == ["busy", "dogs"]
    engine.shutdown()


def drop(window: MainWindow, *paths: Path) -> QDropEvent:
    """A file manager's drop of ``paths`` onto the window.

    Delivered with ``event()``: ``QApplication.sendEvent`` discards drop events when no drag is in
    progress, and only a real drag (which offscreen tests cannot make) starts one."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    window.event(enter)
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    if enter.isAccepted():
        window.event(event)
    else:
        event.ignore()
    return event


def test_dropping_an_image_searches_by_example(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    wait_ready(qtbot, window)
    example = indexed / "other" / "o002.jpg"
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        event = drop(window, example)
    assert event.isAccepted()
    assert window.request is not None and window.request.image == str(example) and window.request.text == ""
    assert "o002.jpg" in window.search.example.text()
    m = window.model
    scores = {name: m.data(m.index(i, 0), ScoreRole) for i, name in enumerate(result_names(window))}
    assert scores["o002.jpg"] >= max(scores.values()) - 0.01  # the same picture matches itself best

    # Text and image together: the weight slider comes alive, and moving it searches again.
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "a photo")
    assert window.refine.weight.isEnabled()
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.refine.weight.setValue(90)
    assert blocker.args[0].request.image_weight == pytest.approx(0.9)
    assert window.prefs.image_weight == pytest.approx(0.9)

    # Clicking the example's chip removes it.
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.search.example.click()
    assert blocker.args[0].request.image is None


def test_a_drop_of_other_files_is_refused(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    event = drop(window, text)
    assert not event.isAccepted()
    assert window.request is None


def test_negative_terms_filters_and_sort(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        qtbot.keyClicks(window.search.query, "dog -cat")
    assert blocker.args[0].request.text == "dog -cat"
    assert window.model.rowCount() == 12

    # The folder filter lists the library's folders.
    combo = window.refine.folder
    qtbot.waitUntil(lambda: combo.count() == 3, timeout=TIMEOUT)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        combo.setCurrentIndex(combo.findData(str(indexed / "other")))
    assert sorted(result_names(window)) == ["o000.jpg", "o001.jpg", "o002.jpg", "o003.jpg"]

    # Dates: the photos carry no EXIF date and were written today.
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.refine.use_dates.setChecked(True)
    assert window.model.rowCount() == 4
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.refine.before.setDate(window.refine.after.date().addDays(-1))  # a range before any photo
    assert window.model.rowCount() == 0
    assert "No photos to search in" in window.summary.text()

    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.refine.sort.setCurrentIndex(window.refine.sort.findData("date"))
    assert blocker.args[0].request.sort == "date"
    assert window.prefs.sort == "date"


def test_strictness_in_words_moves_the_cutoff(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    wait_ready(qtbot, window)
    assert window.refine.strictness.currentText() == "Balanced"
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        qtbot.keyClicks(window.search.query, "dog")
    assert blocker.args[0].request.cutoff_offset == 0.0
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.refine.strictness.setCurrentText("Show all")
    assert blocker.args[0].request.cutoff_offset is None
    assert window.prefs.strictness == "Show all"
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.refine.strictness.setCurrentText("Strict")
    assert blocker.args[0].request.cutoff_offset == 1.0
    assert [window.refine.strictness.itemText(i) for i in range(3)] == ["Strict", "Balanced", "Show all"]


def test_a_query_without_words_is_explained(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "!!!")
    assert "nothing to search for" in window.summary.text()
    assert "Traceback" not in window.summary.text()


def test_the_window_runs_on_synchronous_pools(qtbot, make_window, indexed: Path) -> None:
    """With the synchronous fake pool every task completes before ``run_task`` returns: a search is
    answered as soon as the debounce timer fires, with no worker thread involved."""
    window = make_window(pool=SyncPool(), engine_pool=SyncPool(), index_pool=SyncPool())
    assert window.engine.state is not None and window.engine.state.photos == 12  # loaded in __init__
    window.search.query.setText("a dog")
    window.search.flush()
    assert window.model.rowCount() == 12
    window.open_result(window.model.index(0, 0))
    assert window.result_view.grounding is not None and window.result_view.canvas.image is not None
