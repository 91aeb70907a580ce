"""The app as a whole: `multigrain gui` with and without a display, the first run's demo library,
settings and app data, errors in words, and a real process that never imports torch."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QStandardPaths
from PySide6.QtWidgets import QMessageBox

from app.gui import launch
from app.gui.bundles import ModelHolder
from app.gui.errors import describe, show_error
from app.gui.settings import QT_APP_NAME, Prefs, data_dir
from app.library.db import open_db
from cli.main import build_parser
from core.errors import KnownError

REPO = Path(__file__).resolve().parents[3]
TIMEOUT = 20_000
FAKE_DEMO = [sys.executable, str(Path(__file__).with_name("fake_demo.py"))]


# ----- starting -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_has_display(env: dict[str, str], platform: str, expected: bool) -> None:
    assert launch.has_display(env, platform) is expected


def test_without_a_display_gui_runs_the_demo(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    ran: list[argparse.Namespace] = []
    monkeypatch.setattr("app.demo.run_demo", lambda args: ran.append(args) or 0)
    args = build_parser().parse_args(["gui", "--bundle", "some/bundle"])
    assert args.handler == "app.gui.launch:run"
    assert launch.run(args) == 0
    assert "no display found" in capsys.readouterr().err
    assert ran and ran[0].bundle == "some/bundle" and ran[0].photos == 300


def test_app_data_is_the_platforms_standard_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, qapp
) -> None:
    assert data_dir() == tmp_path / "home"  # MULTIGRAIN_HOME wins (the hermetic fixture set it)
    if not sys.platform.startswith("linux"):
        return
    monkeypatch.delenv("MULTIGRAIN_HOME")
    previous = QCoreApplication.applicationName()
    QCoreApplication.setApplicationName(QT_APP_NAME)
    try:
        standard = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    finally:
        QCoreApplication.setApplicationName(previous)
    assert data_dir() == Path(standard)  # the folder the command line uses too


def test_settings_persist(qtbot, make_window, prefs: Prefs, tmp_path: Path) -> None:
    window = make_window()
    window.refine.weight.setValue(70)
    window.refine.sort.setCurrentIndex(1)
    window.resize(701, 601)  # above the window's minimum size, which Qt would enforce
    window.close()
    again = Prefs(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat))
    assert again.image_weight == pytest.approx(0.7) and again.sort == "date"
    assert again.window_state("geometry") is not None
    second = make_window()
    assert second.refine.weight.value() == 70 and second.refine.sort_order == "date"
    assert (second.width(), second.height()) == (701, 601)


# ----- the first run --------------------------------------------------------------------------------
def test_first_run_offers_the_demo_library(qtbot, make_window, prefs: Prefs, hermetic: Path) -> None:
    window = make_window(offer_demo=True, demo_command=FAKE_DEMO)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "demoBox") is not None, timeout=TIMEOUT)
    box = window.findChild(QMessageBox, "demoBox")
    assert "library is empty" in box.text()
    assert prefs.demo_offered  # asked once, not at every start
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT) as blocker:
        box.button(QMessageBox.StandardButton.Yes).click()
    [folder] = blocker.args[0].folders
    assert folder.path == str(hermetic / "demo" / "photos") and folder.indexed == 6
    qtbot.waitUntil(
        lambda: window.engine.state is not None and window.engine.state.photos == 6, timeout=TIMEOUT
    )


def test_the_demo_is_not_offered_twice(qtbot, make_window, prefs: Prefs) -> None:
    prefs.demo_offered = True
    window = make_window(offer_demo=True, demo_command=FAKE_DEMO)
    qtbot.waitUntil(lambda: window._folders_known, timeout=TIMEOUT)
    qtbot.wait(50)
    assert window.findChild(QMessageBox, "demoBox") is None


def test_demo_photos_are_made_like_the_demo_commands(tmp_path: Path) -> None:
    from app.gui.demo_photos import make_demo_photos

    folder = make_demo_photos(tmp_path / "demo", 8, workers=1)
    photos = sorted(folder.rglob("*.jpg"))
    assert len(photos) == 8 and len({p.parent.name for p in photos}) == 4
    assert (folder.parent / "world").exists() is False


# ----- errors in words ------------------------------------------------------------------------------
def test_known_and_internal_errors_are_told_apart(qtbot, qapp) -> None:
    known = describe(KnownError("the bundle is damaged"))
    assert known.known and known.message == "the bundle is damaged" and known.details is None
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as err:
        internal = describe(err)
        box = show_error(None, err)
    assert not internal.known and internal.message.startswith("Internal error: ZeroDivisionError")
    assert "Traceback" in internal.details
    assert "internal error" in box.text() and "Traceback" in box.detailedText()  # behind "Show Details"
    box.close()
    box = show_error(None, KnownError("the bundle is damaged"))
    assert box.text() == "the bundle is damaged" and box.detailedText() == ""
    box.close()


def test_a_library_from_a_newer_app_is_refused_in_words(qtbot, make_window, db_path: Path) -> None:
    db = open_db(db_path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    window = make_window()
    qtbot.waitUntil(lambda: "newer Multigrain" in window.summary.text(), timeout=TIMEOUT)
    assert "Traceback" not in window.summary.text()
    assert window.model_label.text() == "no model"


def test_no_model_is_explained(qtbot, make_window) -> None:
    window = make_window(ModelHolder(None))
    qtbot.waitUntil(lambda: "no model bundle is chosen" in window.summary.text(), timeout=TIMEOUT)
    window.add_folders(["/somewhere"])
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorBox") is not None, timeout=TIMEOUT)
    assert "Models" in window.findChild(QMessageBox, "errorBox").text()


# ----- a real process -------------------------------------------------------------------------------
GUI_SESSION = r"""
import sys
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from app.gui.bundles import ModelHolder
from app.gui.main_window import MainWindow
from app.gui.settings import Prefs

bundle, photos, home = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
app = QApplication([])
prefs = Prefs(QSettings(str(home / "prefs.ini"), QSettings.Format.IniFormat))
window = MainWindow(home / "library.db", ModelHolder(bundle), prefs, offer_demo=False)
window.show()

def wait(condition, seconds=400):
    import time
    end = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)

done = []
window.indexer.finished.connect(done.append)
window.add_folders([photos])
wait(lambda: done)
wait(lambda: window.engine.state is not None and window.engine.state.photos == 6)
window.search.query.setText("a red square -blue")
window.search.flush()
wait(lambda: window.model.rowCount() == 6)
window.open_result(window.model.index(0, 0))
wait(lambda: window.result_view.grounding is not None)
dialog = window.open_models()
dialog.measure()
wait(lambda: "images/s" in dialog.speed_label.text())
print("device:", dialog.device_label.text(), dialog.speed_label.text())
window.close()
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "timm", "transformers"))
print("torch modules:", bad)
"""


def test_the_gui_process_never_imports_torch(tiny_bundle: Path, photos: Path, tmp_path: Path) -> None:
    """A real window in a real process: index, search, ground, measure; then no torch in sys.modules."""
    from photo_files import write_jpeg

    folder = tmp_path / "six"
    folder.mkdir()
    for i in range(5):
        write_jpeg(folder / f"p{i}.jpg", (30 * i, 90, 160), size=(64, 48))
    write_jpeg(folder / "red.jpg", (220, 20, 20), size=(64, 48))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MULTIGRAIN_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-c", GUI_SESSION, str(tiny_bundle), str(folder), str(tmp_path / "home")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch modules: []" in result.stdout
    assert "device: Device: CPU" in result.stdout or "device: Device: CUDA" in result.stdout
