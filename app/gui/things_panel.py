"""The library's taught names ("Things"): each with its kind and photos; search, rename, forget,
remove one photo from a name (the window teaches it again from the others), and export the selected
names to a concept pack or import one (``app.gui.packs``).

The panel reads and writes the library through ``app.personal.store`` on a worker (its own
connection per call: the names tables are small, but the indexer may hold the write lock a moment),
and says what it did in a sentence. The window refreshes it after teaching and reloads the search
engine after a change, so a renamed name is searchable by its new spelling at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.errors import short, show_error
from app.gui.file_dialogs import choose_file, choose_save_file
from app.gui.packs import PACK_FILTER, export_to, exported_sentence, import_from, imported_sentence
from app.gui.tasks import Pool, run_task
from app.personal.pack import SUFFIX
from app.personal.sharing import NameTakenError
from app.personal.store import Label, NameRow

PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # a photo row's path (name rows have none)
Things = tuple[list[NameRow], dict[str, list[Label]]]  # the names, and each name's photos by name


def read_names(db_path: Path) -> Things:
    """Worker thread: the taught names with their photos (none when the library does not exist yet)."""
    from app.library.db import open_db
    from app.personal.store import labels_of, list_names

    if not db_path.is_file():
        return [], {}
    db = open_db(db_path, writable=False)
    try:
        rows = list_names(db)
        return rows, {row.name: labels_of(db, row.id) for row in rows}
    except Exception as err:  # a library opened read-only before schema 4 has no names tables
        if "no such table" in str(err):
            return [], {}
        raise
    finally:
        db.close()


def rename_in(db_path: Path, old: str, new: str) -> NameRow:
    from app.library.db import open_db
    from app.personal.store import rename_name

    db = open_db(db_path)
    try:
        return rename_name(db, old, new)
    finally:
        db.close()


def forget_in(db_path: Path, name: str) -> NameRow:
    from app.library.db import open_db
    from app.personal.store import forget_name

    db = open_db(db_path)
    try:
        return forget_name(db, name)
    finally:
        db.close()


def photos_text(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"


def photo_item(name: str, label: Label) -> QTreeWidgetItem:
    """A name's photo as a row under it: the file's name, and whether its box was drawn or proposed."""
    if not label.path:  # an imported name's photo that this library does not have: known by its hash
        item = QTreeWidgetItem([f"sha256 {label.content_hash[:12]}…", "not in this library", ""])
        item.setData(0, Qt.ItemDataRole.UserRole, name)
        item.setToolTip(0, f"A photo {name} was taught from elsewhere (sha256 {label.content_hash})")
        return item
    here = os.path.isfile(label.path)
    how = ("box proposed" if label.proposed else "box drawn") if here else "file missing"
    item = QTreeWidgetItem([os.path.basename(label.path), how, ""])
    item.setData(0, Qt.ItemDataRole.UserRole, name)
    item.setData(0, PATH_ROLE, label.path)
    item.setToolTip(0, label.path if here else f"{label.path} is not there any more")
    return item


class ThingsPanel(QWidget):
    search_requested = Signal(str)  # a name to put in the search box
    remove_photo_requested = Signal(str, str)  # a name and one of its photos: teach it again without
    add_photo_requested = Signal(str)  # a name: choose a photo and teach the name from it too
    changed = Signal(str)  # a sentence: names were renamed, forgotten or imported (the engine reloads names)
    failed = Signal(str)  # a sentence for the status bar
    said = Signal(str)  # a sentence for the status bar that changes nothing searchable (an export)
    counted = Signal(int)  # how many names the list shows (for the tab's title)

    def __init__(
        self,
        db_path: Path,
        pool: Pool | None = None,
        parent: QWidget | None = None,
        bundle: Callable[[], Path | None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.pool = pool
        self.bundle = bundle  # the active model's bundle folder: packs hold what names learned for it
        self.rows: list[NameRow] = []
        self.labels: dict[str, list[Label]] = {}
        self._select_next: str | None = None  # a renamed name, selected when the list comes back

        self.tree = QTreeWidget()
        self.tree.setObjectName("things")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Name", "Kind", "Photos"])
        self.tree.setRootIsDecorated(True)  # a name opens to show its photos
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # export several
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setMinimumHeight(40)  # it shares the sidebar's height with the folders (tabs)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self.search_selected())
        self.hint = QLabel("No names yet: open a photo, then “Teach a name…”.")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)

        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("searchThing")
        self.search_button.setToolTip("Put the name in the search box")
        self.search_button.clicked.connect(self.search_selected)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setObjectName("renameThing")
        self.rename_button.setToolTip("Spell the name differently; what it learned is kept")
        self.rename_button.clicked.connect(self.ask_rename)
        self.forget_button = QPushButton("Forget…")
        self.forget_button.setObjectName("forgetThing")
        self.forget_button.setToolTip("Forget the name and what it learned (the photos are untouched)")
        self.forget_button.clicked.connect(self.ask_forget)
        self.add_button = QPushButton("Add photo…")
        self.add_button.setObjectName("addThingPhoto")
        self.add_button.setToolTip("Another photo of it: draw its box, and the name learns from all of them")
        self.add_button.clicked.connect(self.ask_add_photo)
        self.remove_button = QPushButton("Remove photo…")
        self.remove_button.setObjectName("removeThingPhoto")
        self.remove_button.setToolTip("Teach the name again from its other photos, without the selected one")
        self.remove_button.clicked.connect(self.ask_remove_photo)
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("exportThings")
        self.export_button.setToolTip(
            f"Save the selected names to one {SUFFIX} file to share: what they learned and their photos' "
            "hashes and boxes, never the photos"
        )
        self.export_button.clicked.connect(self.ask_export)
        self.import_button = QPushButton("Import…")
        self.import_button.setObjectName("importThings")
        self.import_button.setToolTip(f"Add the names of a {SUFFIX} file, learned on the model you use")
        self.import_button.clicked.connect(self.ask_import)
        # Rows in a grid so they share the sidebar's width: a name's own actions, its photos, sharing (four
        # in a row did not fit the sidebar: "Remove photo…" was cut).
        buttons = QGridLayout()
        rows = (
            (self.search_button, self.rename_button, self.forget_button),
            (self.add_button, self.remove_button),
            (self.export_button, self.import_button),
        )
        for r, row in enumerate(rows):
            for c, button in enumerate(row):
                buttons.addWidget(button, r, c)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        self._update_buttons()

    # ----- showing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        db_path = self.db_path
        run_task(
            lambda: read_names(db_path),
            lambda things: self.show_names(*things),
            lambda err: self.failed.emit(f"Could not read the taught names: {short(err)}"),
            pool=self.pool,
            context=self,
        )

    def show_names(self, rows: list[NameRow], labels: dict[str, list[Label]] | None = None) -> None:
        selected, self._select_next = self._select_next or self.selected_name(), None
        tops = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        opened = {item.data(0, Qt.ItemDataRole.UserRole) for item in tops if item.isExpanded()}
        self.rows = rows
        self.labels = labels or {}
        self.tree.clear()
        for row in rows:
            item = QTreeWidgetItem([row.name, row.kind, str(row.photos)])
            item.setData(0, Qt.ItemDataRole.UserRole, row.name)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            tip = f"{row.name}: a {row.kind}, taught from {photos_text(row.photos)}"
            if row.models and not row.looks:  # taught before looks, or imported without its photos
                tip += "; no look yet, so search compares only its box (`multigrain names look` makes one)"
            item.setToolTip(0, tip)
            item.addChildren([photo_item(row.name, label) for label in self.labels.get(row.name, [])])
            self.tree.addTopLevelItem(item)
            item.setExpanded(row.name in opened)
            if row.name == selected:
                item.setSelected(True)
        self.hint.setVisible(not rows)
        self._update_buttons()
        self.counted.emit(len(rows))

    def names(self) -> list[str]:
        return [row.name for row in self.rows]

    def selected_name(self) -> str | None:
        """The selected name, or the name of the selected photo (None when none, or several names, are
        selected)."""
        names = self.selected_names()
        return names[0] if len(names) == 1 else None

    def selected_names(self) -> list[str]:
        """The names selected, or whose photos are selected, in the list's order."""
        chosen = {str(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.tree.selectedItems()}
        return [row.name for row in self.rows if row.name in chosen]

    def selected_photo(self) -> str | None:
        """The path of the selected photo row (None when a name, nothing, or several rows are selected)."""
        items = self.tree.selectedItems()
        path = items[0].data(0, PATH_ROLE) if len(items) == 1 else None
        return str(path) if path else None

    def _item_of(self, name: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                return item
        return None

    def select(self, name: str, photo: str | None = None) -> None:
        """Select ``name``'s row, or its ``photo``'s row (the name opens to show it)."""
        self.tree.clearSelection()
        item = self._item_of(name)
        if item is None:
            return
        if photo is None:
            item.setSelected(True)
            return
        item.setExpanded(True)
        for i in range(item.childCount()):
            child = item.child(i)
            child.setSelected(child.data(0, PATH_ROLE) == photo)

    def select_next(self, name: str) -> None:
        """Select ``name`` when the list next comes back (it was just taught or renamed)."""
        self._select_next = name

    def _update_buttons(self) -> None:
        chosen = self.selected_name() is not None
        for button in (self.search_button, self.rename_button, self.forget_button, self.add_button):
            button.setEnabled(chosen)
        self.remove_button.setEnabled(self.selected_photo() is not None)
        self.export_button.setEnabled(bool(self.selected_names()))

    # ----- actions ---------------------------------------------------------------------------------
    def search_selected(self) -> None:
        if (name := self.selected_name()) is not None:
            self.search_requested.emit(name)

    def ask_rename(self) -> QInputDialog | None:
        """Ask for the new spelling (a window-modal dialog, so tests can answer it)."""
        old = self.selected_name()
        if old is None:
            return None
        dialog = QInputDialog(self)
        dialog.setObjectName("renameThingDialog")
        dialog.setWindowTitle("Rename")
        dialog.setLabelText(f"A new name for {old} (what it learned is kept):")
        dialog.setTextValue(old)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda new: self.rename(old, new.strip()))
        dialog.open()
        return dialog

    def rename(self, old: str, new: str) -> None:
        if not new or new == old:
            return
        db_path = self.db_path
        run_task(
            lambda: rename_in(db_path, old, new),
            lambda row: self._done(f"Renamed {old} to {row.name}: search for it by its new name", row.name),
            lambda err: self.failed.emit(f"Could not rename {old}: {short(err)}"),
            pool=self.pool,
            context=self,
        )

    def ask_forget(self) -> QMessageBox | None:
        name = self.selected_name()
        if name is None:
            return None
        box = QMessageBox(self)
        box.setObjectName("forgetThingBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Forget a name?")
        box.setText(f"Forget {name}?")
        box.setInformativeText(
            "What it learned and the boxes it was taught from are deleted; the photos stay where they are. "
            "To find it by name again, teach it again."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: self.forget(name))
        box.open()
        return box

    def ask_add_photo(self) -> None:
        """The selected name (or the name of the selected photo) gets another photo: the window asks for
        the file and opens the teach dialog with the name filled in."""
        if (name := self.selected_name()) is not None:
            self.add_photo_requested.emit(name)

    def ask_remove_photo(self) -> QMessageBox | None:
        """Ask before removing the selected photo from its name: the name is taught again from the
        others; for a name's only photo, offer to forget the name instead."""
        name, photo = self.selected_name(), self.selected_photo()
        if name is None or photo is None:
            return None
        others = [lb for lb in self.labels.get(name, []) if lb.path != photo]
        box = QMessageBox(self)
        box.setObjectName("removeThingPhotoBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        file = os.path.basename(photo)
        if not others:
            box.setWindowTitle("Forget a name?")
            box.setText(f"{file} is the only photo {name} was taught from. Forget {name}?")
            box.setInformativeText("A name needs at least one photo. The photo itself stays where it is.")
            box.accepted.connect(lambda: self.forget(name))
        else:
            box.setWindowTitle("Remove a photo?")
            box.setText(f"Remove {file} from {name}?")
            box.setInformativeText(
                f"{name} is taught again from the other {photos_text(len(others))}, which takes a "
                "moment; until that is done, it stays as it is. The photo itself stays where it is."
            )
            box.accepted.connect(lambda: self.remove_photo_requested.emit(name, photo))
        box.open()
        return box

    def forget(self, name: str) -> None:
        db_path = self.db_path
        run_task(
            lambda: forget_in(db_path, name),
            lambda row: self._done(f"Forgot {row.name} (the photos are untouched)", None),
            lambda err: self.failed.emit(f"Could not forget {name}: {short(err)}"),
            pool=self.pool,
            context=self,
        )

    # ----- concept packs -----------------------------------------------------------------------------
    def ask_export(self) -> None:
        """Ask where to write the selected names' pack (a file dialog), then write it on a worker."""
        names = self.selected_names()
        if not names:
            return
        proposed = str(Path.home() / f"{names[0] if len(names) == 1 else 'names'}{SUFFIX}")
        path = choose_save_file(self, "Export names to a concept pack", proposed, PACK_FILTER, SUFFIX)
        if path:
            self.export(names, Path(path))

    def export(self, names: list[str], out: Path) -> None:
        db_path, bundle = self.db_path, self.bundle()
        run_task(
            lambda: export_to(db_path, bundle, names, out),
            lambda done: self.said.emit(exported_sentence(done)),
            lambda err: show_error(self, err, "Export names"),
            pool=self.pool,
            context=self,
        )

    def ask_import(self) -> None:
        """Ask for a pack (a file dialog), then import it on a worker."""
        path = choose_file(self, "Import names from a concept pack", str(Path.home()), PACK_FILTER)
        if path:
            self.import_pack(Path(path))

    def import_pack(self, pack: Path, as_name: str | None = None) -> None:
        db_path, bundle = self.db_path, self.bundle()
        run_task(
            lambda: import_from(db_path, bundle, pack, as_name),
            lambda done: self._done(imported_sentence(done), done[0].row.name if len(done) == 1 else None),
            lambda err: self._import_failed(pack, err),
            pool=self.pool,
            context=self,
        )

    def _import_failed(self, pack: Path, err: BaseException) -> None:
        if isinstance(err, NameTakenError) and err.renamable:
            self.ask_import_as(pack, err.name)
        else:
            show_error(self, err, "Import names")

    def ask_import_as(self, pack: Path, taken: str) -> QInputDialog:
        """The pack's one name is taught here already: ask for another (window-modal, so tests answer it)."""
        dialog = QInputDialog(self)
        dialog.setObjectName("importAsDialog")
        dialog.setWindowTitle("Import names")
        dialog.setLabelText(
            f"This library already has a name {taken}. Import the pack's name as (what it learned is kept):"
        )
        dialog.setTextValue(f"{taken} 2")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda new: self._import_as(pack, new.strip()))
        dialog.open()
        return dialog

    def _import_as(self, pack: Path, name: str) -> None:
        if name:
            self.import_pack(pack, name)

    def _done(self, sentence: str, select: str | None) -> None:
        self._select_next = select
        self.changed.emit(sentence)  # the window refreshes this list with the engine
