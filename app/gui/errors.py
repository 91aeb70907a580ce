"""Errors shown to the user: a known error in its own words, anything else as an internal error.

``KnownError``s (a bad bundle, a library from a newer app, a photo that cannot be decoded) are the
environment's problems and their message says what to do. Any other exception is a bug: it is logged
with its traceback and shown as "internal error", the traceback behind the dialog's details button.
Dialogs are opened window-modal and never block (``open``, not ``exec``), so a worker's error can never
stall the event loop, and tests can find and close them.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from core.errors import KnownError

log = logging.getLogger("multigrain.gui")


@dataclass(frozen=True)
class Described:
    known: bool
    message: str  # one or two sentences for the user
    details: str | None  # the traceback, for internal errors


def describe(error: BaseException) -> Described:
    if isinstance(error, KnownError):
        return Described(True, str(error), None)
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Described(False, f"Internal error: {type(error).__name__}: {error}", details)


def short(error: BaseException) -> str:
    """One line for a status bar; internal errors are logged here with their traceback."""
    described = describe(error)
    if not described.known:
        log.error("internal error", exc_info=error)
    return described.message


def show_error(parent: QWidget | None, error: BaseException, title: str = "Multigrain") -> QMessageBox:
    """Open a non-blocking message box for ``error`` and return it."""
    described = describe(error)
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if described.known:
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(described.message)
    else:
        log.error("internal error", exc_info=error)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setText("Multigrain ran into an internal error. Your library is safe.")
        box.setInformativeText(described.message)
        box.setDetailedText(described.details or "")
    box.setObjectName("errorBox")
    box.open()
    return box
