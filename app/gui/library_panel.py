"""The library: its folders with their index status, and the indexing progress with its controls.

The panel only shows and asks: folders are added, removed and indexed by the ``IndexController``,
whose signals update the list and the progress line.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.failures_dialog import FailuresDialog
from app.gui.file_dialogs import choose_folder
from app.gui.indexing import FolderStatus, IndexController, IndexOutcome, State
from app.gui.settings import Prefs
from app.library.indexer import Progress


def duration(seconds: float | None) -> str:
    """``95`` -> ``1 min 35 s``; ``None`` -> ``…``."""
    if seconds is None or seconds != seconds:
        return "…"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


def folder_state(folder: FolderStatus) -> str:
    if not folder.exists:
        return "missing"
    if folder.photos == 0:
        return "empty" if folder.pending == 0 else "to index"
    if folder.pending:
        return f"{folder.pending:,} to index"
    return "indexed"


def run_summary(outcome: IndexOutcome) -> str:
    """One line about a finished index run, for the status bar."""
    report = outcome.report
    if report is None:
        return "Folders removed from the library."
    c = report.counts
    word = "Indexing cancelled" if report.status == "cancelled" else "Indexing done"
    text = f"{word}: {c.encoded:,} new, {c.reused:,} moved or duplicate, {c.unchanged:,} unchanged"
    if c.failed:
        text += f", {c.failed:,} unreadable"
    if c.removed:
        text += f", {c.removed:,} removed"
    if report.missing_folders:
        text += f"; {len(report.missing_folders)} folder(s) not found (their photos are kept)"
    return text


class LibraryPanel(QWidget):
    add_requested = Signal(list)  # folder paths chosen in the dialog

    def __init__(self, controller: IndexController, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.prefs = prefs
        self.failures_dialog: FailuresDialog | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # Folders and taught names share one place, as tabs (the tab bar stands where the "Library"
        # title stood): stacked, they would need the height of both, and the window must still fit a
        # small screen. The indexing progress stays below either.
        folders = QWidget()
        column = QVBoxLayout(folders)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self._build_tree(), 1)
        column.addWidget(self._build_empty_hint())
        column.addLayout(self._build_folder_buttons())
        self.tabs = QTabWidget()
        self.tabs.setObjectName("libraryTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(folders, "Library")
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self._build_progress_box())
        self._follow(controller)

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Another page beside the folders (the taught names); returns its index."""
        return self.tabs.addTab(widget, title)

    # ----- building the panel ----------------------------------------------------------------------
    def _build_tree(self) -> QTreeWidget:
        self.tree = QTreeWidget()
        self.tree.setObjectName("folders")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Folder", "Photos", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setMinimumHeight(56)  # room for the tab bar above it on a small screen
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        return self.tree

    def _build_empty_hint(self) -> QLabel:
        self.empty_hint = QLabel("No folders yet. Add one, or drop a folder onto the window.")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setObjectName("hint")
        return self.empty_hint

    def _build_folder_buttons(self) -> QVBoxLayout:
        self.add_button = QPushButton("Add folder…")
        self.add_button.setObjectName("addFolder")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeFolder")
        self.remove_button.setToolTip("Forget the selected folders (the files stay where they are)")
        self.remove_button.clicked.connect(self._remove)
        self.reindex_button = QPushButton("Update")
        self.reindex_button.setObjectName("reindex")
        self.reindex_button.setToolTip("Look for new, changed and removed photos in every folder")
        self.reindex_button.clicked.connect(lambda: self.controller.index(None))
        self.failures_button = QPushButton()
        self.failures_button.setObjectName("failuresButton")
        self.failures_button.setFlat(True)
        self.failures_button.setToolTip("Which files could not be read, and why; retry them")
        self.failures_button.clicked.connect(self.controller.list_failures)
        self.failures_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.reindex_button)
        column = QVBoxLayout()
        column.addLayout(buttons)
        column.addWidget(self.failures_button)
        return column

    def _build_progress_box(self) -> QWidget:
        self.progress = QProgressBar()
        self.progress.setObjectName("indexProgress")
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("indexStatus")
        self.progress_label.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseIndex")
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelIndex")
        self.cancel_button.clicked.connect(self.controller.cancel)
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        box = QVBoxLayout(self.progress_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(controls)
        box.addWidget(self.progress_label)
        return self.progress_box

    def _follow(self, controller: IndexController) -> None:
        """Shows the controller's folders, progress and state from now on, starting idle and empty."""
        controller.folders.connect(self.show_folders)
        controller.progress.connect(self.show_progress)
        controller.state_changed.connect(self.show_state)
        controller.failures.connect(self.show_failures)
        self.show_state(State.IDLE)
        self.show_folders([])

    # ----- folders ---------------------------------------------------------------------------------
    def show_failures(self, failures: list[tuple[str, str]]) -> FailuresDialog:
        if self.failures_dialog is None:
            self.failures_dialog = FailuresDialog(self)
            self.failures_dialog.retry.connect(lambda: self.controller.index(None, retry_errors=True))
        self.failures_dialog.show_failures(failures)
        self.failures_dialog.show()
        self.failures_dialog.raise_()
        return self.failures_dialog

    def choose_folder(self) -> None:
        folder = choose_folder(self, "Add a folder of photos", self.prefs.last_dir)
        if folder:
            self.prefs.last_dir = os.path.dirname(folder)
            self.add_requested.emit([folder])

    def _remove(self) -> None:
        """Ask first: forgetting a folder drops its photos' vectors, which take long to compute again."""
        paths = [item.data(0, Qt.ItemDataRole.UserRole) for item in self.tree.selectedItems()]
        if not paths:
            return
        names = ", ".join(os.path.basename(p.rstrip(os.sep)) or p for p in paths)
        box = QMessageBox(self)
        box.setObjectName("removeBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Remove from the library?")
        box.setText(f"Remove {names} from the library?")
        box.setInformativeText(
            "Its photos will no longer be found by search. The files stay where they are; adding the "
            "folder again indexes them again."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: self.controller.remove_folders(paths))
        box.open()

    def _show_failed_count(self, folders: list[FolderStatus]) -> None:
        failed = sum(f.failed for f in folders)
        self.failures_button.setText(f"{failed:,} file{'s' if failed != 1 else ''} could not be read…")
        self.failures_button.setVisible(failed > 0)

    def show_folders(self, folders: list[FolderStatus]) -> None:
        self.tree.clear()
        for folder in folders:
            name = os.path.basename(folder.path.rstrip(os.sep)) or folder.path
            item = QTreeWidgetItem([name, f"{folder.photos:,}", folder_state(folder)])
            item.setData(0, Qt.ItemDataRole.UserRole, folder.path)
            tip = f"{folder.path}\n{folder.indexed:,} searchable, {folder.failed:,} unreadable"
            if folder.pending:
                tip += f", {folder.pending:,} to index"
            for column in range(3):
                item.setToolTip(column, tip)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self.empty_hint.setVisible(not folders)
        self._show_failed_count(folders)
        self._update_buttons()

    def folder_paths(self) -> list[str]:
        return [
            str(self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole))
            for i in range(self.tree.topLevelItemCount())
        ]

    def _update_buttons(self) -> None:
        idle = self.controller.state is State.IDLE
        self.remove_button.setEnabled(idle and bool(self.tree.selectedItems()))
        self.reindex_button.setEnabled(idle and self.tree.topLevelItemCount() > 0)

    # ----- progress --------------------------------------------------------------------------------
    def show_state(self, state: State) -> None:
        busy = state is not State.IDLE
        self.progress_box.setVisible(busy)
        self.pause_button.setText("Resume" if state is State.PAUSED else "Pause")
        self.pause_button.setEnabled(state in (State.RUNNING, State.PAUSED))
        self.cancel_button.setEnabled(state in (State.RUNNING, State.PAUSED))
        if state is State.RUNNING and self.controller.last_progress is None:
            self.progress.setRange(0, 0)  # scanning: no total yet
            self.progress_label.setText("Looking for photos…")
        elif state is State.PAUSED:
            self.progress_label.setText("Paused. " + self._progress_text(self.controller.last_progress))
        elif state is State.CANCELLING:
            self.progress_label.setText("Cancelling after the current batch…")
        self._update_buttons()

    def show_progress(self, p: Progress) -> None:
        self.progress.setRange(0, max(p.total, 1))
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{p.done:,} / {p.total:,}")
        if self.controller.state is State.RUNNING:
            self.progress_label.setText(self._progress_text(p))

    @staticmethod
    def _progress_text(p: Progress | None) -> str:
        if p is None:
            return ""
        if p.total == 0:
            return "Nothing new to index."
        rate = f"{p.rate:.1f} photos/s" if p.done else "starting…"
        eta = f" · about {duration(p.eta_s)} left" if p.done and p.done < p.total else ""
        # The photos committed so far; the status bar counts those the window has loaded (it reloads
        # after the first batch, then every 15 s at most), so the two may differ for a few seconds.
        searchable = f" · {p.searchable:,} indexed, newest first" if p.done else ""
        current = f"\n{os.path.basename(p.current)}" if p.current else ""
        return f"{rate}{eta}{searchable}{current}"

    def _pause_or_resume(self) -> None:
        if self.controller.state is State.PAUSED:
            self.controller.resume()
        else:
            self.controller.pause()
