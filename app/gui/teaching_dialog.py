"""What every dialog that runs ``multigrain teach`` as a child shares: the busy bar that turns into the
child's step count, Cancel that interrupts the child (so it stores nothing), Escape and closing that
cancel first, and the child's failure as the person's sentence."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QProgressBar

from app.gui.processes import INTERRUPT_GRACE_MS, StepProcess
from app.gui.teaching import STEP_TITLE


def failure_sentence(message: str) -> str:
    """StepProcess says "<title> failed: <the child's last line>"; the CLI's last line is its sentence."""
    return message.removeprefix(f"{STEP_TITLE} failed: ").removeprefix("multigrain teach: ")


class TeachingDialog(QDialog):
    """Subclasses set ``note`` and ``progress`` and start ``process``."""

    process: StepProcess | None = None
    note: QLabel
    progress: QProgressBar

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def show_progress(self, fraction: float, _title: str = "") -> None:
        """The child counts its steps after loading the model: busy until then, a share after."""
        if fraction > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * fraction))

    def cancel(self) -> None:
        if self.running:
            assert self.process is not None
            self.note.setText("Cancelling…")
            self.process.interrupt()
        else:
            self.reject()

    def reject(self) -> None:
        """Escape or closing the dialog while teaching cancels the child, which then stores nothing."""
        if self.running:
            self.cancel()
            return
        super().reject()

    def done(self, result: int) -> None:
        """Closing (the window closes) while teaching stops the child as Cancel does, waiting a moment:
        killed outright, ``multigrain teach`` would leave its torch job running."""
        if self.process is not None:
            self.process.shutdown(grace_ms=INTERRUPT_GRACE_MS)
        super().done(result)
