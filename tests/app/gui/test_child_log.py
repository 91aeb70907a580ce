"""The Models dialog's child logs: hidden while empty, shown with the first line, hidden when cleared."""

from __future__ import annotations

from app.gui.child_log import ChildLog


def test_the_log_shows_only_with_something_in_it(qtbot) -> None:
    log = ChildLog("someLog", 80)
    qtbot.addWidget(log)
    log.show()  # a parent showing its children would
    log.hide()
    assert log.isHidden() and log.height() == 80
    log.appendPlainText("step 1/6")
    assert not log.isHidden() and log.toPlainText() == "step 1/6"
    log.clear()
    assert log.isHidden() and log.toPlainText() == ""


def test_a_new_dialog_shows_no_empty_log(qtbot, make_window) -> None:
    window = make_window()
    dialog = window.open_models()
    from PySide6.QtWidgets import QPlainTextEdit

    for name in ("importLog", "thingsLog", "fineTuneLog"):
        log = dialog.findChild(QPlainTextEdit, name)
        assert log is not None and log.isHidden(), name
