"""The window keeps its SQLite locks, and a second process never deletes the WAL the window writes to.

SQLite's POSIX locks belong to the process: any plain open and close of ``library.db`` in the window's
process drops them all, and the next ``multigrain`` command then believes it is the last user and
deletes ``-wal`` and ``-shm`` under the window. These tests count the window's locks in /proc/locks,
browse with the app's own file dialogs, run a second process on the library, and check that after a
loss anyway (forced here by hand) the window reopens the library and carries on.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from photo_files import write_photos
from PySide6.QtCore import QDir
from PySide6.QtWidgets import QFileDialog, QFileSystemModel

from app.gui.file_dialogs import safe_dialog
from app.gui.main_window import MainWindow
from app.home import data_dir, default_db
from app.legacy import default_library

REPO = Path(__file__).resolve().parents[3]
TIMEOUT = 20_000

pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(not Path("/proc/locks").exists(), reason="counts locks in /proc/locks"),
]


def held_locks(db_path: Path) -> int:
    """POSIX locks this process holds on ``db_path`` (SQLite takes them on the file itself)."""
    inode = os.stat(db_path).st_ino
    pid = str(os.getpid())
    count = 0
    with open("/proc/locks") as locks:  # /proc/locks, not the database: reading it is harmless
        for line in locks:
            fields = line.split()
            if pid in fields and any(f.endswith(f":{inode}") for f in fields):
                count += 1
    return count


def in_another_process(db_path: Path, sql: str) -> str:
    """What any other ``multigrain`` command does: open the library, read, close (SQLite deletes the
    WAL on close when it believes no other process has the library open). Returns the answer."""
    script = (
        "import sys\n"
        "from app.library.db import open_db\n"
        "db = open_db(sys.argv[1])\n"
        "print(db.execute(sys.argv[2]).fetchone()[0])\n"
        "db.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(db_path), sql],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def second_process_uses(db_path: Path) -> None:
    in_another_process(db_path, "SELECT count(*) FROM photos")


def wal(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def open_window(qtbot, make_window: Callable[..., MainWindow]) -> MainWindow:
    window = make_window()
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    return window


def update_and_wait(qtbot, window: MainWindow) -> None:
    failures: list[BaseException] = []
    window.indexer.failed.connect(failures.append)
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        window.indexer.index(None)
    assert not failures


def test_the_default_library_sits_alone_in_a_hidden_folder(hermetic: Path) -> None:
    db_path = default_db()
    assert db_path.parent == data_dir() / ".library" and db_path.parent.name.startswith(".")
    # A file dialog lists no hidden folder unless asked, so nobody browses into it by accident.
    listed = QDir(
        str(data_dir()), "", QDir.SortFlag.Name, QDir.Filter.AllEntries | QDir.Filter.NoDotAndDotDot
    )
    db_path.parent.mkdir(parents=True)
    assert ".library" not in listed.entryList()


def test_an_older_librarys_database_moves_into_its_folder(hermetic: Path) -> None:
    from app.library.db import open_db

    legacy = data_dir() / "library.db"
    db = open_db(legacy)
    db.execute("INSERT INTO folders (path, added_at) VALUES ('/photos', 1.0)")
    db.conn.commit()  # committed into the WAL, not yet checkpointed: the move must carry it
    db.close()
    moved = default_library()
    assert moved == data_dir() / ".library" / "library.db" and moved.is_file()
    assert not legacy.exists() and legacy.with_name("library.db.moved").is_file()
    db = open_db(moved)
    assert db.execute("SELECT path FROM folders").fetchall() == [("/photos",)]
    db.close()
    assert default_library() == moved  # moved once


def test_browsing_with_the_apps_dialogs_keeps_the_windows_locks(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, db_path: Path
) -> None:
    window = open_window(qtbot, make_window)
    assert held_locks(db_path) >= 1
    # The worst case: the dialog lists the database's own folder, every file, in the detail view with
    # its types.
    dialog = safe_dialog(window, "Open a file", str(db_path.parent))
    dialog.setFilter(dialog.filter() | QDir.Filter.Hidden)
    dialog.setViewMode(QFileDialog.ViewMode.Detail)
    model = dialog.findChild(QFileSystemModel)
    with qtbot.waitSignal(model.directoryLoaded, timeout=TIMEOUT):
        dialog.show()
    root = model.index(str(db_path.parent))
    names = []
    for row in range(model.rowCount(root)):
        names.append(model.data(model.index(row, 0, root)))
        model.data(model.index(row, 0, root), 1)  # the icon
        model.data(model.index(row, 2, root))  # the type
    assert "library.db" in names
    qtbot.wait(300)  # the icons and types are gathered on Qt's own thread
    dialog.close()
    assert held_locks(db_path) >= 1, "listing the folder opened the database file"

    second_process_uses(db_path)
    assert wal(db_path).exists(), "a second process deleted the WAL the window uses"
    write_photos(indexed / "album", 1, prefix="new", first_colour=60)
    update_and_wait(qtbot, window)
    qtbot.waitUntil(lambda: window.engine.state.photos == 13, timeout=TIMEOUT)  # reloaded after the run


def test_a_plain_qt_dialog_would_have_dropped_them(qtbot, make_window, indexed: Path, db_path: Path) -> None:
    """The hazard the app's dialogs avoid is real here: Qt's default icon provider opens each file."""
    window = open_window(qtbot, make_window)
    dialog = QFileDialog(window, "plain", str(db_path.parent))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setViewMode(QFileDialog.ViewMode.Detail)
    model = dialog.findChild(QFileSystemModel)
    with qtbot.waitSignal(model.directoryLoaded, timeout=TIMEOUT):
        dialog.show()
    qtbot.waitUntil(lambda: held_locks(db_path) == 0, timeout=TIMEOUT)
    dialog.close()
    dialog.deleteLater()  # its file watcher would look at the folder again
    qtbot.wait(200)
    window.engine.reopen()  # leave the window holding its locks again
    qtbot.waitUntil(lambda: held_locks(db_path) >= 1, timeout=TIMEOUT)


def photos_seen_by_another_process(db_path: Path) -> int:
    return int(in_another_process(db_path, "SELECT count(*) FROM photos WHERE status = 'ok'"))


def test_after_a_lock_loss_the_windows_next_run_is_kept(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, db_path: Path
) -> None:
    window = open_window(qtbot, make_window)
    # Force the loss the old file dialog caused: a plain open and close of the file in this process...
    with open(db_path, "rb"):
        pass
    assert held_locks(db_path) == 0
    second_process_uses(db_path)  # ... and a second process then removes the WAL under the window
    assert not wal(db_path).exists()
    write_photos(indexed / "album", 1, prefix="new", first_colour=60)
    update_and_wait(qtbot, window)
    qtbot.waitUntil(lambda: window.engine.state.photos == 13, timeout=TIMEOUT)
    assert photos_seen_by_another_process(db_path) == 13  # written to the live WAL, not a deleted one


def fail_once_with_io_error(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """``owner.name`` raises SQLite's "disk I/O error" on its first call only; returns the call log."""
    real = getattr(owner, name)
    calls: list[int] = []

    def failing_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, failing_once)
    return calls


def test_a_disk_io_error_in_a_run_reopens_the_library_and_redoes_the_run(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's "disk I/O error" means the files changed under this process's connections: none works
    until all are closed. The window closes the search engine's too, reopens, and runs again."""
    from app.library.indexer import Indexer

    window = open_window(qtbot, make_window)
    first_connection = window.engine._worker.db
    calls = fail_once_with_io_error(monkeypatch, Indexer, "index")
    errors: list[BaseException] = []
    window.indexer.failed.connect(errors.append)
    write_photos(indexed / "album", 1, prefix="new", first_colour=60)
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        window.indexer.index(None)
    assert len(calls) == 2 and not errors  # redone once, and no error shown
    assert window.engine._worker.db is not first_connection  # the engine's connection was replaced
    qtbot.waitUntil(lambda: window.engine.state.photos == 13, timeout=TIMEOUT)
    assert window.model_label.text().endswith("13 photos searchable")


def test_a_second_disk_io_error_is_reported_not_retried_forever(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.library.indexer import Indexer

    window = open_window(qtbot, make_window)
    calls: list[int] = []

    def always_failing(self, *args, **kwargs):
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Indexer, "index", always_failing)
    monkeypatch.setattr("app.gui.main_window.show_error", lambda *args, **kwargs: None)
    with qtbot.waitSignal(window.indexer.failed, timeout=TIMEOUT) as failed:
        window.indexer.index(None)
    assert len(calls) == 2 and "disk I/O error" in str(failed.args[0])


def test_a_disk_io_error_in_a_search_reopens_and_answers(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.search import Searcher

    window = open_window(qtbot, make_window)
    first_connection = window.engine._worker.db
    calls = fail_once_with_io_error(monkeypatch, Searcher, "encode")
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        window.search.query.setText("red car")
    assert window.model.rowCount() == 12 and len(calls) == 2
    assert window.engine._worker.db is not first_connection


def test_a_damaged_library_is_reported_on_start_and_not_written(
    qtbot,
    make_window: Callable[..., MainWindow],
    indexed: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.library.errors import DamagedLibraryError

    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db_path, "r+b") as file:  # garbage over pages 2-4, as a failing disk would leave them
        file.seek(2 * 4096)
        file.write(bytes(range(256)) * 48)
    shown: list[BaseException] = []
    monkeypatch.setattr("app.gui.main_window.show_error", lambda _parent, err, *_: shown.append(err))
    window = make_window()
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    assert isinstance(shown[0], DamagedLibraryError) and "multigrain recover" in str(shown[0])
    before = db_path.read_bytes()
    window.indexer.index(None)
    qtbot.waitUntil(lambda: len(shown) >= 2, timeout=TIMEOUT)
    assert isinstance(shown[1], DamagedLibraryError)
    assert db_path.read_bytes() == before
