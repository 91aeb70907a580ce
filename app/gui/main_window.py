"""The main window: the library on the left, the query and the results grid, one result large.

The window wires the parts together and owns their lifetimes; it does no database or model work
itself. The search engine and the indexer run on their own worker threads, thumbnails and grounding
on the global pool, the demo's photos in a child process.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QModelIndex, QObject, QPoint, QSize, Qt, QThreadPool, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.gui.bundles import ModelHolder
from app.gui.errors import short, show_error
from app.gui.file_dialogs import choose_file
from app.gui.indexing import FolderStatus, IndexController, IndexOutcome, State
from app.gui.library_panel import LibraryPanel, run_summary
from app.gui.models_dialog import ModelsDialog
from app.gui.processes import Step, StepProcess
from app.gui.relearn_dialog import RelearnDialog
from app.gui.result_view import ResultView, open_path
from app.gui.results_model import PHOTO_MIME, ResultsModel
from app.gui.search_engine import LibraryState, Page, ResultRow, SearchEngine, SearchOutcome, SearchRequest
from app.gui.search_panel import IMAGE_FILTER, RefineBox, SearchPanel, preview
from app.gui.settings import Prefs, data_dir
from app.gui.tasks import Pool, run_task
from app.gui.teach_dialog import TeachDialog
from app.gui.teaching import TeachPhoto, bundle_refusal, taught_photos
from app.gui.things_panel import ThingsPanel
from app.gui.thumb_delegate import CELL, THUMB, ThumbDelegate
from app.gui.thumb_loader import ThumbLoader
from app.library.indexer import Progress
from app.library.scan import is_photo_name
from core.errors import KnownError

DEMO_PHOTOS = 200
REFRESH_WHILE_INDEXING_S = 15.0  # how often a long index run makes its photos searchable
# ... or less often when reloading takes long: at most about a tenth of the time goes to reloads.
RELOAD_SHARE = 0.1
# New photos appear without Update: the folders are rescanned when the window opens and then this
# often. Chosen over watching folders by measuring: a scan of 100,000 unchanged photos costs 1.1-1.8 s
# of one core (a stat per file, docs/benchmarks.md), so every 10 minutes is about 0.3 % of a core,
# with no per-folder watch limits (inotify's default is 8,192 watches) and no platform differences.
RESCAN_EVERY_S = 600.0
# The first rescan waits this long after the index is loaded: started with the load, it delayed "ready
# to search" at 100,000 photos by 0.9 s (scripts/bench_gui.py, 4.1 s against 3.3 s on a loaded machine).
FIRST_RESCAN_DELAY_MS = 5000


def default_demo_command() -> list[str]:
    return [sys.executable, "-m", "app.gui.demo_photos"]


SHORTCUTS = (
    ("Ctrl+F", "Go to the search box"),
    ("Down or Enter (in the search box)", "Go to the results"),
    ("Arrow keys (in the results)", "Move between photos"),
    ("Space", "Preview the photo: show it large with its box"),
    ("Left / Right (in the preview)", "Previous / next photo"),
    ("Enter (in the preview)", "Open the photo in the system's viewer"),
    ("Escape (in the preview)", "Back to the results"),
    ("Ctrl+Shift+S", "Find photos similar to the current one"),
    ("+ / − (in the preview)", "Mark the photo right / wrong: the results move toward the right ones"),
    ("Ctrl+A, Shift/Ctrl+click", "Select several photos (right-click for what to do with them)"),
    ("Ctrl+O", "Add a folder"),
)


def dropped_photo_ids(mime: QMimeData) -> list[int]:
    """Library photo ids dragged from the results grid."""
    if not mime.hasFormat(PHOTO_MIME):
        return []
    text = bytes(mime.data(PHOTO_MIME).data()).decode()
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def dropped_paths(mime: QMimeData) -> tuple[list[str], list[str]]:
    """Local folders and image files among a drop's URLs (none for photos dragged from the grid)."""
    folders, images = [], []
    if mime.hasFormat(PHOTO_MIME):
        return folders, images
    for url in mime.urls() if mime.hasUrls() else []:
        if not url.isLocalFile():
            continue
        path = url.toLocalFile()
        if os.path.isdir(path):
            folders.append(path)
        elif os.path.isfile(path) and is_photo_name(path):
            images.append(path)
    return folders, images


class MainWindow(QMainWindow):
    def __init__(
        self,
        db_path: Path,
        holder: ModelHolder,
        prefs: Prefs,
        *,
        pool: Pool | None = None,
        engine_pool: Pool | None = None,
        index_pool: Pool | None = None,
        import_command: list[str] | None = None,
        demo_command: list[str] | None = None,
        teach_program: list[str] | None = None,
        index_batch_size: int = 16,
        offer_demo: bool = True,
        rescan_every_s: float | None = RESCAN_EVERY_S,
    ) -> None:
        """``pool``/``engine_pool``/``index_pool``: where thumbnails and grounding, searches, and index
        runs go (tests pass synchronous pools); the commands replace child processes in tests
        (``teach_program``: what runs before ``teach NAME ...``, by default this Python's ``multigrain``);
        ``rescan_every_s``: how often the folders are looked at for new photos (None: only on Update)."""
        super().__init__()
        self.setWindowTitle("Multigrain")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.prefs = prefs
        self.holder = holder
        self.db_path = Path(db_path)
        self.import_command = import_command
        self.demo_command = demo_command or default_demo_command()
        self.teach_program = teach_program
        self.teach_dialog: TeachDialog | None = None
        self.relearn_dialog: RelearnDialog | None = None
        self.offer_demo = offer_demo
        self.pool = pool
        self.demo: StepProcess | None = None
        self.models_dialog: ModelsDialog | None = None
        self.request: SearchRequest | None = None
        self._last_refresh = 0.0
        self._folders_known = False
        self.search_started = self.results_at = 0.0  # perf_counter times, for measurements
        self._quiet_run = False  # the running index run is a rescan: say something only if it found some
        self._focus_when_shown = False  # Enter was pressed while its search ran: focus its results
        self._keep_open: int | None = None  # the photo to keep open in the preview after a mark
        self.rescan_timer = QTimer(self)
        self.rescan_timer.setObjectName("rescanTimer")
        self.rescan_timer.timeout.connect(self.rescan)
        self.first_rescan_delay_ms = FIRST_RESCAN_DELAY_MS
        if rescan_every_s is not None:
            self.rescan_timer.setInterval(round(rescan_every_s * 1000))

        self.engine = SearchEngine(self.db_path, holder, engine_pool, parent=self)
        self.indexer = IndexController(self.db_path, holder, index_pool, index_batch_size, parent=self)
        self.thumbs = ThumbLoader(THUMB, pool=pool, parent=self)
        self.model = ResultsModel(self.thumbs, self.engine.fetch_page, parent=self)

        self._build()
        self._menus()
        self._connect()
        self._restore()
        # The library's quick check reads the whole file: after the first load, so it never delays the
        # window's first search (integrity.py has its cost).
        self.engine.ready.connect(
            lambda _state: self.indexer.check_health(), Qt.ConnectionType.SingleShotConnection
        )
        self.engine.unavailable.connect(
            lambda _error: self.indexer.check_health(), Qt.ConnectionType.SingleShotConnection
        )
        self.engine.load()
        self.indexer.refresh_folders()
        self.things.refresh()

    # ----- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.refine = RefineBox(self.prefs)
        self.search = SearchPanel(self.refine)
        self.search.query.setAcceptDrops(False)  # a dropped file is a search by example, not text
        self.models_button = QPushButton("Models…")
        self.models_button.setObjectName("modelsButton")
        self.models_button.setMinimumHeight(34)
        self.models_button.clicked.connect(self.open_models)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.models_button)

        self.library = LibraryPanel(self.indexer, self.prefs)
        sidebar = QWidget()
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 6, 0)
        side.addWidget(self.library, 1)
        self.things = ThingsPanel(self.db_path, pool=self.pool, bundle=lambda: self.holder.bundle)
        self.things_tab = self.library.add_tab(self.things, "Things")
        self.things.counted.connect(self._count_things)
        side.addWidget(self.refine)
        sidebar.setMinimumWidth(250)

        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.grid = QListView()
        self.grid.setObjectName("results")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setGridSize(QSize(CELL.width() + 4, CELL.height() + 4))
        self.grid.setSpacing(0)
        self.grid.setWordWrap(False)
        self.grid.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.installEventFilter(self)
        self.grid.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.grid.verticalScrollBar().setSingleStep(24)
        self.grid.setItemDelegate(ThumbDelegate(self.grid))
        self.grid.setModel(self.model)
        results = QWidget()
        column = QVBoxLayout(results)
        column.setContentsMargins(6, 0, 6, 0)
        column.addWidget(self.summary)
        column.addWidget(self.grid, 1)

        self.result_view = ResultView(self.holder, self.pool)
        self.result_view.db_path = str(self.db_path)
        self.result_view.hide()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(sidebar)
        self.splitter.addWidget(results)
        self.splitter.addWidget(self.result_view)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([300, 700, 0])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.addLayout(top)
        layout.addSpacing(6)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.model_label = QLabel()
        self.model_label.setObjectName("modelStatus")
        self.statusBar().addPermanentWidget(self.model_label)
        self._show_summary()

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        add = QAction("&Add folder…", self, shortcut=QKeySequence.StandardKey.Open)
        add.triggered.connect(self.library.choose_folder)
        file.addAction(add)
        by_image = QAction("Search by &image…", self)
        by_image.triggered.connect(self.search.choose_image)
        file.addAction(by_image)
        file.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file.addAction(quit_action)
        library = self.menuBar().addMenu("&Library")
        update = QAction("&Update all folders", self)
        update.triggered.connect(lambda: self.indexer.index(None))
        library.addAction(update)
        find = QAction("&Find", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.search.query.setFocus())
        library.addAction(find)
        self.similar_action = QAction("Find &similar", self, shortcut=QKeySequence("Ctrl+Shift+S"))
        self.similar_action.triggered.connect(self._similar_to_current)
        library.addAction(self.similar_action)
        library.addSeparator()
        self.restore_action = QAction("&Restore the last search on start", self, checkable=True)
        self.restore_action.setChecked(self.prefs.restore_query)
        self.restore_action.toggled.connect(lambda on: setattr(self.prefs, "restore_query", on))
        library.addAction(self.restore_action)
        models = self.menuBar().addMenu("&Models")
        manage = QAction("&Manage models…", self)
        manage.triggered.connect(self.open_models)
        models.addAction(manage)
        help_menu = self.menuBar().addMenu("&Help")
        keys = QAction("&Keyboard shortcuts", self, shortcut=QKeySequence.StandardKey.HelpContents)
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)

    def _connect(self) -> None:
        self.search.requested.connect(self.run_search)
        self.search.cleared.connect(self.clear_results)
        self.engine.results.connect(self.show_results)
        self.engine.browsed.connect(self.show_results)
        self.engine.page.connect(self._page)
        self.engine.failed.connect(self._search_failed)
        self.engine.ready.connect(self._engine_ready)
        self.engine.unavailable.connect(self._engine_unavailable)
        self.indexer.folders.connect(self._folders)
        self.indexer.finished.connect(self._indexed)
        self.indexer.failed.connect(lambda err: show_error(self, err, "Indexing"))
        self.indexer.database_lost.connect(self._database_lost)
        self.engine.reopened.connect(lambda _state: self.indexer.retry_lost())
        self.indexer.progress.connect(self._index_progress)
        self.library.add_requested.connect(self.add_folders)
        self.grid.activated.connect(self.open_result)
        self.grid.doubleClicked.connect(self.open_result)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.result_view.step.connect(self.step_result)
        self.result_view.closed.connect(self.close_result)
        self.result_view.similar.connect(self.find_similar)
        self.result_view.failed.connect(self.notify)
        self.result_view.caption_edited.connect(self.indexer.save_caption)
        self.result_view.marked.connect(lambda photo_id, mark: self.mark_photos([photo_id], mark))
        self.search.marks_changed.connect(self._marks_changed)
        self.indexer.caption_saved.connect(self._caption_saved)
        self.search.into_results.connect(self.focus_results)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.result_view.teach.connect(self.open_teach)
        self.things.search_requested.connect(self.search_for_name)
        self.things.remove_photo_requested.connect(self.remove_name_photo)
        self.things.add_photo_requested.connect(self.add_name_photo)
        self.things.changed.connect(self._names_changed)
        self.things.failed.connect(self.notify)
        self.things.said.connect(self.notify)

    def _restore(self) -> None:
        geometry = self.prefs.window_state("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1360, 860)
        splitter = self.prefs.window_state("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
            self.result_view.hide()
        if self.prefs.restore_query and self.prefs.last_query:
            self.search.query.setText(self.prefs.last_query)  # searches once the index is ready

    # ----- searching -------------------------------------------------------------------------------
    def run_search(self, request: SearchRequest) -> None:
        self.request = request
        self.search_started = time.perf_counter()
        self.engine.search(request)
        if not self.model.rowCount():
            self.summary.setText("Searching…")

    def clear_results(self) -> None:
        """Nothing to search for: show the library as a timeline (or folder by folder)."""
        self.request = None
        self.close_result()
        self.browse()

    def browse(self) -> None:
        self.search_started = time.perf_counter()
        self.engine.search(self.search.current())

    def show_results(self, outcome: SearchOutcome) -> None:
        if outcome.refined and self.result_view.isVisible() and self.result_view.row is not None:
            # The same search re-ordered a moment after it was shown: the photo open stays open.
            self._keep_open = self.result_view.row.photo_id
        self.model.set_outcome(outcome)
        self.results_at = time.perf_counter()
        self._show_summary(outcome)
        if self._focus_when_shown:
            self.focus_results()
        if self.result_view.isVisible():
            # After a mark, the photo just marked stays open (it moved in the ranking, or left it).
            kept = self._index_of_photo(self._keep_open) if self._keep_open is not None else QModelIndex()
            first = kept if kept.isValid() else self._first_photo_index()
            if first.isValid() and not outcome.browsing:
                self.grid.setCurrentIndex(first)
                self.open_result(first)
            else:
                self.close_result()
        self._keep_open = None

    def _index_of_photo(self, photo_id: int) -> QModelIndex:
        for row in range(self.model.rowCount()):
            shown = self.model.row_at(row)
            if shown is not None and shown.photo_id == photo_id:
                return self.model.index(row, 0)
        return QModelIndex()

    def _first_photo_index(self) -> QModelIndex:
        for row in range(min(self.model.rowCount(), 2)):  # at most one heading comes first
            if not self.model.is_heading(row):
                return self.model.index(row, 0)
        return QModelIndex()

    def focus_results(self) -> None:
        """Down or Enter in the search box: the keys go on to the results, the first photo current (the
        new results' first photo when a search is still running)."""
        self._focus_when_shown = self.engine.latest != self.model.generation
        first = self._first_photo_index()
        if not first.isValid():
            return
        self.grid.setFocus()
        if not self.grid.currentIndex().isValid() or self.model.is_heading(self.grid.currentIndex().row()):
            self.grid.setCurrentIndex(first)

    def _page(self, page: Page) -> None:
        self.model.add_page(page)

    def _search_failed(self, generation: int, error: BaseException) -> None:
        if generation != self.engine.latest:
            return
        self.summary.setText(short(error))
        if not isinstance(error, KnownError):  # a bug: the details go behind the dialog's button
            show_error(self, error, "Search")

    def _show_summary(self, outcome: SearchOutcome | None = None) -> None:
        if outcome is not None and outcome.browsing:
            self.summary.setText(self._browse_summary(outcome))
            return
        if outcome is None:
            state = self.engine.state
            if state is not None and state.photos == 0:
                self.summary.setText("No photos are searchable yet: add a folder of photos to the library.")
            else:
                self.summary.setText(
                    "Type what you are looking for, or drop a photo here to find similar ones. "
                    "Put a minus before a word to exclude it."
                )
            return
        cut = outcome.cutoff
        like = f"Like {outcome.request.similar_name}: " if outcome.request.similar_to is not None else ""
        if outcome.matched == 0 and outcome.considered == 0:
            text = "No photos to search in (check the folder and date filters)."
        elif like and not outcome.request.text.strip():
            text = f"{outcome.considered:,} photos, most alike first"  # no cutoff: app.similar says why
        elif cut.source == "none" and outcome.matched == outcome.considered:
            text = f"{outcome.considered:,} photos, best first"  # no line drawn (Strictness, or names alone)
        elif cut.source == "none":
            text = f"{outcome.matched:,} of {outcome.considered:,} photos, best first"
        elif outcome.matched == 0:
            text = f"No clear match among {outcome.considered:,} photos; the closest ones are below"
        else:
            noun = "match" if outcome.matched == 1 else "matches"
            text = f"{outcome.matched:,} {noun} of {outcome.considered:,} photos"
            if outcome.weaker:
                text += ", then weaker matches"
        self.summary.setText(f"{like}{text} · {outcome.elapsed_ms:.0f} ms")

    @staticmethod
    def _browse_summary(outcome: SearchOutcome) -> str:
        if outcome.matched == 0:
            return "No photos here yet (or none in the folder and dates chosen): add a folder of photos."
        how = "folder by folder" if outcome.request.browse == "folder" else "newest first, by month"
        return (
            f"All {outcome.matched:,} photos, {how}. Type what you are looking for, or drop a photo "
            "here to find similar ones."
        )

    # ----- one result ------------------------------------------------------------------------------
    def open_result(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row()) if index.isValid() else None
        if row is None:
            return
        if not self.result_view.isVisible():
            self.result_view.show()
            sizes = self.splitter.sizes()
            rest = sum(sizes) - sizes[0]
            # Room for three columns of results when there is space; the photo gets the rest.
            grid = max(rest // 2, min(rest - 420, 3 * self.grid.gridSize().width() + 48))
            self.splitter.setSizes([sizes[0], grid, rest - grid])
        request = self.request
        like = request.similar_name if request is not None and request.similar_to is not None else ""
        self.result_view.show_row(row, request.text if request else "", request is not None, like)
        self.result_view.show_mark(self.model.mark_of(row.photo_id))
        self.result_view.setFocus()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.result_view.isVisible() and current.isValid():
            self.open_result(current)

    def step_result(self, delta: int) -> None:
        current = self.grid.currentIndex()
        row = (current.row() if current.isValid() else -1) + delta
        if self.model.canFetchMore(QModelIndex()) and row >= self.model.rowCount() - 2:
            self.model.fetchMore(QModelIndex())
        if self.model.is_heading(row):
            row += delta  # headings are stepped over
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row, 0)
            self.grid.setCurrentIndex(index)  # opens it through ``_current_changed``
            self.grid.scrollTo(index)
            self.result_view.setFocus()

    def close_result(self) -> None:
        if self.result_view.isVisible():
            self.result_view.hide()
            self.grid.setFocus()

    # ----- from a result ---------------------------------------------------------------------------
    def selected_rows(self) -> list[ResultRow]:
        """The selected photos in grid order (the current one when nothing is selected)."""
        indexes = sorted(self.grid.selectionModel().selectedIndexes(), key=lambda i: i.row())
        if not indexes and self.grid.currentIndex().isValid():
            indexes = [self.grid.currentIndex()]
        return [row for i in indexes if (row := self.model.row_at(i.row())) is not None]

    def find_similar(self, row: ResultRow) -> None:
        """Photos like ``row``, from its stored vectors, through the search engine's one door."""
        self.search.show_similar(row.photo_id, row.path)
        self.request = self.search.current()
        self.search_started = time.perf_counter()
        self.engine.find_similar(row, self.request)

    def mark_photos(self, photo_ids: list[int], mark: bool | None) -> None:
        """Mark photos of the results right (True) or wrong (False), or unmark them (None): the query
        moves toward the right ones and away from the wrong ones, and the results follow at once."""
        if self.request is None:
            return  # browsing: there is no query to move
        if self.result_view.isVisible() and self.result_view.row is not None:
            self._keep_open = self.result_view.row.photo_id
        self.search.set_marks(photo_ids, mark)

    def _marks_changed(self, marks: dict[int, bool]) -> None:
        self.model.set_marks(marks)
        if self.result_view.row is not None:
            self.result_view.show_mark(marks.get(self.result_view.row.photo_id))

    def _similar_to_current(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.find_similar(rows[0])

    def open_selected(self) -> None:
        for row in self.selected_rows():
            if problem := open_path(row.path):
                self.notify(problem)
                return

    def show_selected_folders(self) -> None:
        folders = dict.fromkeys(os.path.dirname(row.path) for row in self.selected_rows())
        for folder in folders:
            if problem := open_path(folder, "folder"):
                self.notify(problem)
                return

    def copy_selected_paths(self) -> None:
        paths = [row.path for row in self.selected_rows()]
        QGuiApplication.clipboard().setText("\n".join(paths))
        self.statusBar().showMessage(f"Copied {len(paths)} path{'s' if len(paths) != 1 else ''}", 4000)

    def _caption_saved(self, photo_id: int, text: str, sidecar: str | None) -> None:
        """Searchable at once: the index reloads (and the current search runs again) with the caption."""
        self.result_view.caption_saved(photo_id, text, sidecar)
        where = f" and written to {os.path.basename(sidecar)}" if sidecar else ""
        self.statusBar().showMessage(f"Caption {'saved' if text else 'removed'}{where}: searchable now", 8000)
        self.engine.load(refresh=True)

    def notify(self, message: str) -> None:
        """A failure the person should see, in the window (not only on stderr)."""
        self.statusBar().showMessage(message, 15000)

    def _context_menu(self, point: QPoint) -> None:
        menu = self.result_menu()
        if menu is not None:
            menu.popup(self.grid.viewport().mapToGlobal(point))

    def result_menu(self) -> QMenu | None:
        """What can be done with the selected photos (None: nothing selected)."""
        rows = self.selected_rows()
        if not rows:
            return None
        many = len(rows) > 1
        menu = QMenu(self)
        menu.setObjectName("resultMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        similar = menu.addAction("Find similar", lambda: self.find_similar(rows[0]))
        similar.setEnabled(not many)
        if self.request is not None:  # a search's results: marks move its query
            ids = [row.photo_id for row in rows]
            marks = {self.model.mark_of(pid) for pid in ids}
            menu.addSeparator()
            menu.addAction("Mark as right", lambda: self.mark_photos(ids, True)).setEnabled(marks != {True})
            menu.addAction("Mark as wrong", lambda: self.mark_photos(ids, False)).setEnabled(marks != {False})
            unmark = menu.addAction("Remove the mark" if not many else "Remove the marks")
            unmark.triggered.connect(lambda: self.mark_photos(ids, None))
            unmark.setEnabled(marks != {None})
        menu.addSeparator()
        teach = menu.addAction("Teach a name…", lambda: self.open_teach(rows[0]))
        teach.setEnabled(not many)
        menu.addSeparator()
        menu.addAction(f"Open {len(rows)} photos" if many else "Open", self.open_selected)
        menu.addAction("Show in folder", self.show_selected_folders)
        menu.addAction(f"Copy {len(rows)} paths" if many else "Copy path", self.copy_selected_paths)
        return menu

    def show_shortcuts(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setObjectName("shortcutsBox")
        box.setWindowTitle("Keyboard shortcuts")
        rows = "".join(
            f"<tr><td><b>{key}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for key, what in SHORTCUTS
        )
        box.setText(f"<table>{rows}</table>")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Space in the grid previews the current photo (the list view would toggle its selection)."""
        space = isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Space
        current = self.grid.currentIndex()
        if watched is self.grid and event.type() == QEvent.Type.KeyPress and space and current.isValid():
            self.open_result(current)
            return True
        return super().eventFilter(watched, event)

    # ----- taught names ----------------------------------------------------------------------------
    def open_teach(self, row: ResultRow) -> TeachDialog | None:
        """The teach dialog for ``row``'s photo; a sentence instead when this model cannot learn names."""
        return self.open_teach_path(row.path)

    def add_name_photo(self, name: str, path: str | None = None) -> TeachDialog | None:
        """Another photo for ``name`` (the Things panel's Add photo…): ``path``, or one the person chooses
        (any photo file: it need not be in the library), in the teach dialog with the name filled in."""
        path = path or choose_file(self, f"A photo of {name}", "", IMAGE_FILTER)
        if not path:
            return None
        dialog = self.open_teach_path(path)
        if dialog is not None and not dialog.running:
            dialog.name.setCurrentText(name)  # its kind comes with it, and the box is proposed for it
        return dialog

    def open_teach_path(self, path: str) -> TeachDialog | None:
        """The teach dialog for the photo at ``path``; a sentence instead when this model cannot learn
        names (the running one is raised instead, while it teaches)."""
        if self.teach_dialog is not None and self.teach_dialog.running:
            self.teach_dialog.raise_()
            return self.teach_dialog
        if problem := bundle_refusal(self.holder.bundle):
            show_error(self, KnownError(problem), "Teach a name")
            return None
        assert self.holder.bundle is not None
        dialog = TeachDialog(
            path,
            self.holder,
            self.db_path,
            self.holder.bundle,
            self.things.rows,
            pool=self.pool,
            program=self.teach_program,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.taught.connect(self._taught)
        dialog.destroyed.connect(lambda: setattr(self, "teach_dialog", None))
        self.teach_dialog = dialog
        dialog.open()
        return dialog

    def remove_name_photo(self, name: str, photo: str) -> None:
        """Teach ``name`` again from its photos less ``photo`` (the Things panel asked first)."""
        if self.relearn_dialog is not None or (self.teach_dialog is not None and self.teach_dialog.running):
            self.notify("A name is being taught already: wait for it to finish, then remove the photo.")
            return
        if problem := bundle_refusal(self.holder.bundle):
            show_error(self, KnownError(problem), "Remove a photo")
            return
        db_path = self.db_path
        run_task(
            lambda: taught_photos(db_path, name, photo),
            lambda others: self._relearn(name, photo, others),
            lambda err: self.notify(f"Could not read {name}'s photos: {short(err)}"),
            pool=self.pool,
            context=self,
        )

    def _relearn(self, name: str, photo: str, others: list[TeachPhoto]) -> None:
        row = next((r for r in self.things.rows if r.name == name), None)
        if row is None:
            self.notify(f"{name} is not a taught name any more.")
            return
        if not others:
            show_error(
                self,
                KnownError(
                    f"The other photos {name} was taught from are not on disk any more, so it cannot be "
                    "taught again without this one. Forget the name, or restore its photos."
                ),
                "Remove a photo",
            )
            return
        assert self.holder.bundle is not None
        dialog = RelearnDialog(
            name, row.kind, photo, others, self.db_path, self.holder.bundle, self.teach_program, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.relearned.connect(self._taught)
        dialog.destroyed.connect(lambda: setattr(self, "relearn_dialog", None))
        self.relearn_dialog = dialog
        dialog.open()
        dialog.start()

    def _taught(self, name: str, sentence: str) -> None:
        self.things.select_next(name)
        self._names_changed(sentence)
        self.library.tabs.setCurrentIndex(self.things_tab)  # where the new name is, with its actions

    def _count_things(self, count: int) -> None:
        self.library.tabs.setTabText(self.things_tab, f"Things ({count})" if count else "Things")

    def _names_changed(self, sentence: str) -> None:
        """A name was taught, renamed or forgotten: search reads the names again (and runs again)."""
        self.statusBar().showMessage(sentence, 15000)
        self.things.refresh()
        self.engine.load(refresh=True)

    def search_for_name(self, name: str) -> None:
        """The name in the search box (searching starts as it would when typed)."""
        self.search.query.setText(name)
        self.search.query.setFocus()

    # ----- the library -----------------------------------------------------------------------------
    def add_folders(self, folders: list[str]) -> None:
        if self.holder.bundle is None:
            show_error(self, _no_model())
            return
        self.statusBar().showMessage(f"Adding {', '.join(os.path.basename(f) or f for f in folders)}…", 5000)
        self.indexer.index(folders)

    def _folders(self, folders: list[FolderStatus]) -> None:
        self.refine.set_folders(folders)
        first = not self._folders_known
        self._folders_known = True
        if folders:
            self._start_rescanning()
        if first and not folders and self.offer_demo and not self.prefs.demo_offered:
            QTimer.singleShot(0, self, self.offer_demo_library)

    def rescan(self) -> None:
        """Look for new, changed and removed photos in every folder, quietly (no status unless found)."""
        if (
            self.holder.bundle is None
            or self.indexer.state is not State.IDLE
            or not self.library.folder_paths()
        ):
            return
        self._quiet_run = True
        self.indexer.index(None)

    def _index_progress(self, progress: Progress) -> None:
        # A long first index makes its photos searchable as it goes: its first committed photos at once
        # (the newest, so recent photos are found within seconds), then every REFRESH_WHILE_INDEXING_S,
        # or less often when reloading the index (which rebuilds its cache) takes long.
        state = self.engine.state
        if state is None or progress.searchable <= state.photos:
            return
        now = time.monotonic()
        interval = max(REFRESH_WHILE_INDEXING_S, state.load_ms / 1e3 / RELOAD_SHARE)
        if self._last_refresh == 0.0 or now - self._last_refresh > interval:
            self._last_refresh = now
            self.engine.load(refresh=True)

    def _indexed(self, outcome: IndexOutcome) -> None:
        self._last_refresh = 0.0
        quiet, self._quiet_run = self._quiet_run, False
        if quiet and outcome.report is not None:
            c = outcome.report.counts
            if c.total == c.unchanged and not c.removed:
                return  # a rescan that found nothing new: nothing to say, nothing to reload
        self.statusBar().showMessage(run_summary(outcome), 15000)
        if outcome.report is not None and outcome.report.problems:
            problem = outcome.report.problems[0]
            self.statusBar().showMessage(
                run_summary(outcome) + f" — e.g. {os.path.basename(problem.path)}: {problem.message}", 15000
            )
        self.engine.load(refresh=True)

    def _database_lost(self, _error: BaseException) -> None:
        self.statusBar().showMessage("The library's files changed under the window: reopening it…", 10000)
        self.engine.reopen()  # closes this process's other connection; then the indexer runs again

    # ----- the engine ------------------------------------------------------------------------------
    def _start_rescanning(self) -> None:
        """Once the index is loaded and the folders are known: rescan soon (photos added while the app
        was closed), then every ``rescan_every_s``."""
        ready = self.engine.state is not None and self._folders_known and self.library.folder_paths()
        if ready and self.rescan_timer.interval() > 0 and not self.rescan_timer.isActive():
            self.rescan_timer.start()
            QTimer.singleShot(self.first_rescan_delay_ms, self, self.rescan)

    def _engine_ready(self, state: LibraryState) -> None:
        self._start_rescanning()
        self.model_label.setText(f"{state.identity} · {state.photos:,} photos searchable")
        self.refine.set_calibrated_z(state.calibrated_z, state.tuned)
        self.refine.set_default_image_weight(state.view.image_weight)
        self.refine.set_span(state.first_day, state.last_day)
        self.result_view.view_settings = state.view
        if self.request is not None:
            self.run_search(self.request)  # the index changed: the same query, fresh results
        elif self.search.current().is_empty:
            self.browse()  # the library's timeline, fresh

    def _engine_unavailable(self, error: BaseException) -> None:
        text = short(error)
        self.model_label.setText("no model")
        self.summary.setText(text)
        self.statusBar().showMessage(text)

    # ----- models ----------------------------------------------------------------------------------
    def open_models(self) -> ModelsDialog:
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(
                self.holder, self.prefs, self.import_command, self.pool, self, db_path=self.db_path
            )
            self.models_dialog.activated.connect(self.use_bundle)
            self.models_dialog.fine_tuned.connect(self.use_fine_tuned)
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def use_bundle(self, bundle: Path, reindex: bool = False) -> bool:
        """Switch the active model (False: it was not switched). Vectors belong to one model: photos not
        indexed with it are offered a re-index, or indexed at once with ``reindex``."""
        if self.indexer.state is not State.IDLE:
            show_error(self, _busy())
            return False
        if self.holder.bundle is not None and bundle.resolve() == self.holder.bundle.resolve():
            return False
        self.prefs.bundle = bundle
        self.holder.set_bundle(bundle)
        self.engine.load(refresh=True)
        if reindex:
            self.indexer.index(None)
            return True
        self.indexer.folders.connect(self._offer_reindex, Qt.ConnectionType.SingleShotConnection)
        self.indexer.refresh_folders()
        return True

    def use_fine_tuned(self, bundle: Path) -> None:
        """A model fine-tuned on this library: the person asked for it, so it becomes the active model
        and the library is indexed with it without a question (searching works meanwhile)."""
        if self.use_bundle(bundle, reindex=True):
            self.statusBar().showMessage(
                f"Fine-tuned model {bundle.name} in use: indexing your photos with it"
            )

    def _offer_reindex(self, folders: list[FolderStatus]) -> None:
        missing = sum(f.pending for f in folders)
        if not missing:
            return
        box = QMessageBox(self)
        box.setObjectName("reindexBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Index with the new model?")
        box.setText(f"{missing:,} photos are not indexed with this model yet, so search cannot find them.")
        box.setInformativeText("Index them now? Searching works meanwhile.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: self.indexer.index(None))
        box.open()

    # ----- the first run ---------------------------------------------------------------------------
    def offer_demo_library(self) -> None:
        self.prefs.demo_offered = True
        box = QMessageBox(self)
        box.setObjectName("demoBox")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Welcome to Multigrain")
        box.setText("Your library is empty.")
        box.setInformativeText(
            f"Make a demo library of {DEMO_PHOTOS} generated photos to try searching? You can also add "
            "your own folders at any time (File ▸ Add folder, or drop a folder onto the window)."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(self.make_demo_library)
        box.open()

    def make_demo_library(self) -> None:
        if self.holder.bundle is None:
            show_error(self, _no_model())
            return
        out = data_dir() / "demo"
        step = Step("Making the demo photos", [*self.demo_command, str(out), "--photos", str(DEMO_PHOTOS)])
        self.demo = StepProcess([step], parent=self)
        self.demo.progress.connect(
            lambda fraction, title: self.statusBar().showMessage(f"{title}: {max(fraction, 0):.0%}")
        )
        self.demo.finished.connect(lambda ok, message: self._demo_made(ok, message, out / "photos"))
        self.demo.start()

    def _demo_made(self, ok: bool, message: str, photos: Path) -> None:
        if ok:
            self.statusBar().showMessage("Demo photos ready: indexing them…", 5000)
            self.indexer.index([str(photos)])
        else:
            self.statusBar().showMessage(f"The demo library was not made: {message}", 15000)

    # ----- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        folders, images = dropped_paths(event.mimeData())
        if folders or images or dropped_photo_ids(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        folders, images = dropped_paths(event.mimeData())
        if folders or images or self._photo_drop_here(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def _photo_drop_here(self, event: QDragMoveEvent | QDropEvent) -> bool:
        """A photo dragged from the grid is dropped on the search bar: find similar."""
        if not dropped_photo_ids(event.mimeData()):
            return False
        at = self.search.mapFrom(self, event.position().toPoint())
        return self.search.rect().contains(at)

    def dropEvent(self, event: QDropEvent) -> None:
        ids = dropped_photo_ids(event.mimeData())
        if ids:
            row = self.model.row_of_id(ids[0])
            if row is None or not self._photo_drop_here(event):
                event.ignore()
                return
            event.acceptProposedAction()
            self.find_similar(row)
            return
        folders, images = dropped_paths(event.mimeData())
        if not folders and not images:
            event.ignore()
            return
        event.acceptProposedAction()
        if folders:
            self.add_folders(folders)
        if images:
            self.search.set_image(images[0], preview(images[0]))

    # ----- closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.prefs.set_window_state("geometry", self.saveGeometry())
        self.prefs.set_window_state("splitter", self.splitter.saveState())
        self.prefs.last_query = self.search.query.text()
        self.prefs.sync()
        if self.demo is not None:
            self.demo.shutdown()
        for teaching in (self.teach_dialog, self.relearn_dialog):
            if teaching is not None:
                teaching.done(0)  # stops a teaching child: it stores nothing
        if self.models_dialog is not None:
            self.models_dialog.shutdown()  # a fine-tune's command stops its torch child
        self.indexer.shutdown()
        self.engine.shutdown()
        pool = self.pool or QThreadPool.globalInstance()
        wait = getattr(pool, "waitForDone", None)
        if wait is not None:
            wait(10_000)
        super().closeEvent(event)


def _no_model() -> Exception:
    return KnownError("no model is active: open Models… to import or choose one before adding folders")


def _busy() -> Exception:
    return KnownError("indexing is running: wait for it to finish, or cancel it, before switching models")
