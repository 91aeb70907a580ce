"""The models dialog's "Export with my things": the active model's checkpoint exported again as one
``.mgbundle`` file that carries the library's taught names.

The work is ``multigrain export-things`` run as a child process (``StepProcess``): it needs torch, which
this process never imports, and it is the same command a person runs in a terminal. Its "[1/3]" lines
move the bar. Cancel interrupts it as Ctrl+C would, so that it stops its own torch child before it is
killed; the export writes its file only at the end, so a cancelled one leaves nothing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.bundles import VARIANTS, ModelHolder
from app.gui.child_log import ChildLog
from app.gui.file_dialogs import choose_save_file
from app.gui.processes import Step, StepProcess
from app.gui.teaching import bundle_refusal

ARCHIVE_FILTER = "Single-file model bundles (*.mgbundle)"


def things_command(program: list[str], out: Path, variant: str, db_path: Path, bundle: Path) -> list[str]:
    """``multigrain export-things OUT --variant V --single-file --db DB --bundle B``."""
    return [
        *program,
        "export-things",
        str(out),
        "--variant",
        variant,
        "--single-file",
        "--db",
        str(db_path),
        "--bundle",
        str(bundle),
    ]


class ThingsExportGroup(QGroupBox):
    exported = Signal(object)  # Path of the written .mgbundle

    def __init__(
        self, holder: ModelHolder, db_path: Path | None, program: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__("Export the active model with my things", parent)
        self.setObjectName("thingsExport")
        self.holder, self.db_path, self.program = holder, db_path, program
        self.process: StepProcess | None = None
        self._out: Path | None = None
        layout = QVBoxLayout(self)
        hint = QLabel(
            "One file that carries your taught names: a library that uses it finds them without teaching."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        row = QHBoxLayout()
        self.variant = QComboBox()
        self.variant.setObjectName("thingsVariant")
        for key, label in VARIANTS:
            self.variant.addItem(label, key)
        self.export_button = QPushButton("Export with my things…")
        self.export_button.setObjectName("exportThings")
        self.export_button.clicked.connect(self.choose_and_start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelThings")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("thingsProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("")
        row.addWidget(self.variant)
        row.addWidget(self.progress, 1)
        row.addWidget(self.export_button)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.log = ChildLog("thingsLog", 80)
        layout.addWidget(self.log)
        self.update_buttons()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def update_buttons(self) -> None:
        self.export_button.setEnabled(self.holder.bundle is not None and not self.running)
        self.cancel_button.setEnabled(self.running)

    def refusal(self) -> str | None:
        """Why the active model cannot be exported with names here (a sentence), or None."""
        if self.db_path is None or not Path(self.db_path).is_file():
            return "There is no library here whose taught names could be exported."
        return bundle_refusal(self.holder.bundle)

    def choose_and_start(self) -> None:
        problem = self.refusal()
        if problem:
            self.log.appendPlainText(problem)
            return
        bundle = self.holder.bundle
        assert bundle is not None
        name = f"{bundle.name}-with-my-things.mgbundle"
        path = choose_save_file(
            self, "Export with my things to", str(Path.home() / name), ARCHIVE_FILTER, "mgbundle"
        )
        if path:
            self.start(Path(path))

    def start(self, out: Path) -> None:
        """Run the export to ``out`` (the refusals already checked)."""
        bundle, db_path = self.holder.bundle, self.db_path
        assert bundle is not None and db_path is not None
        variant = str(self.variant.currentData())
        self._out = out
        self.log.clear()
        argv = things_command(self.program, out, variant, Path(db_path), bundle)
        self.process = StepProcess([Step("Exporting with my things", argv)], parent=self)
        self.process.progress.connect(self._progress)
        self.process.output.connect(self.log.appendPlainText)
        self.process.finished.connect(self._finished)
        self.progress.setValue(0)
        self.process.start()
        self.update_buttons()

    def cancel(self) -> None:
        if self.process is not None:
            self.process.interrupt()  # Ctrl+C: the command stops its torch child, then exits

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.shutdown(grace_ms=10_000)

    def _progress(self, fraction: float, title: str) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(f"{title} — {fraction:.0%}" if title != "done" else "Done")

    def _finished(self, ok: bool, message: str) -> None:
        self.update_buttons()
        self.cancel_button.setEnabled(False)
        if ok:
            self.log.appendPlainText(f"exported to {self._out}: add it in another library with Add bundle…")
            self.exported.emit(self._out)
            return
        self.progress.setValue(0)
        self.progress.setFormat("Cancelled" if message == "cancelled" else "Failed")
        self.log.appendPlainText(
            "export cancelled: no file was written" if message == "cancelled" else message
        )
