"""Teach a name again from fewer photos: what removing one photo from a name means.

What a name learned comes from all of its photos at once, so leaving one out is a new teaching from the
others (``multigrain teach`` with their photos and boxes, as a child process: torch never enters the
window). The dialog shows the child's progress and has Cancel, which interrupts it so nothing changes:
the name keeps its photos and what it learned until the new teaching is stored whole.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.gui.processes import Step, StepProcess
from app.gui.teaching import STEP_TITLE, TeachPhoto, teach_command
from app.gui.teaching_dialog import TeachingDialog, failure_sentence
from app.gui.things_panel import photos_text


class RelearnDialog(TeachingDialog):
    relearned = Signal(str, str)  # the name, a sentence for the status bar

    def __init__(
        self,
        name: str,
        kind: str,
        removed: str,
        photos: list[TeachPhoto],
        db_path: Path,
        bundle: Path,
        program: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``photos``: the name's photos less ``removed`` (at least one); ``program``: the command
        before ``teach`` (tests pass a quick fake)."""
        super().__init__(parent)
        self.setObjectName("relearnDialog")
        self.setWindowTitle(f"Remove a photo from {name}")
        self.name = name
        self.removed = removed
        self.photos = photos
        self.command = teach_command(name, kind, photos, db_path, bundle, program)
        self.note = QLabel(
            f"Teaching {name} again from the other {photos_text(len(photos))}, without "
            f"{Path(removed).name}; the model loads first (it takes a while)…"
        )
        self.note.setObjectName("relearnNote")
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("relearnProgress")
        self.progress.setRange(0, 0)  # busy until the child counts its steps
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("relearnCancel")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(row)
        self.setMinimumWidth(460)
        self.process = StepProcess([Step(STEP_TITLE, self.command)], parent=self)
        self.process.progress.connect(self.show_progress)
        self.process.output.connect(lambda line: self.note.setText(line.strip()))
        self.process.finished.connect(self._finished)

    def start(self) -> None:
        self.process.start()

    def _finished(self, ok: bool, message: str) -> None:
        if ok:
            self.relearned.emit(
                self.name,
                f"Removed {Path(self.removed).name} from {self.name}: taught again from "
                f"{photos_text(len(self.photos))}",
            )
            self.accept()
            return
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cancel_button.setText("Close")
        if message == "cancelled":
            self.note.setText(f"Cancelled: {self.name} keeps all its photos and what it learned.")
        else:
            reason = failure_sentence(message)
            self.note.setText(f"{reason} ({self.name} keeps all its photos and what it learned.)")
