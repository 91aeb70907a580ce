"""From a result: never an empty screen, find similar, multi-select, failures in the window, the keyboard,
preferences per library."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QMessageBox

from app.gui.main_window import MainWindow
from app.gui.results_model import PHOTO_MIME, PathRole, Role
from app.gui.search_engine import WEAKER_GROUP
from app.gui.settings import library_prefs, prefs_path
from app.parts import CHUNK
from core.part_ranking import PARTS_HEAD

TIMEOUT = 10_000


def ready(qtbot, window: MainWindow) -> MainWindow:
    qtbot.waitUntil(lambda: window.engine.state is not None and window.model.rowCount() > 0, timeout=TIMEOUT)
    return window


def searched(qtbot, window: MainWindow, text: str = "a red square") -> MainWindow:
    ready(qtbot, window)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, text)
    return window


def names(window: MainWindow) -> list[str]:
    rows = [window.model.row_at(i) for i in range(window.model.rowCount())]
    return [os.path.basename(row.path) for row in rows if row is not None]


# ----- 1. never an empty screen ----------------------------------------------------------------------
def test_a_query_with_no_clear_match_shows_the_closest_photos_below_a_divider(
    qtbot, make_window: Callable[..., MainWindow], runtime, indexed: Path
) -> None:
    # A cutoff no photo of this small library passes (the world's reference distribution, for a
    # library too small to judge its own scores): before, the grid stayed empty.
    runtime.manifest["search_settings"] = {"cutoff": {"z": 50.0, "null_median": 0.0, "null_scale": 0.01}}
    window = searched(qtbot, make_window(), "a dog")
    outcome_text = window.summary.text()
    assert window.model.matched == 0
    assert window.model.is_heading(0)
    assert window.model.data(window.model.index(0, 0), Qt.ItemDataRole.DisplayRole) == WEAKER_GROUP
    assert len(names(window)) == 12  # every photo, best first, under the divider
    assert "closest ones are below" in outcome_text and "slider" not in outcome_text


# ----- 4. from a result ------------------------------------------------------------------------------
def test_find_similar_from_the_result_view_uses_the_stored_vectors(
    qtbot, make_window, runtime, indexed: Path
) -> None:
    window = searched(qtbot, make_window())
    first = window.model.row_at(0)
    window.open_result(window.model.index(0, 0))
    qtbot.waitUntil(lambda: window.result_view.grounding is not None, timeout=TIMEOUT)
    window.close_result()
    encodes = runtime._image_encodes
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.result_view.row = first
        window.result_view.similar_button.click()
    outcome = blocker.args[0]
    assert outcome.request.similar_to == first.photo_id and outcome.request.text == ""
    # The example's vectors come from the index; only its parts and the first photos' parts are encoded,
    # close up (app.parts): one batch for the example, then the head in chunks.
    head = min(PARTS_HEAD, window.model.rowCount())
    assert runtime._image_encodes == encodes + 1 + -(-head // CHUNK)
    shown = names(window)
    assert shown and os.path.basename(first.path) not in shown  # the example is not its own result
    assert "Like" in window.search.example.text() and "Like" in window.summary.text()


def test_find_similar_from_the_context_menu_and_by_dragging_onto_the_search_box(
    qtbot, make_window, indexed: Path
) -> None:
    window = searched(qtbot, make_window())
    third = window.model.row_at(2)
    window.grid.setCurrentIndex(window.model.index(2, 0))
    menu = window.result_menu()
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert set(actions) == {
        *("Find similar", "Teach a name…", "Open", "Show in folder", "Copy path"),
        *("Mark as right", "Mark as wrong", "Remove the mark"),  # a search's results: marks move it
    }
    assert not actions["Remove the mark"].isEnabled()  # nothing marked yet
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        actions["Find similar"].trigger()
    assert blocker.args[0].request.similar_to == third.photo_id

    # A thumbnail dragged from the grid onto the search box.
    fifth = window.model.row_at(4)
    mime = window.model.mimeData([window.model.index(4, 0)])
    assert mime.hasFormat(PHOTO_MIME) and mime.urls()[0].toLocalFile() == fifth.path
    at = window.search.mapTo(window, window.search.rect().center())
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        drop(window, mime, at)
    assert blocker.args[0].request.similar_to == fifth.photo_id
    # ... but dropped back on the grid it does nothing.
    grid_at = window.grid.mapTo(window, window.grid.rect().center())
    assert not drop(window, window.model.mimeData([window.model.index(1, 0)]), grid_at).isAccepted()


def photo_rows(window: MainWindow) -> list[int]:
    """The photo ids shown, in order."""
    rows = [window.model.row_at(i) for i in range(window.model.rowCount())]
    return [row.photo_id for row in rows if row is not None]


def test_marking_results_right_and_wrong_moves_the_query_at_once(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path
) -> None:
    """The mark-and-refresh flow: a photo marked right in the preview goes out with the next search at
    once (no typing), comes up in the ranking, stays open, and wears its mark in the grid; a photo
    marked wrong from the context menu goes out too; the chip forgets the marks; new words do as well."""
    window = searched(qtbot, make_window())
    before = photo_rows(window)
    third = window.model.row_at(len(before) - 1)
    window.open_result(window.model.index(len(before) - 1, 0))
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        qtbot.keyClick(window.result_view, Qt.Key.Key_Plus)
    outcome = blocker.args[0]
    assert outcome.request.right == (third.photo_id,) and outcome.request.wrong == ()
    assert outcome.request.text == "a red square"
    after = photo_rows(window)
    # Toward the marked photo. (The fake model's photos lie on one line of colours, so their order
    # need not change; how far marks move a ranking is measured in tests/app/test_similar.py.)
    assert window.model.row_at(after.index(third.photo_id)).score > third.score
    assert window.result_view.row.photo_id == third.photo_id  # the marked photo stays open
    assert window.result_view.right_button.isChecked() and not window.result_view.wrong_button.isChecked()
    at = window.model.index(after.index(third.photo_id), 0)
    assert window.model.data(at, Role.Mark) is True
    assert window.search.marks_chip.isVisible() and "✓ 1" in window.search.marks_chip.text()

    last = window.model.row_at(0)
    window.grid.setCurrentIndex(window.model.index(0, 0))
    actions = {a.text(): a for a in window.result_menu().actions() if a.text()}
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        actions["Mark as wrong"].trigger()
    assert blocker.args[0].request.wrong == (last.photo_id,)
    assert blocker.args[0].request.right == (third.photo_id,)  # the first mark holds
    assert last.photo_id not in photo_rows(window)  # a photo marked wrong is not shown again

    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.search.marks_chip.click()  # forget the marks: the plain query again
    assert blocker.args[0].request.right == () == blocker.args[0].request.wrong
    assert photo_rows(window) == before and not window.search.marks_chip.isVisible()

    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.search.set_marks([third.photo_id], True)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        qtbot.keyClicks(window.search.query, " on grass")  # new words: the marks were for the old ones
    assert blocker.args[0].request.right == () and not window.search.marks_chip.isVisible()


def test_find_similar_says_what_made_each_photo_match_and_marks_move_it(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path
) -> None:
    window = searched(qtbot, make_window())
    first = window.model.row_at(0)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.find_similar(first)
    shown = [window.model.row_at(i) for i in range(window.model.rowCount())]
    rows = [row for row in shown if row is not None]
    assert rows and all(row.reason is not None for row in rows)  # photo, objects and captions fused
    assert not window.refine.strictness.isEnabled()  # no cutoff for a photo query: nothing to move
    window.open_result(window.model.index(window.model.rowCount() - 1, 0))
    assert window.result_view.box_line.text().startswith("Matched on ")
    assert os.path.basename(first.path) in window.result_view.box_line.text()
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        window.result_view.wrong_button.click()
    request = blocker.args[0].request
    assert request.similar_to == first.photo_id and request.wrong == (rows[-1].photo_id,)
    assert rows[-1].photo_id not in photo_rows(window)
    assert "Like" in window.search.example.text()  # still more like the same photo
    window.search.query.setText("a red square")  # words with the photo: a cutoff again
    assert window.refine.strictness.isEnabled()


def drop(window: MainWindow, mime: QMimeData, at: QPoint) -> QDropEvent:
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    window.event(QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    event.ignore()
    window.event(event)
    return event


def test_several_selected_photos_copy_every_path(qtbot, make_window, indexed: Path) -> None:
    window = searched(qtbot, make_window())
    selection = window.grid.selectionModel()
    for row in (0, 3, 5):
        selection.select(window.model.index(row, 0), selection.SelectionFlag.Select)
    menu = window.result_menu()
    texts = [a.text() for a in menu.actions() if a.text()]
    assert "Copy 3 paths" in texts and "Open 3 photos" in texts
    next(a for a in menu.actions() if a.text() == "Copy 3 paths").trigger()
    expected = [window.model.data(window.model.index(r, 0), PathRole) for r in (0, 3, 5)]
    assert QGuiApplication.clipboard().text().splitlines() == expected


def test_open_and_show_in_folder_report_a_failure_in_the_window(qtbot, make_window, indexed: Path) -> None:
    window = searched(qtbot, make_window())
    path = window.model.row_at(0).path
    os.remove(path)
    window.grid.setCurrentIndex(window.model.index(0, 0))
    window.open_selected()
    assert "no longer on disk" in window.statusBar().currentMessage()
    assert os.path.basename(path) in window.statusBar().currentMessage()
    # The result view's buttons report there too.
    window.statusBar().clearMessage()
    window.result_view.row = window.model.row_at(0)
    window.result_view.open_photo()
    assert "no longer on disk" in window.statusBar().currentMessage()


# ----- 5. keyboard -----------------------------------------------------------------------------------
def test_down_from_the_search_box_goes_to_the_results_and_space_previews(
    qtbot, make_window, indexed: Path
) -> None:
    window = searched(qtbot, make_window())
    # On a real X server focus arrives asynchronously, once the window is active.
    with qtbot.waitActive(window, timeout=TIMEOUT):
        window.activateWindow()
    window.search.query.setFocus()
    qtbot.waitUntil(window.search.query.hasFocus, timeout=TIMEOUT)
    qtbot.keyClick(window.search.query, Qt.Key.Key_Down)
    qtbot.waitUntil(
        lambda: window.grid.hasFocus() or QGuiApplication.focusObject() is window.grid, timeout=TIMEOUT
    )
    assert window.grid.currentIndex().row() == 0
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    assert window.result_view.isVisible() and window.result_view.row == window.model.row_at(0)
    qtbot.keyClick(window.result_view, Qt.Key.Key_Escape)
    # Enter searches at once and goes on to the new results' first photo when they come.
    window.search.query.setFocus()
    qtbot.keyClicks(window.search.query, " -blue")
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClick(window.search.query, Qt.Key.Key_Return)
    assert window.grid.currentIndex().row() == 0 and window.grid.currentIndex().isValid()


def test_help_lists_the_keyboard_shortcuts(qtbot, make_window, indexed: Path) -> None:
    window = make_window()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if "Keyboard" in a.text()).trigger()
    box = window.findChild(QMessageBox, "shortcutsBox")
    assert box is not None and "Space" in box.text() and "Preview" in box.text()


# ----- 8. preferences per library --------------------------------------------------------------------
def test_preferences_belong_to_the_library(tmp_path: Path) -> None:
    one, two = tmp_path / "one" / "library.db", tmp_path / "two" / "library.db"
    first = library_prefs(one)
    first.demo_offered = True
    first.bundle = tmp_path / "bundle-a"
    first.sync()
    assert prefs_path(one).is_file()
    assert library_prefs(one).demo_offered and library_prefs(one).bundle == tmp_path / "bundle-a"
    other = library_prefs(two)
    assert not other.demo_offered and other.bundle is None


def test_the_last_query_is_restored_on_start_when_asked(qtbot, make_window, prefs, indexed: Path) -> None:
    window = searched(qtbot, make_window(), "a blue square")
    assert not window.restore_action.isChecked()
    window.restore_action.setChecked(True)
    window.close()
    again = make_window()
    assert again.search.query.text() == "a blue square"
    with qtbot.waitSignal(again.engine.results, timeout=TIMEOUT) as blocker:
        pass
    assert blocker.args[0].request.text == "a blue square"
    prefs.restore_query = False
    assert make_window().search.query.text() == ""


# ----- 7. captions -----------------------------------------------------------------------------------
def test_a_caption_edited_in_the_result_view_is_searchable_at_once(
    qtbot, make_window, runtime, indexed: Path
) -> None:
    from app.library.captions import parse_xmp_description

    window = searched(qtbot, make_window(), "a red square")
    target = window.model.row_at(5)
    window.open_result(window.model.index(5, 0))
    view = window.result_view
    qtbot.waitUntil(lambda: view.grounding is not None, timeout=TIMEOUT)
    assert view.caption.text() == ""
    encodes = runtime._image_encodes
    qtbot.keyClicks(view.caption, "grandma's purple kite")
    view.caption_xmp.setChecked(True)
    with qtbot.waitSignal(window.indexer.caption_saved, timeout=TIMEOUT):
        view.save_caption_button.click()
    assert runtime._image_encodes == encodes  # the photo was not encoded again
    sidecar = Path(os.path.splitext(target.path)[0] + ".xmp")
    assert parse_xmp_description(sidecar.read_bytes()) == "grandma's purple kite"
    assert "searchable now" in window.statusBar().currentMessage()
    window.close_result()
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.search.query.setText("grandma's purple kite")
    assert window.model.row_at(0).photo_id == target.photo_id  # found by its caption
    # Shown again when the photo is opened.
    window.open_result(window.model.index(0, 0))
    qtbot.waitUntil(lambda: view.caption.text() == "grandma's purple kite", timeout=TIMEOUT)


# ----- 2. the measured text/image balance ------------------------------------------------------------
def test_the_text_image_balance_starts_at_the_bundles_measured_value(
    qtbot, make_window, runtime, prefs, indexed: Path
) -> None:
    runtime.manifest["search_settings"] = {"view": {"image_weight": 0.3, "tuned": True}}
    window = ready(qtbot, make_window())
    assert window.refine.weight.value() == 30 and window.refine.image_weight == 0.3
    window.refine.weight.setValue(60)  # the person's own choice wins from now on
    window.close()
    assert ready(qtbot, make_window()).refine.weight.value() == 60
