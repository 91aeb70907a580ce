"""Indexing for the window: the library's ``Indexer`` on a worker thread, with pause, resume and cancel.

The worker opens its own SQLite connection (connections belong to their thread) and closes it at the
end of each run; the search engine's connection reads meanwhile (WAL). After a run, finished or
cancelled, captions are embedded and the vector cache is rebuilt on the same worker, so the search
engine only has to reload it (``SearchEngine.load(refresh=True)``).

Pause and cancel act between batches: the indexer calls ``progress`` on the worker after each
committed batch, and a paused run simply waits inside that call until it is resumed or cancelled.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject, Signal

from app.gui.bundles import ModelHolder
from app.gui.tasks import Pool, run_task, serial_pool
from app.home import thumbs_dir
from app.library import store
from app.library.db import open_db
from app.library.errors import is_io_error
from app.library.faults import library_faults
from app.library.indexer import IndexReport, Progress
from app.library.integrity import check_library, damaged_error

T = TypeVar("T")


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"


@dataclass(frozen=True)
class FolderStatus:
    path: str
    photos: int  # photo files known in it
    indexed: int  # ... searchable with the active model
    failed: int  # ... that could not be read
    pending: int  # ... waiting for (or interrupted in) an index run
    exists: bool  # False: missing (an unplugged drive); its photos are kept
    subfolders: tuple[str, ...] = ()  # folders inside it that hold photos, for the folder filter


@dataclass
class IndexOutcome:
    report: IndexReport | None  # None when only folders were removed
    folders: list[FolderStatus]


@dataclass(frozen=True)
class LostRun:
    folders: list[str] | None  # as ``IndexController.index`` takes them (None: every folder)


def folder_statuses(db: object, model: str) -> list[FolderStatus]:
    """Per folder counts, in one query, and the subfolders that hold photos (worker thread)."""
    holding = store.photo_folders(db)  # type: ignore[arg-type]
    return [
        FolderStatus(
            c.path,
            c.photos,
            c.indexed,
            c.failed,
            c.pending,
            os.path.isdir(c.path),
            tuple(sorted(d for d in holding if d.startswith(c.path.rstrip(os.sep) + os.sep))),
        )
        for c in store.folder_counts(db, model)  # type: ignore[arg-type]
    ]


class IndexController(QObject):
    progress = Signal(object)  # indexer.Progress
    state_changed = Signal(object)  # State
    finished = Signal(object)  # IndexOutcome, after a run or a removal (the search index changed)
    folders = Signal(object)  # list[FolderStatus]
    failures = Signal(object)  # list[(path, reason)] of the files that could not be read
    caption_saved = Signal(int, str, object)  # photo id, caption, the XMP sidecar written (or None)
    failed = Signal(object)  # exception
    # A run failed with SQLite's "disk I/O error": every connection of the process must close before
    # the library opens again. The window has the search engine reopen, then calls ``retry_lost``.
    database_lost = Signal(object)  # exception

    def __init__(
        self,
        db_path: Path,
        holder: ModelHolder,
        pool: Pool | None = None,
        batch_size: int = 16,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.thumbs_dir = thumbs_dir(self.db_path)
        self.holder = holder
        self.batch_size = batch_size
        self._pool = pool if pool is not None else serial_pool()
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.parked = threading.Event()  # set while a paused run waits between batches
        self._state = State.IDLE
        self._queued: set[str] | None = None  # folders asked for during a run; ``{}``: all
        self._job: list[str] | None = None  # the folders of the latest run (None: all)
        self._lost: LostRun | None = None  # a run to redo after the database reopens
        self._retried = False  # the current run is that redo: a second loss is reported, not redone
        self._checking: sqlite3.Connection | None = None  # the health check's, while it runs
        self.last_progress: Progress | None = None

    @property
    def state(self) -> State:
        return self._state

    def _set_state(self, state: State) -> None:
        self._state = state
        self.state_changed.emit(state)

    # ----- GUI thread -------------------------------------------------------------------------------
    def refresh_folders(self) -> None:
        run_task(
            self._guarded(self._statuses), self.folders.emit, self.failed.emit, pool=self._pool, context=self
        )

    def save_caption(self, photo_id: int, text: str, write_xmp: bool) -> None:
        """A person's caption for a photo, stored, embedded and searchable (``app.edit_caption``); runs
        after an index run in progress. Arrives as ``caption_saved``, a problem as ``failed``."""

        def save() -> tuple[int, str, str | None]:
            from app.edit_caption import set_caption

            db = open_db(self.db_path)
            try:
                return (
                    photo_id,
                    text,
                    set_caption(db, self.db_path, self.holder.get(), photo_id, text, write_xmp),
                )
            finally:
                db.close()

        run_task(
            self._guarded(save),
            lambda done: self.caption_saved.emit(*done),
            self.failed.emit,
            pool=self._pool,
            context=self,
        )

    def list_failures(self) -> None:
        """The files that could not be read, with their reasons; arrives as ``failures``."""
        run_task(
            self._guarded(self._failures), self.failures.emit, self.failed.emit, pool=self._pool, context=self
        )

    def index(self, folders: Sequence[str] | None = None, retry_errors: bool = False) -> None:
        """Index ``folders`` (added to the library if new) or, with None, every folder of the library;
        ``retry_errors``: read the unreadable files again too. During a run the request waits for it
        to end (as an ordinary update)."""
        wanted = {os.path.abspath(f) for f in folders} if folders is not None else set()
        if self._state is not State.IDLE:
            if folders is None or self._queued == set():
                self._queued = set()
            else:
                self._queued = (self._queued or set()) | wanted
            return
        self._cancel.clear()
        self._resume.set()
        self.last_progress = None
        self._set_state(State.RUNNING)
        chosen = sorted(wanted) if folders is not None else None
        self._job = chosen
        run_task(
            self._guarded(lambda: self._run(chosen, retry_errors)),
            self._on_done,
            self._on_failed,
            pool=self._pool,
            context=self,
        )

    def check_health(self) -> None:
        """SQLite's quick check of the library, in the background (a second or more on a large library
        whose file is not in memory: see ``integrity``); damage arrives as ``failed``, in words."""
        run_task(self._guarded(self._check), lambda _: None, self.failed.emit, pool=self._pool, context=self)

    def retry_lost(self) -> None:
        """Redo the run that lost the database, once (the window calls it after the engine reopened)."""
        lost, self._lost = self._lost, None
        if lost is not None and self._state is State.IDLE:
            self._retried = True
            self.index(lost.folders)

    def remove_folders(self, folders: Sequence[str]) -> None:
        """Forget folders and their photos (the files are not touched)."""
        paths = list(folders)
        run_task(
            self._guarded(lambda: self._remove(paths)),
            self._on_removed,
            self.failed.emit,
            pool=self._pool,
            context=self,
        )

    def pause(self) -> None:
        if self._state is State.RUNNING:
            self._resume.clear()
            self._set_state(State.PAUSED)

    def resume(self) -> None:
        if self._state is State.PAUSED:
            self._resume.set()
            self._set_state(State.RUNNING)

    def cancel(self) -> None:
        if self._state in (State.RUNNING, State.PAUSED):
            self._queued = None
            self._cancel.set()
            self._resume.set()
            self._set_state(State.CANCELLING)

    def shutdown(self) -> None:
        """Cancel a run, stop a health check, and wait for the worker (the window is closing)."""
        self.cancel()
        wait = getattr(self._pool, "waitForDone", None)
        if wait is None:
            return
        for _ in range(300):  # 30 s at most, as before
            # A quick check of a large library can read for seconds: stop it (again, in case the first
            # interrupt came between two of its statements, where SQLite ignores one).
            checking = self._checking
            if checking is not None:
                checking.interrupt()
            if wait(100):
                return

    def _on_done(self, outcome: IndexOutcome) -> None:
        self._retried = False
        self._set_state(State.IDLE)
        self.folders.emit(outcome.folders)
        self.finished.emit(outcome)
        self._next()

    def _on_failed(self, error: BaseException) -> None:
        self._set_state(State.IDLE)
        if is_io_error(error) and not self._retried:
            self._lost = LostRun(self._job)
            self.database_lost.emit(error)
            return
        self._retried = False
        self.failed.emit(error)
        self.refresh_folders()
        self._queued = None

    def _on_removed(self, outcome: IndexOutcome) -> None:
        self.folders.emit(outcome.folders)
        self.finished.emit(outcome)

    def _next(self) -> None:
        queued, self._queued = self._queued, None
        if queued is not None:
            self.index(sorted(queued) if queued else None)

    # ----- worker thread ----------------------------------------------------------------------------
    def _guarded(self, work: Callable[[], T]) -> Callable[[], T]:
        """``work`` with the library's environment failures in words: a damaged page (which marks the
        library), a full disk, a busy or unopenable database (``app.library.faults``)."""

        def guarded() -> T:
            with library_faults(self.db_path):  # a full disk too, as the CLI says it
                return work()

        return guarded

    def _statuses(self) -> list[FolderStatus]:
        db = open_db(self.db_path)
        try:
            return folder_statuses(db, self.holder.identity() or "")
        finally:
            db.close()

    def _check(self) -> None:
        if not self.db_path.is_file():
            return
        db = open_db(self.db_path, writable=False)
        self._checking = db.conn
        try:
            report = check_library(self.db_path, db.conn)
        except sqlite3.OperationalError as err:
            if "interrupted" in str(err):
                return  # the window is closing
            raise
        finally:
            self._checking = None
            db.close()
        if not report.ok:
            raise damaged_error(self.db_path, report.problems[0])

    def _on_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress.emit(progress)  # queued to the GUI thread: this object lives there
        while not self._resume.is_set() and not self._cancel.is_set():
            self.parked.set()
            self._resume.wait(0.1)
        self.parked.clear()

    def _failures(self) -> list[tuple[str, str]]:
        db = open_db(self.db_path)
        try:
            return store.failed_photos(db)
        finally:
            db.close()

    def _run(self, folders: list[str] | None, retry_errors: bool = False) -> IndexOutcome:
        from app.index_library import index_library

        runtime = self.holder.get()
        db = open_db(self.db_path)
        try:
            update = index_library(
                db,
                self.db_path,
                runtime,
                folders,
                self.thumbs_dir,
                self.batch_size,
                self._on_progress,
                self._cancel,
                retry_errors=retry_errors,
            )
            return IndexOutcome(update.report, folder_statuses(db, runtime.identity))
        finally:
            db.close()

    def _remove(self, folders: list[str]) -> IndexOutcome:
        from app.index_library import forget_folders

        db = open_db(self.db_path)
        try:
            identity = self.holder.identity() or ""
            forget_folders(db, self.db_path, identity, folders)
            return IndexOutcome(None, folder_statuses(db, identity))
        finally:
            db.close()
