"""GUI tests: offscreen, hermetic and strict.

- Qt runs on the offscreen platform (set in tests/conftest.py before any Qt import).
- Any Qt warning fails the test (pyproject.toml: ``qt_log_level_fail = "WARNING"``; the offscreen
  platform's own "This plugin does not support ...()" notes are ignored there).
- Nothing touches the user's files: app data (``MULTIGRAIN_HOME``), XDG folders and QSettings point
  into ``tmp_path``; the repository's ``bundles/`` is hidden from the models dialog.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))  # gui_fakes

from gui_fakes import GroundingFake, index_folder
from photo_files import write_photos
from PySide6.QtCore import QSettings

from app.gui.bundles import ModelHolder
from app.gui.main_window import MainWindow
from app.gui.settings import Prefs

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session", autouse=True)
def _pyside6() -> None:
    from pytestqt.qt_compat import qt_api

    assert qt_api.pytest_qt_api == "pyside6", "pytest-qt must drive PySide6 (set qt_api = pyside6)"


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """App data, XDG folders and QSettings' default paths inside tmp_path; returns the app data folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("MULTIGRAIN_HOME", str(home))
    monkeypatch.delenv("MULTIGRAIN_BUNDLE", raising=False)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "xdg" / name.lower()))
    settings = str(tmp_path / "qsettings")
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, settings)
    monkeypatch.setattr("app.gui.bundles.repo_bundles_dir", lambda: tmp_path / "repo-bundles")
    return home


@pytest.fixture(autouse=True)
def _no_stray_threads(qapp) -> Iterator[None]:
    """Background tasks of a test end with it (a task alive at interpreter exit can crash it)."""
    yield
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(10_000)


@pytest.fixture
def prefs(tmp_path: Path) -> Prefs:
    return Prefs(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def db_path(hermetic: Path) -> Path:
    return hermetic / ".library" / "library.db"  # where app.home puts the default library


@pytest.fixture
def runtime() -> GroundingFake:
    return GroundingFake()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Twelve photos in two folders: album/ (8) and other/ (4)."""
    root = tmp_path / "photos"
    write_photos(root / "album", 8, prefix="a")
    write_photos(root / "other", 4, prefix="o", first_colour=20)
    return root


@pytest.fixture
def indexed(db_path: Path, runtime: GroundingFake, photos: Path) -> Path:
    """The photos indexed (directly, before any window opens); returns the photo root."""
    index_folder(db_path, runtime, [photos / "album", photos / "other"])
    return photos


@pytest.fixture
def make_window(qtbot, db_path: Path, prefs: Prefs, runtime: GroundingFake) -> Callable[..., MainWindow]:
    def make(holder: ModelHolder | None = None, show: bool = True, **kwargs: object) -> MainWindow:
        kwargs.setdefault("offer_demo", False)
        kwargs.setdefault("rescan_every_s", None)  # a test that wants rescans asks for them
        window = MainWindow(db_path, holder or ModelHolder.fixed(runtime), prefs, **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        if show:
            window.show()
        return window

    return make


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A random-weight test-tiny bundle, exported in a child process so this one never imports torch."""
    root = tmp_path_factory.mktemp("tiny-bundle")
    script = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "from engine.checkpoint import save_checkpoint\n"
        "from engine.model.factory import create_model\n"
        "from export.build import export_bundle\n"
        "torch.manual_seed(0)\n"
        "root = Path(sys.argv[1])\n"
        "model = create_model('test-tiny', pretrained_text=False)\n"
        "checkpoint = save_checkpoint(model, root / 'checkpoint')\n"
        "export_bundle(checkpoint, root / 'bundle', 'fp32', model=model, log=lambda _: None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(root)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    yield root / "bundle"
