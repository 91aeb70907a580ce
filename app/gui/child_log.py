"""The lines a child process printed, under the Models dialog's sections: hidden while empty, so three
sections of empty boxes do not crowd out the bundle list (seen in a real window), shown with the first
line."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 500


class ChildLog(QPlainTextEdit):
    def __init__(self, name: str, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setFixedHeight(height)
        self.hide()

    def appendPlainText(self, text: str) -> None:
        self.show()
        super().appendPlainText(text)

    def clear(self) -> None:
        super().clear()
        self.hide()
