"""The library panel and indexing: folders added, progress with rate and ETA, pause, resume, cancel,
removal, and searching while an index run goes on."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gui_fakes import GroundingFake
from photo_files import write_photos
from PySide6.QtCore import QCoreApplication, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from app.gui.bundles import ModelHolder
from app.gui.indexing import IndexController, State
from app.library.db import open_db

TIMEOUT = 15_000


def test_indexing_reports_progress_and_folder_status(qtbot, db_path: Path, photos: Path) -> None:
    controller = IndexController(db_path, ModelHolder.fixed(GroundingFake()), batch_size=4)
    seen = []
    controller.progress.connect(seen.append)
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.index([str(photos / "album")])
    outcome = blocker.args[0]
    assert outcome.report.status == "done" and outcome.report.counts.encoded == 8
    assert [p.done for p in seen] == [0, 4, 8] and all(p.total == 8 for p in seen)
    assert seen[-1].rate > 0 and seen[1].eta_s is not None
    [folder] = outcome.folders
    assert (folder.path, folder.photos, folder.indexed, folder.failed, folder.pending) == (
        str(photos / "album"),
        8,
        8,
        0,
        0,
    )
    assert controller.state is State.IDLE
    controller.shutdown()


def test_pause_resume_and_cancel(qtbot, db_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    write_photos(folder, 40)
    runtime = GroundingFake(delay_s=0.15)  # each batch of 4 takes a while
    controller = IndexController(db_path, ModelHolder.fixed(runtime), batch_size=4)
    progress = []
    controller.progress.connect(progress.append)
    controller.index([str(folder)])
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=TIMEOUT)
    controller.pause()
    assert controller.state is State.PAUSED
    qtbot.waitUntil(controller.parked.is_set, timeout=TIMEOUT)  # the batch in flight is committed
    # Its progress signal was queued before the worker parked; deliver it before counting.
    QCoreApplication.processEvents()
    paused_at = len(progress)
    qtbot.wait(500)
    assert len(progress) == paused_at and controller.parked.is_set()  # nothing moves while paused
    controller.resume()
    qtbot.waitUntil(lambda: len(progress) > paused_at, timeout=TIMEOUT)
    controller.pause()  # parked again, so the cancel below surely comes before the end of the run
    qtbot.waitUntil(controller.parked.is_set, timeout=TIMEOUT)
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.cancel()
    outcome = blocker.args[0]
    assert outcome.report.status == "cancelled"
    done = outcome.folders[0].indexed
    assert 4 <= done < 40 and outcome.folders[0].pending == 40 - done  # committed batches are kept
    # The next run picks up where this one stopped.
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.index(None)
    assert blocker.args[0].report.counts.unchanged == done
    assert blocker.args[0].folders[0].indexed == 40
    controller.shutdown()


def test_cancel_while_paused(qtbot, db_path: Path, tmp_path: Path) -> None:
    write_photos(tmp_path / "some", 16)
    controller = IndexController(db_path, ModelHolder.fixed(GroundingFake(delay_s=0.1)), batch_size=4)
    progress = []
    controller.progress.connect(progress.append)
    controller.index([str(tmp_path / "some")])
    qtbot.waitUntil(lambda: len(progress) >= 1, timeout=TIMEOUT)
    controller.pause()
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.cancel()
    assert blocker.args[0].report.status == "cancelled"
    controller.shutdown()


def test_the_panel_adds_shows_and_removes_folders(qtbot, make_window, photos: Path, monkeypatch) -> None:
    window = make_window()
    panel = window.library
    assert panel.empty_hint.isVisibleTo(panel)
    monkeypatch.setattr("app.gui.library_panel.choose_folder", lambda *a, **k: str(photos / "album"))
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        panel.add_button.click()
    assert window.prefs.last_dir == str(photos)
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    item = panel.tree.topLevelItem(0)
    assert [item.text(c) for c in range(3)] == ["album", "8", "indexed"]
    assert not panel.empty_hint.isVisibleTo(panel)
    assert "Indexing done: 8 new" in window.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: window.engine.state is not None and window.engine.state.photos == 8, timeout=TIMEOUT
    )

    item.setSelected(True)
    assert panel.remove_button.isEnabled()
    panel.remove_button.click()  # asks first: cancelled, nothing is removed
    box = panel.findChild(QMessageBox, "removeBox")
    assert box is not None and "album" in box.text()
    box.reject()
    qtbot.wait(50)
    assert panel.tree.topLevelItemCount() == 1
    panel.remove_button.click()
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        qtbot.waitUntil(lambda: panel.findChild(QMessageBox, "removeBox") is not None, timeout=TIMEOUT)
        panel.findChild(QMessageBox, "removeBox").accept()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 0, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.engine.state.photos == 0, timeout=TIMEOUT)


def test_progress_shows_rate_and_eta_and_the_buttons_work(qtbot, make_window, tmp_path: Path) -> None:
    write_photos(tmp_path / "slow", 24)
    gate = threading.Event()  # the third batch waits for it: the run is surely still going
    runtime = GroundingFake(delay_s=0.05, image_gate=gate, image_gate_after=2)
    window = make_window(ModelHolder.fixed(runtime), index_batch_size=4)
    panel = window.library
    window.add_folders([str(tmp_path / "slow")])
    qtbot.waitUntil(lambda: panel.progress.value() >= 8, timeout=TIMEOUT)
    assert panel.progress_box.isVisibleTo(panel)
    text = panel.progress_label.text()
    assert "photos/s" in text and "left" in text
    assert panel.progress.format() == "8 / 24"
    panel.pause_button.click()
    assert window.indexer.state is State.PAUSED and panel.pause_button.text() == "Resume"
    assert panel.progress_label.text().startswith("Paused.")
    panel.pause_button.click()
    assert window.indexer.state is State.RUNNING
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        panel.cancel_button.click()
        assert panel.progress_label.text().startswith("Cancelling")
        gate.set()
    assert "Indexing cancelled" in window.statusBar().currentMessage()
    assert not panel.progress_box.isVisibleTo(panel)


def test_search_while_indexing(qtbot, make_window, indexed: Path, tmp_path: Path) -> None:
    """An index run is under way (paused between two batches, so the test does not race it); the
    search field answers from what was indexed before and what the run committed so far (the window
    reloads the index after the run's first batch), and the GUI thread stays free."""
    write_photos(tmp_path / "more", 40, prefix="m", first_colour=40)
    slow = GroundingFake(delay_s=0.2)  # image encoding is slow; text encoding is not
    window = make_window(ModelHolder.fixed(slow), index_batch_size=4)
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    window.add_folders([str(tmp_path / "more")])
    qtbot.waitUntil(lambda: window.library.progress.value() >= 4, timeout=TIMEOUT)
    window.library.pause_button.click()
    qtbot.waitUntil(window.indexer.parked.is_set, timeout=TIMEOUT)  # inside the run, between batches
    qtbot.waitUntil(lambda: window.engine.state.photos >= 16, timeout=TIMEOUT)  # 12 + the first batch
    assert "indexed, newest first" in window.library.progress_label.text()
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "beach")
    assert window.indexer.state is State.PAUSED and window.indexer.parked.is_set()  # still indexing
    assert 16 <= window.model.rowCount() == window.engine.state.photos < 52
    window.library.pause_button.click()  # resume
    assert window.indexer.state is State.RUNNING
    considered: list[int] = []
    window.engine.results.connect(lambda outcome: considered.append(outcome.considered))
    with qtbot.waitSignal(window.indexer.finished, timeout=30_000):
        pass
    # After the run, the photos it indexed are searchable too and the query runs again by itself.
    qtbot.waitUntil(lambda: 52 in considered, timeout=TIMEOUT)
    assert window.engine.state.photos == 52


def test_dropping_a_folder_adds_it(qtbot, make_window, photos: Path) -> None:
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photos / "other"))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT) as blocker:
        window.event(event)
    assert event.isAccepted()
    assert blocker.args[0].folders[0].path == str(photos / "other")


def test_an_unreadable_photo_is_reported_not_raised(qtbot, make_window, photos: Path) -> None:
    (photos / "album" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    window = make_window()
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT) as blocker:
        window.add_folders([str(photos / "album")])
    assert blocker.args[0].folders[0].failed == 1
    assert "1 unreadable" in window.statusBar().currentMessage()
    db = open_db(window.db_path)
    assert db.execute("SELECT count(*) FROM photos WHERE status = 'error'").fetchone()[0] == 1
    db.close()


def test_unreadable_files_are_named_with_their_reasons_and_retried(
    qtbot, make_window, db_path: Path, runtime: GroundingFake, photos: Path
) -> None:
    from gui_fakes import index_folder

    photo = photos / "album" / "a000.jpg"
    good = photo.read_bytes()
    photo.write_bytes(b"x" * len(good))  # no image, same size as the photo
    index_folder(db_path, runtime, [photos / "album", photos / "other"])
    window = make_window()
    panel = window.library
    qtbot.waitUntil(lambda: panel.failures_button.isVisibleTo(panel), timeout=TIMEOUT)
    assert panel.failures_button.text() == "1 file could not be read…"
    with qtbot.waitSignal(window.indexer.failures, timeout=TIMEOUT):
        panel.failures_button.click()
    dialog = panel.failures_dialog
    item = dialog.list.topLevelItem(0)
    assert dialog.list.topLevelItemCount() == 1 and item.text(0) == "a000.jpg"
    assert "not an image" in item.text(1)
    # Fixed in place, same size and time: only Retry reads it again.
    stat = photo.stat()
    photo.write_bytes(good)
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT):
        dialog.retry_button.click()
    qtbot.waitUntil(lambda: not panel.failures_button.isVisibleTo(panel), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.engine.state.photos == 12, timeout=TIMEOUT)


def test_the_folder_filter_offers_subfolders_and_dates_default_to_the_library(
    qtbot, make_window, db_path: Path, runtime: GroundingFake, tmp_path: Path
) -> None:
    from gui_fakes import index_folder

    root = tmp_path / "pictures"
    write_photos(root / "2019" / "summer", 2, prefix="s")
    write_photos(root / "2020", 2, prefix="w", first_colour=10)
    for i, photo in enumerate(sorted(root.rglob("*.jpg"))):
        os.utime(photo, (1_500_000_000 + i * 86_400 * 40,) * 2)  # July 2017 onwards, no EXIF date
    index_folder(db_path, runtime, [root])
    window = make_window()
    refine = window.refine
    qtbot.waitUntil(lambda: refine.folder.count() > 1, timeout=TIMEOUT)
    labels = [refine.folder.itemText(i).strip() for i in range(refine.folder.count())]
    assert labels == ["All folders", "pictures", "2019/summer", "2020"]
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    first, last = window.engine.state.first_day, window.engine.state.last_day
    assert refine.after.date().toString("yyyy-MM-dd") == first and first.startswith("2017-07")
    assert refine.before.date().toString("yyyy-MM-dd") == last
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT):
        qtbot.keyClicks(window.search.query, "dog")
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        refine.use_dates.setChecked(True)  # the whole span: nothing hidden
    assert blocker.args[0].considered == 4
    with qtbot.waitSignal(window.engine.results, timeout=TIMEOUT) as blocker:
        refine.folder.setCurrentIndex(2)
    assert blocker.args[0].considered == 2


def test_new_photos_appear_without_update(qtbot, make_window, indexed: Path) -> None:
    from photo_files import write_jpeg

    write_jpeg(indexed / "album" / "new1.jpg", (10, 200, 10))  # added while the app was closed
    window = make_window(rescan_every_s=3600)
    window.first_rescan_delay_ms = 0
    qtbot.waitUntil(
        lambda: window.engine.state is not None and window.engine.state.photos == 13, timeout=TIMEOUT
    )
    assert window.rescan_timer.isActive() and window.rescan_timer.interval() == 3_600_000
    # The new photo is searchable from the run's first batch on, before the run ends: wait for its end.
    qtbot.waitUntil(lambda: window.indexer.state is State.IDLE, timeout=TIMEOUT)
    write_jpeg(indexed / "other" / "new2.jpg", (10, 10, 200))  # added while it runs
    window.rescan_timer.timeout.emit()  # the period has passed
    qtbot.waitUntil(lambda: window.engine.state.photos == 14, timeout=TIMEOUT)
