"""run_task: results and errors come back on the GUI thread; the pools."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QThreadPool

from app.gui.tasks import SyncPool, run_task, serial_pool

REPO = Path(__file__).resolve().parents[3]


def test_the_result_arrives_on_the_gui_thread(qtbot) -> None:
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    got: list[int] = []

    def done(value: int) -> None:
        seen["callback"] = threading.get_ident()
        got.append(value)

    run_task(work, done)
    qtbot.waitUntil(lambda: got == [42], timeout=5000)
    assert seen["worker"] != gui and seen["callback"] == gui


def test_an_error_arrives_as_the_exception(qtbot) -> None:
    errors: list[BaseException] = []

    def fail() -> None:
        raise ValueError("boom")

    run_task(fail, lambda _: pytest.fail("no result expected"), errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "boom"


def test_an_error_without_a_handler_is_logged(qtbot, caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise RuntimeError("unexpected")

    run_task(fail, lambda _: None)
    qtbot.waitUntil(lambda: "background task failed" in caplog.text, timeout=5000)
    assert "RuntimeError: unexpected" in caplog.text


def test_the_sync_pool_delivers_before_returning(qtbot) -> None:
    got: list[str] = []
    run_task(lambda: "now", got.append, pool=SyncPool())
    assert got == ["now"]


def test_nothing_is_delivered_to_a_deleted_context(qtbot) -> None:
    context = QObject()
    gate = threading.Event()
    got: list[int] = []
    pool = QThreadPool()

    def work() -> int:
        gate.wait(5)
        return 1

    run_task(work, got.append, pool=pool, context=context)
    context.deleteLater()
    qtbot.wait(20)
    gate.set()
    pool.waitForDone(5000)
    qtbot.wait(50)
    assert got == []


def test_the_serial_pool_keeps_one_thread(qtbot) -> None:
    pool = serial_pool()
    threads: list[int] = []
    for _ in range(5):
        run_task(threading.get_ident, threads.append, pool=pool)
    qtbot.waitUntil(lambda: len(threads) == 5, timeout=5000)
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    pool.waitForDone(5000)


STRESS = """
import sys
import app.gui
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
class Source(QObject):
    changed = Signal(object)
source, label = Source(), QLabel()
def slot(value):
    pass
for i in range(30000):  # well past the few thousand references None and True have at start
    label.setText("x")
    source.changed.emit(i)
    source.changed.connect(slot)
    source.changed.disconnect(slot)
print("ok", file=sys.stderr)
"""


def test_many_qt_calls_do_not_free_none_or_true(tmp_path) -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None at each void call and to True at each
    emit (``pyside_fix``); without the fix this process aborts with "none_dealloc" or "bool_dealloc"."""
    import os
    import subprocess

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", STRESS], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok" in result.stderr
