"""Taught names in the window: the Things panel (list, search, rename, forget) and teaching a name from
the preview (the proposed box, the `multigrain teach` command line, the child process and its outcome).

The teaching child is a tiny Python script standing in for `multigrain teach` (it records its argv,
prints progress and exits as told), so these tests are quick and never load torch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from photo_files import write_jpeg
from PySide6.QtWidgets import QMessageBox

from app.gui.teaching import TeachPhoto, photo_arg, refusal, teach_command
from app.library.db import open_db
from app.personal.store import Label, LearnedName, find_name, labels_of, list_names, save_taught
from app.personal.teach import parse_photo

TIMEOUT = 10_000


def _teach_rows(db_path: Path, photo: str = "/photos/a.jpg") -> None:
    db = open_db(db_path)
    learned = LearnedName("m-fp32-1", "weights-sha", "token", np.full(8, 0.5, np.float32), 1, 1.0)
    save_taught(db, "Rex", "dog", [Label("h1", photo, (0.1, 0.2, 0.3, 0.4), False)], learned)
    two = [Label("h2", "/photos/b.jpg", (0, 0, 1, 1), True), Label("h3", "/photos/c.jpg", (0, 0, 1, 1), True)]
    save_taught(db, "Bella", "cat", two, learned)
    db.close()


def _shown(window) -> list[tuple[str, str, str]]:
    tree = window.things.tree
    return [tuple(tree.topLevelItem(i).text(c) for c in range(3)) for i in range(tree.topLevelItemCount())]


# ----- the Things panel ------------------------------------------------------------------------------
def test_the_things_panel_lists_searches_renames_and_forgets(qtbot, make_window, indexed, db_path) -> None:
    _teach_rows(db_path)
    window = make_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    assert _shown(window) == [("Bella", "cat", "2"), ("Rex", "dog", "1")]
    assert "no look yet" in window.things.tree.topLevelItem(1).toolTip(0)  # stored without one
    assert window.things.hint.isHidden() and not window.things.rename_button.isEnabled()
    assert window.library.tabs.tabText(window.things_tab) == "Things (2)"

    window.things.select("Rex")
    window.things.search_button.click()
    assert window.search.query.text() == "Rex"

    dialog = window.things.ask_rename()
    dialog.setTextValue("Max")
    dialog.accept()
    qtbot.waitUntil(lambda: [r[0] for r in _shown(window)] == ["Bella", "Max"], timeout=TIMEOUT)
    assert "Renamed Rex to Max" in window.statusBar().currentMessage()
    assert window.things.selected_name() == "Max"
    db = open_db(db_path, writable=False)
    assert find_name(db, "Rex") is None
    assert find_name(db, "Max").slot == 0  # the slot, and so what it learned, is kept
    db.close()

    box = window.things.ask_forget()
    assert "Forget Max?" in box.text()
    box.button(QMessageBox.StandardButton.No).click()  # asking first: No keeps it
    qtbot.wait(50)
    assert [r[0] for r in _shown(window)] == ["Bella", "Max"]
    window.things.select("Max")
    window.things.ask_forget().button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: [r[0] for r in _shown(window)] == ["Bella"], timeout=TIMEOUT)
    assert "Forgot Max" in window.statusBar().currentMessage()
    db = open_db(db_path, writable=False)
    assert [r.name for r in list_names(db)] == ["Bella"]
    db.close()


def test_a_rename_to_a_taken_name_is_refused_with_a_sentence(qtbot, make_window, indexed, db_path) -> None:
    _teach_rows(db_path)
    window = make_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    window.things.rename("Rex", "bella")
    qtbot.waitUntil(lambda: "Could not rename Rex" in window.statusBar().currentMessage(), timeout=TIMEOUT)
    assert "already has the name 'Bella'" in window.statusBar().currentMessage()
    assert [r[0] for r in _shown(window)] == ["Bella", "Rex"]


def test_an_empty_library_says_how_to_teach(qtbot, make_window, indexed) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: not window.things.hint.isHidden(), timeout=TIMEOUT)
    assert "Teach a name" in window.things.hint.text() and not _shown(window)


# ----- the command line and the refusals ------------------------------------------------------------
def test_the_teach_command_line_holds_each_photo_with_its_box(tmp_path: Path) -> None:
    photos = [
        TeachPhoto("/p/my photos/a:b.jpg", (0.1, 0.2, 0.3, 0.4)),
        TeachPhoto("/p/b.jpg", (0.5, 0.5, 0.6, 0.5)),
    ]
    argv = teach_command("Rex", "dog", photos, tmp_path / "l.db", tmp_path / "bundle", program=["prog"])
    assert argv == [
        "prog",
        "teach",
        "Rex",
        "--kind",
        "dog",
        "/p/my photos/a:b.jpg:0.1000,0.2000,0.3000,0.4000",
        "/p/b.jpg:0.5000,0.5000,0.5000,0.5000",  # a box past the edge is cut at the edge
        "--db",
        str(tmp_path / "l.db"),
        "--bundle",
        str(tmp_path / "bundle"),
    ]
    # What the CLI reads back is the photo and the box (a colon in the file name included).
    parsed = parse_photo(photo_arg(photos[0]))
    assert parsed.path == "/p/my photos/a:b.jpg" and parsed.box == (0.1, 0.2, 0.3, 0.4)
    assert teach_command("Rex", "dog", photos, tmp_path, tmp_path)[:3] == [sys.executable, "-m", "cli.main"]


def test_a_bundle_that_cannot_learn_names_is_refused_with_a_sentence(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    able = {
        "format_version": 2,
        "names": {"first_id": 1},
        "graphs": {"text": {"inputs": ["input_ids", "attention_mask", "name_embeddings"]}},
        "source": {"checkpoint_path": str(checkpoint), "weights_sha256": "abc"},
    }
    old = {**able, "format_version": 1, "names": None, "graphs": {"text": {"inputs": ["input_ids"]}}}
    assert "too old to learn names" in refusal(old, "m-1", True)
    assert "does not record the checkpoint" in refusal({**able, "source": {}}, "m-1", True)
    assert "not here any more" in refusal(able, "m-1", True)
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    assert "engine extra" in refusal(able, "m-1", torch_installed=False)
    assert refusal(able, "m-1", torch_installed=True) is None


def test_teaching_from_the_preview_is_refused_for_a_bundle_that_cannot(qtbot, make_window, indexed) -> None:
    window = make_window()  # the fake model's "bundle" is no bundle at all
    row = _open_first(qtbot, window)
    window.result_view.teach_button.click()
    assert window.teach_dialog is None
    box = window.findChild(QMessageBox, "errorBox")
    assert box is not None and "The model cannot be read" in box.text()
    del row


# ----- teaching from the preview ---------------------------------------------------------------------
FAKE_TEACH = """
import json, signal, sys, time
# Ctrl+C as a fresh `python -m cli teach` has it, even if the test process left SIGINT ignored (a child
# inherits an ignored signal, and Python then keeps it ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
how = sys.argv[2]
try:  # from before the first line: the window may interrupt as soon as it reads it
    with open(sys.argv[1], "w") as f:
        json.dump(sys.argv[2:], f)
    print("loading the model", flush=True)
    if how == "slow":
        time.sleep(30)
except KeyboardInterrupt:
    open(sys.argv[1] + ".interrupted", "w").close()
    print("cancelled: nothing was taught or stored", flush=True)
    sys.exit(130)
if how == "fail":
    print("multigrain teach: the model bundle m-1 is too old to learn names", flush=True)
    sys.exit(2)
for i in range(1, 3):
    print(f"step {i}/2", flush=True)
"""


@pytest.fixture
def teach_window(qtbot, make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A window whose `multigrain teach` is the fake script, run as ``script ARGV_FILE HOW teach ...``."""
    script = tmp_path / "fake_teach.py"
    script.write_text(FAKE_TEACH)
    monkeypatch.setattr("app.gui.main_window.bundle_refusal", lambda bundle: None)

    def make(how: str = "ok"):
        argv_file = tmp_path / f"argv-{how}.json"
        window = make_window(teach_program=[sys.executable, str(script), str(argv_file), how])
        return window, argv_file

    return make


def _open_first(qtbot, window):
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "a red square")
    first = window.model.index(0, 0)
    window.grid.setCurrentIndex(first)
    window.grid.activated.emit(first)
    return window.result_view.row


def _ready_dialog(qtbot, window, kind: str = "red square"):
    window.result_view.teach_button.click()
    dialog = window.teach_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.canvas.image is not None, timeout=TIMEOUT)
    dialog.name.setCurrentText("Rex")
    dialog.kind.setText(kind)
    dialog.find_button.click()
    qtbot.waitUntil(lambda: dialog.box is not None, timeout=TIMEOUT)
    return dialog


def test_the_preview_opens_the_dialog_with_the_proposed_box(qtbot, teach_window, indexed, db_path) -> None:
    from app.gui.result_view import ground

    window, _ = teach_window()
    row = _open_first(qtbot, window)
    dialog = _ready_dialog(qtbot, window)
    assert dialog.path == row.path
    # The proposal is where the window's model finds the kind word in the photo.
    expected = ground(window.holder, row.path, "red square").fraction
    assert dialog.box == pytest.approx(expected, abs=1e-4)
    assert "green box" in dialog.note.text()
    dialog.canvas.box = (0.2, 0.2, 0.3, 0.3)  # as a drag would leave it
    dialog.canvas.box_changed.emit()
    assert "Your box is used" in dialog.note.text()
    dialog.kind.editingFinished.emit()  # leaving the field with the same word keeps the drawn box
    qtbot.wait(200)
    assert dialog.box == (0.2, 0.2, 0.3, 0.3)
    dialog.kind.setText("square")
    dialog.kind.editingFinished.emit()  # another word: another proposal
    qtbot.waitUntil(lambda: dialog.box != (0.2, 0.2, 0.3, 0.3), timeout=TIMEOUT)


def test_teaching_runs_the_child_and_reloads_the_names(qtbot, teach_window, indexed, db_path) -> None:
    rex = write_jpeg(indexed.parent / "rex.jpg", (200, 120, 40))
    _teach_rows(db_path, photo=rex)  # Rex was taught from another photo before
    window, argv_file = teach_window()
    row = _open_first(qtbot, window)
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    window.result_view.teach_button.click()
    dialog = window.teach_dialog
    assert [dialog.name.itemText(i) for i in range(dialog.name.count())] == ["Bella", "Rex"]
    dialog.name.setCurrentText("rex")  # a known name, in any case: its kind comes with it
    assert dialog.kind.text() == "dog"
    assert "Rex was taught from 1 photo: teaching it again adds this photo" in dialog.about_name.text()
    qtbot.waitUntil(lambda: dialog.box is not None, timeout=TIMEOUT)  # proposed for "dog"
    dialog.name.setCurrentText("Rex")
    dialog.kind.setText("red square")
    dialog.canvas.box = (0.25, 0.1, 0.5, 0.6)
    shown: list[int] = []
    dialog.progress.valueChanged.connect(shown.append)
    # The engine's ready: search read the names again after the child stored them.
    with (
        qtbot.waitSignal(window.engine.ready, timeout=TIMEOUT),
        qtbot.waitSignal(dialog.taught, timeout=TIMEOUT) as taught,
    ):
        dialog.teach_button.click()
    assert taught.args[0] == "Rex" and 500 in shown  # the child's "step 1/2" moved the bar
    argv = json.loads(argv_file.read_text())
    earlier = f"{rex}:0.1000,0.2000,0.3000,0.4000"
    assert argv[1:] == [
        "teach",
        "Rex",
        "--kind",
        "red square",
        earlier,  # teaching Rex again: the photo it was taught from goes too
        f"{row.path}:0.2500,0.1000,0.5000,0.6000",
        "--db",
        str(db_path),
        "--bundle",
        str(window.holder.bundle),
    ]
    assert "Taught Rex from 2 photos" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.teach_dialog is None, timeout=TIMEOUT)  # closed and deleted


def test_a_failed_teaching_shows_its_sentence_and_keeps_the_dialog(qtbot, teach_window, indexed) -> None:
    window, _ = teach_window("fail")
    _open_first(qtbot, window)
    dialog = _ready_dialog(qtbot, window)
    dialog.teach_button.click()
    qtbot.waitUntil(lambda: dialog.process is not None and not dialog.running, timeout=TIMEOUT)
    assert dialog.note.text() == "the model bundle m-1 is too old to learn names"
    assert dialog.isVisible() and dialog.teach_button.isEnabled() and not dialog.running


def test_cancel_stops_the_child(qtbot, teach_window, indexed) -> None:
    window, _ = teach_window("slow")
    _open_first(qtbot, window)
    dialog = _ready_dialog(qtbot, window)
    dialog.teach_button.click()
    qtbot.waitUntil(lambda: dialog.running and "loading the model" in dialog.note.text(), timeout=TIMEOUT)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)
    assert dialog.note.text() == "Cancelled: nothing was taught or stored."
    assert dialog.isVisible() and dialog.teach_button.isEnabled()


def test_closing_the_window_while_teaching_interrupts_the_child(qtbot, teach_window, indexed) -> None:
    window, argv_file = teach_window("slow")
    _open_first(qtbot, window)
    dialog = _ready_dialog(qtbot, window)
    dialog.teach_button.click()
    qtbot.waitUntil(lambda: dialog.running and "loading the model" in dialog.note.text(), timeout=TIMEOUT)
    # The child itself has started (the dialog says "loading" before the child's Python is up, and a
    # signal before that would end it without a word, as it would a real `multigrain teach`).
    qtbot.waitUntil(argv_file.exists, timeout=TIMEOUT)
    window.close()
    # Interrupted, not killed: `multigrain teach` stops its own torch child and stores nothing.
    assert Path(f"{argv_file}.interrupted").is_file()


def test_the_dialog_asks_for_a_name_a_kind_and_a_box(qtbot, teach_window, indexed) -> None:
    window, argv_file = teach_window()
    _open_first(qtbot, window)
    window.result_view.teach_button.click()
    dialog = window.teach_dialog
    dialog.teach_button.click()
    assert "Give the name" in dialog.note.text()
    dialog.name.setCurrentText("Rex")
    dialog.kind.setText("dog")
    dialog._token += 1  # no proposal arrives: as if the model found nothing
    dialog.canvas.box = None
    dialog.teach_button.click()
    assert "Draw the box" in dialog.note.text() and not argv_file.exists()


# ----- for real: the test-tiny bundle and `multigrain teach` with torch in the child -----------------
def test_teaching_for_real_stores_the_name_for_search(
    qtbot, make_window, tiny_bundle: Path, db_path: Path, tmp_path: Path
) -> None:
    from gui_fakes import index_folder

    from app.gui.bundles import ModelHolder
    from app.personal.usage import names_at

    folder = tmp_path / "six"
    folder.mkdir()
    for i in range(5):
        write_jpeg(folder / f"p{i}.jpg", (30 * i, 90, 160), size=(64, 48))
    write_jpeg(folder / "rex.jpg", (200, 120, 40), size=(64, 48))
    holder = ModelHolder(tiny_bundle)
    index_folder(db_path, holder.get(), [folder])
    window = make_window(holder=holder)

    def rex_row():  # the browsed library's rex.jpg, taught from as the preview's button would
        rows = (window.model.row_at(i) for i in range(window.model.rowCount()))
        return next((r for r in rows if r is not None and os.path.basename(r.path) == "rex.jpg"), None)

    qtbot.waitUntil(lambda: rex_row() is not None, timeout=60_000)
    row = rex_row()
    dialog = window.open_teach(row)
    assert dialog is not None  # this bundle records its checkpoint: it can learn names
    qtbot.waitUntil(lambda: dialog.canvas.image is not None, timeout=60_000)
    dialog.name.setCurrentText("Rex")
    dialog.kind.setText("dog")
    dialog.find_button.click()
    qtbot.waitUntil(lambda: dialog.box is not None, timeout=60_000)
    with qtbot.waitSignal(dialog.taught, timeout=300_000):
        dialog.teach_button.click()
    qtbot.waitUntil(lambda: [r[0] for r in _shown(window)] == ["Rex"], timeout=60_000)
    assert window.library.tabs.currentIndex() == window.things_tab
    names = names_at(db_path, holder.get())  # what search and grounding read for this bundle
    assert names is not None and set(names.slots) == {"Rex"} and set(names.looks) == {"Rex"}
    assert "no look" not in window.things.tree.topLevelItem(0).toolTip(0)  # teaching made its look
    window.things.select("Rex")
    with qtbot.waitSignal(window.engine.results, timeout=60_000) as searched:
        window.things.search_button.click()
    assert searched.args[0].request.text == "Rex" and window.model.rowCount() > 0


def test_dragging_on_the_photo_draws_the_box(qtbot) -> None:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QColor, QImage, QMouseEvent

    from app.gui.teach_dialog import BoxCanvas

    canvas = BoxCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.image = QImage(400, 300, QImage.Format.Format_RGB32)
    canvas.image.fill(QColor("gray"))

    def mouse(kind: QEvent.Type, x: float, y: float) -> None:
        buttons = (
            Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
        )
        event = QMouseEvent(
            kind,
            QPointF(x, y),
            QPointF(x, y),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        {
            QEvent.Type.MouseButtonPress: canvas.mousePressEvent,
            QEvent.Type.MouseMove: canvas.mouseMoveEvent,
            QEvent.Type.MouseButtonRelease: canvas.mouseReleaseEvent,
        }[kind](event)

    with qtbot.waitSignal(canvas.box_changed, timeout=1000):
        mouse(QEvent.Type.MouseButtonPress, 300, 240)  # dragged up and to the left: the same box
        mouse(QEvent.Type.MouseMove, 200, 100)
        mouse(QEvent.Type.MouseButtonRelease, 100, 60)
    assert canvas.box == pytest.approx((0.25, 0.2, 0.5, 0.6))
    mouse(QEvent.Type.MouseButtonPress, 10, 10)  # a click is not a box: the box stays
    mouse(QEvent.Type.MouseButtonRelease, 11, 11)
    assert canvas.box == pytest.approx((0.25, 0.2, 0.5, 0.6))
    # The box spans x 100-300, y 60-240 on the 400 x 300 canvas.
    mouse(QEvent.Type.MouseButtonPress, 200, 150)  # inside: the whole box moves
    mouse(QEvent.Type.MouseButtonRelease, 240, 120)
    assert canvas.box == pytest.approx((0.35, 0.1, 0.5, 0.6))  # x 140-340, y 30-210
    mouse(QEvent.Type.MouseButtonPress, 338, 120)  # near the right edge: only that edge follows
    mouse(QEvent.Type.MouseButtonRelease, 298, 200)
    assert canvas.box == pytest.approx((0.35, 0.1, 0.4, 0.6))  # x 140-300
    mouse(QEvent.Type.MouseButtonPress, 143, 33)  # near the top-left corner: both of its edges
    mouse(QEvent.Type.MouseButtonRelease, 83, 63)
    assert canvas.box == pytest.approx((0.2, 0.2, 0.55, 0.5))  # x 80-300, y 60-210
    mouse(QEvent.Type.MouseButtonPress, 200, 130)  # a click inside keeps the box where it is
    mouse(QEvent.Type.MouseButtonRelease, 200, 130)
    assert canvas.box == pytest.approx((0.2, 0.2, 0.55, 0.5))
    mouse(QEvent.Type.MouseButtonPress, 20, 280)  # outside it: a new box
    mouse(QEvent.Type.MouseButtonRelease, 60, 240)
    assert canvas.box == pytest.approx((0.05, 0.8, 0.1, 0.13333), abs=1e-4)


def test_the_arrow_keys_move_the_box_and_shift_resizes_it(qtbot) -> None:
    from PySide6.QtCore import Qt

    from app.gui.teach_dialog import NUDGE, BoxCanvas

    canvas = BoxCanvas()
    qtbot.addWidget(canvas)
    canvas.box = (0.5, 0.5, 0.2, 0.2)
    with qtbot.waitSignal(canvas.box_changed, timeout=1000):
        qtbot.keyClick(canvas, Qt.Key.Key_Left)
    assert canvas.box == pytest.approx((0.5 - NUDGE, 0.5, 0.2, 0.2))
    qtbot.keyClick(canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert canvas.box == pytest.approx((0.5 - NUDGE, 0.5, 0.2, 0.2 + NUDGE))


def test_the_grids_menu_teaches_from_one_selected_photo(qtbot, teach_window, indexed) -> None:
    window, _ = teach_window()
    row = _open_first(qtbot, window)
    window.close_result()
    window.grid.setCurrentIndex(window.model.index(0, 0))
    menu = window.result_menu()
    teach = next(a for a in menu.actions() if a.text() == "Teach a name…")
    assert teach.isEnabled()
    teach.trigger()
    assert window.teach_dialog is not None and window.teach_dialog.path == row.path
    window.teach_dialog.cancel_button.click()  # nothing running: Cancel closes the dialog
    qtbot.waitUntil(lambda: window.teach_dialog is None, timeout=TIMEOUT)
    window.grid.selectAll()
    menu = window.result_menu()
    assert not next(
        a for a in menu.actions() if a.text() == "Teach a name…"
    ).isEnabled()  # one photo at a time


# ----- a name's photos, and removing one --------------------------------------------------------------
def _photo_rows(window, name: str) -> list[tuple[str, str]]:
    item = window.things._item_of(name)
    return [(item.child(i).text(0), item.child(i).text(1)) for i in range(item.childCount())]


def test_each_name_shows_its_photos_and_how_their_boxes_came(qtbot, make_window, indexed, db_path) -> None:
    rex = write_jpeg(indexed.parent / "rex.jpg", (200, 120, 40))
    _teach_rows(db_path, photo=rex)
    window = make_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    assert _photo_rows(window, "Rex") == [("rex.jpg", "box drawn")]
    assert _photo_rows(window, "Bella") == [("b.jpg", "file missing"), ("c.jpg", "file missing")]
    assert not window.things.remove_button.isEnabled()
    window.things.select("Bella")  # a name: its actions, but no photo to remove
    assert window.things.rename_button.isEnabled() and not window.things.remove_button.isEnabled()
    window.things.select("Bella", photo="/photos/c.jpg")
    assert window.things.selected_name() == "Bella" and window.things.selected_photo() == "/photos/c.jpg"
    assert window.things.remove_button.isEnabled() and window.things.search_button.isEnabled()


def test_removing_a_photo_teaches_the_name_again_from_the_others(
    qtbot, teach_window, indexed, db_path
) -> None:
    a = write_jpeg(indexed.parent / "rex-a.jpg", (200, 120, 40))
    b = write_jpeg(indexed.parent / "rex-b.jpg", (190, 110, 50))
    db = open_db(db_path)
    learned = LearnedName("m-fp32-1", "weights-sha", "token", np.full(8, 0.5, np.float32), 2, 1.0)
    labels = [Label("ha", a, (0.1, 0.2, 0.3, 0.4), False), Label("hb", b, (0.5, 0.5, 0.25, 0.25), True)]
    save_taught(db, "Rex", "dog", labels, learned)
    db.close()
    window, argv_file = teach_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 1, timeout=TIMEOUT)
    window.things.select("Rex", photo=b)
    box = window.things.ask_remove_photo()
    assert "Remove rex-b.jpg from Rex?" in box.text() and "other 1 photo" in box.informativeText()
    with qtbot.waitSignal(window.things.remove_photo_requested, timeout=TIMEOUT):
        box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: window.relearn_dialog is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.relearn_dialog.relearned, timeout=TIMEOUT):
        pass
    argv = json.loads(argv_file.read_text())
    # The name is taught from the photos it keeps, with their boxes: the removed one is not among them.
    assert argv[1:] == [
        "teach",
        "Rex",
        "--kind",
        "dog",
        f"{a}:0.1000,0.2000,0.3000,0.4000",
        "--db",
        str(db_path),
        "--bundle",
        str(window.holder.bundle),
    ]
    assert "Removed rex-b.jpg from Rex: taught again from 1 photo" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.relearn_dialog is None, timeout=TIMEOUT)


def test_cancelling_a_removal_keeps_the_name_as_it_was(qtbot, teach_window, indexed, db_path) -> None:
    a = write_jpeg(indexed.parent / "rex-a.jpg", (200, 120, 40))
    b = write_jpeg(indexed.parent / "rex-b.jpg", (190, 110, 50))
    db = open_db(db_path)
    learned = LearnedName("m-fp32-1", "weights-sha", "token", np.full(8, 0.5, np.float32), 2, 1.0)
    save_taught(
        db, "Rex", "dog", [Label("ha", a, (0, 0, 1, 1), True), Label("hb", b, (0, 0, 1, 1), True)], learned
    )
    db.close()
    window, argv_file = teach_window("slow")
    qtbot.waitUntil(lambda: len(_shown(window)) == 1, timeout=TIMEOUT)
    window.remove_name_photo("Rex", a)
    qtbot.waitUntil(lambda: window.relearn_dialog is not None, timeout=TIMEOUT)
    dialog = window.relearn_dialog
    qtbot.waitUntil(lambda: dialog.running and "loading the model" in dialog.note.text(), timeout=TIMEOUT)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)
    assert dialog.note.text() == "Cancelled: Rex keeps all its photos and what it learned."
    assert Path(str(argv_file) + ".interrupted").is_file()
    db = open_db(db_path, writable=False)
    assert [lb.path for lb in labels_of(db, find_name(db, "Rex").id)] == [a, b]
    db.close()


def test_the_only_photo_of_a_name_offers_to_forget_it(qtbot, make_window, indexed, db_path) -> None:
    _teach_rows(db_path)
    window = make_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    window.things.select("Rex", photo="/photos/a.jpg")
    box = window.things.ask_remove_photo()
    assert "only photo Rex was taught from. Forget Rex?" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: [r[0] for r in _shown(window)] == ["Bella"], timeout=TIMEOUT)


def test_a_removal_whose_other_photos_are_gone_is_refused(qtbot, teach_window, indexed, db_path) -> None:
    rex = write_jpeg(indexed.parent / "rex.jpg", (200, 120, 40))
    db = open_db(db_path)
    learned = LearnedName("m-fp32-1", "weights-sha", "token", np.full(8, 0.5, np.float32), 2, 1.0)
    two = [Label("h1", rex, (0, 0, 1, 1), True), Label("h2", "/photos/gone.jpg", (0, 0, 1, 1), True)]
    save_taught(db, "Rex", "dog", two, learned)
    db.close()
    window, _ = teach_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 1, timeout=TIMEOUT)
    window.remove_name_photo("Rex", rex)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorBox") is not None, timeout=TIMEOUT)
    assert "not on disk any more" in window.findChild(QMessageBox, "errorBox").text()
    assert window.relearn_dialog is None


def test_add_photo_opens_the_teach_dialog_with_the_name(
    qtbot, teach_window, indexed, db_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rex = write_jpeg(indexed.parent / "rex.jpg", (200, 120, 40))
    another = write_jpeg(indexed.parent / "rex-2.jpg", (190, 110, 50))
    _teach_rows(db_path, photo=rex)
    chosen: list[str] = []

    def choose(parent, title: str, folder: str = "", name_filter: str = "") -> str:
        chosen.append(title)
        return another  # as if the person chose rex-2.jpg in the file dialog

    monkeypatch.setattr("app.gui.main_window.choose_file", choose)
    window, _ = teach_window()
    qtbot.waitUntil(lambda: len(_shown(window)) == 2, timeout=TIMEOUT)
    assert not window.things.add_button.isEnabled()  # nothing selected: whose photo?
    window.things.select("Rex", photo=rex)  # a photo's row stands for its name
    assert window.things.add_button.isEnabled()
    window.things.add_button.click()
    dialog = window.teach_dialog
    assert chosen == ["A photo of Rex"] and dialog is not None and dialog.path == another
    assert dialog.name.currentText() == "Rex" and dialog.kind.text() == "dog"
    assert "Rex was taught from 1 photo" in dialog.about_name.text()
    dialog.reject()
