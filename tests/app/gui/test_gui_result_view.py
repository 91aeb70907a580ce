"""One result, large: the grounded box and best region, keyboard navigation, open, show folder, copy."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication

from app.gui.results_model import PathRole
from app.gui.search_engine import WEAKER_GROUP
from core.search_settings import ViewSettings

TIMEOUT = 10_000


class UrlCatcher(QObject):
    """Stands in for the desktop's file handler: records the URLs the app asks to open."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


@pytest.fixture
def opened() -> list[QUrl]:
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher.urls
    QDesktopServices.unsetUrlHandler("file")


def searched(qtbot, make_window, text: str = "a red square"):
    window = make_window()
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, text)
    return window


def test_opening_a_result_shows_it_with_its_grounded_box(qtbot, make_window, indexed: Path) -> None:
    window = searched(qtbot, make_window, "a red square -blue")
    first = window.model.index(0, 0)
    window.grid.setCurrentIndex(first)
    window.grid.activated.emit(first)
    view = window.result_view
    assert view.isVisible()
    assert view.text == "a red square"  # the positive words are grounded, not the negative term
    qtbot.waitUntil(lambda: view.grounding is not None and view.canvas.image is not None, timeout=TIMEOUT)
    g = view.grounding
    assert g.text == "a red square"
    # The fake box head answers (cx, cy, w, h) = (0.5, 0.5, 0.4, 0.3) of whatever it sees; the view zooms
    # in, so that answer comes twice: in the photo, then in the window around it (0.6 x 0.45 of the
    # photo, centred): a box 0.24 x 0.135 of the photo, centred (to the window's whole pixels).
    assert g.fraction == pytest.approx((0.38, 0.4325, 0.24, 0.135), abs=0.01)
    assert view.canvas.label.startswith("a red square")
    assert "box score" in view.box_line.text()
    assert view.title.text() == os.path.basename(window.model.data(first, PathRole))
    # The canvas paints without complaint.
    view.canvas.grab()


def opened_first(qtbot, window, settings: ViewSettings):
    window.result_view.view_settings = settings
    first = window.model.index(0, 0)
    window.grid.setCurrentIndex(first)
    window.open_result(first)
    view = window.result_view
    qtbot.waitUntil(lambda: view.grounding is not None, timeout=TIMEOUT)
    return view


def test_a_box_below_the_calibrated_confidence_is_only_a_faint_guess(
    qtbot, make_window, indexed: Path
) -> None:
    window = searched(qtbot, make_window)
    sure = opened_first(qtbot, window, ViewSettings(box_confidence=-1e9))
    assert sure.canvas.sure and sure.canvas.label == "a red square"  # no raw score on the photo
    assert "Not sure" not in sure.box_line.text()
    window.close_result()
    unsure = opened_first(qtbot, window, ViewSettings(box_confidence=1e9))
    assert not unsure.canvas.sure
    assert "Not sure where “a red square” is" in unsure.box_line.text()
    unsure.canvas.grab()  # the faint guess paints


def test_the_best_region_is_drawn_only_where_measured_to_help(qtbot, make_window, indexed: Path) -> None:
    window = searched(qtbot, make_window)
    window.result_view.view_settings = ViewSettings(best_region=False)
    window.open_result(window.model.index(0, 0))
    assert window.result_view.canvas.region is None
    window.close_result()
    # Measured to help, and no sure box yet: the coarse region shows while grounding runs.
    window.result_view.view_settings = ViewSettings(best_region=True, box_confidence=1e9)
    window.open_result(window.model.index(1, 0))
    assert window.result_view.canvas.region is not None
    # Not on a weaker match: the thing may not be in the photo at all.
    window.close_result()
    weaker = replace(window.model.row_at(2), group=WEAKER_GROUP)
    window.result_view.show_row(weaker, "a red square")
    assert window.result_view.canvas.region is None


def test_keys_step_through_results_and_escape_closes(qtbot, make_window, indexed: Path, opened) -> None:
    window = searched(qtbot, make_window)
    window.grid.setCurrentIndex(window.model.index(0, 0))
    window.open_result(window.model.index(0, 0))
    view = window.result_view
    second = window.model.data(window.model.index(1, 0), PathRole)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.row.path == second and window.grid.currentIndex().row() == 1
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert window.grid.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_Left)  # at the first result: stays
    assert window.grid.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert opened == [QUrl.fromLocalFile(view.row.path)]
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()


def test_show_in_folder_and_copy_path(qtbot, make_window, indexed: Path, opened) -> None:
    window = searched(qtbot, make_window)
    window.open_result(window.model.index(2, 0))
    view = window.result_view
    view.folder_button.click()
    assert opened == [QUrl.fromLocalFile(os.path.dirname(view.row.path))]
    view.copy_button.click()
    assert QGuiApplication.clipboard().text() == view.row.path


def test_an_image_query_has_nothing_to_ground(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.search.set_image(str(indexed / "album" / "a001.jpg"))
    window.open_result(window.model.index(0, 0))
    view = window.result_view
    qtbot.waitUntil(lambda: view.canvas.image is not None, timeout=TIMEOUT)
    assert view.grounding is None and "needs words" in view.box_line.text()


def test_a_photo_gone_since_indexing_is_explained(qtbot, make_window, indexed: Path) -> None:
    window = searched(qtbot, make_window)
    path = window.model.data(window.model.index(0, 0), PathRole)
    os.remove(path)
    window.open_result(window.model.index(0, 0))
    view = window.result_view
    qtbot.waitUntil(lambda: "cannot read the file" in view.canvas.message, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "cannot read the file" in view.box_line.text(), timeout=TIMEOUT)
    assert "Traceback" not in view.box_line.text()
