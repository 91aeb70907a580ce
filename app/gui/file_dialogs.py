"""File dialogs that never open the files they list.

Qt's own file dialog asks its icon provider for each listed file's icon and type, and the default
provider guesses the type from the file's first bytes (``QMimeDatabase``): it opens and closes every
file in the folder. For the library database that is fatal. SQLite's POSIX locks belong to the
process, and closing *any* descriptor of the file drops them all; another ``multigrain`` process then
believes it is alone and deletes the ``-wal`` file the window is still writing to (SQLite's "How To
Corrupt An SQLite Database File", 2.2). The database lives in a hidden folder of its own
(``app.home``), and these dialogs are the second wall: their icons and types come from names alone.

Platform ("native") dialogs are not used: on Linux the GTK one runs inside this process and sniffs
file contents the same way, beyond our control.
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo
from PySide6.QtGui import QAbstractFileIconProvider, QIcon
from PySide6.QtWidgets import QApplication, QFileDialog, QStyle, QWidget


class NameOnlyIconProvider(QAbstractFileIconProvider):
    """Icons and type names from the file name and kind alone; never reads a file."""

    def icon(self, which: object) -> QIcon:  # type: ignore[override]
        style = QApplication.style()
        if isinstance(which, QFileInfo):
            pixmap = QStyle.StandardPixmap.SP_DirIcon if which.isDir() else QStyle.StandardPixmap.SP_FileIcon
            return style.standardIcon(pixmap)
        if which == QAbstractFileIconProvider.IconType.Drive:
            return style.standardIcon(QStyle.StandardPixmap.SP_DriveHDIcon)
        if which == QAbstractFileIconProvider.IconType.File:
            return style.standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        return style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)

    def type(self, info: QFileInfo) -> str:  # type: ignore[override]
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


def safe_dialog(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> QFileDialog:
    """A Qt (not platform) file dialog whose listing opens no file; see the module docstring."""
    dialog = QFileDialog(parent, title, folder, name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    icons = NameOnlyIconProvider()
    dialog.setIconProvider(icons)
    dialog.icon_provider = icons  # the dialog does not own it: keep it alive as long as the dialog
    return dialog


def choose_file(parent: QWidget | None, title: str, folder: str = "", name_filter: str = "") -> str:
    """An existing file the person picks, or "" when they cancel."""
    dialog = safe_dialog(parent, title, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    return dialog.selectedFiles()[0] if dialog.exec() and dialog.selectedFiles() else ""


def choose_folder(parent: QWidget | None, title: str, folder: str = "") -> str:
    """An existing folder the person picks, or "" when they cancel."""
    dialog = safe_dialog(parent, title, folder)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    return dialog.selectedFiles()[0] if dialog.exec() and dialog.selectedFiles() else ""


def choose_save_file(
    parent: QWidget | None, title: str, path: str = "", name_filter: str = "", suffix: str = ""
) -> str:
    """A file name to write, proposed as ``path``; ``suffix`` is added to a name typed without one, and
    an existing file is replaced only once the person confirms. "" when they cancel."""
    dialog = safe_dialog(parent, title, path, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    if suffix:
        dialog.setDefaultSuffix(suffix.lstrip("."))
    return dialog.selectedFiles()[0] if dialog.exec() and dialog.selectedFiles() else ""
