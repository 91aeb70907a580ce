"""The files that could not be read, each with its reason, and a way to try them again.

The library keeps a reason for every unreadable file ("truncated JPEG", "permission denied"...); this
dialog names them, so a person can fix a file and press Retry (an ordinary Update reads a file again
only when its size or modification time changed; Retry reads every unreadable one).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)


class FailuresDialog(QDialog):
    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("failuresDialog")
        self.setWindowTitle("Files that could not be read")
        self.resize(760, 420)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.list = QTreeWidget()
        self.list.setObjectName("failures")
        self.list.setColumnCount(3)
        self.list.setHeaderLabels(["File", "Reason", "Folder"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        header = self.list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.retry_button = buttons.addButton("Retry all", QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button.setObjectName("retryFailed")
        self.retry_button.setToolTip("Read every unreadable file again (fix them first)")
        self.retry_button.clicked.connect(self._retry)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)

    def show_failures(self, failures: list[tuple[str, str]]) -> None:
        self.list.clear()
        for path, reason in failures:
            item = QTreeWidgetItem([os.path.basename(path), reason, os.path.dirname(path)])
            item.setToolTip(0, path)
            item.setData(0, Qt.ItemDataRole.UserRole, path)
            self.list.addTopLevelItem(item)
        count = len(failures)
        self.summary.setText(
            f"{count:,} file{'s' if count != 1 else ''} could not be read. A file you fix is read again at "
            "the next update; Retry all reads every one of them now."
            if count
            else "Every file was read."
        )
        self.retry_button.setEnabled(bool(count))

    def _retry(self) -> None:
        self.retry.emit()
        self.close()
