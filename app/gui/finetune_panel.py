"""The Models dialog's "Fine-tune on my photos…": the active model fine-tuned on the library's captions
and taught names, as child processes (``finetuning``), with progress, a question and cancel.

The first stage writes the records and times a few steps. On the CPU the panel then says how long the
run would take and asks before starting it; when the child found a GPU it says so and starts. The second
stage trains and exports a bundle; when it is done the panel hands the bundle on (the window makes it
the active model and indexes the library with it). Cancel interrupts the running command (SIGINT), which
stops its torch child; every file of the attempt is removed, and nothing else was touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.gui.bundles import ModelHolder
from app.gui.child_log import ChildLog
from app.gui.finetuning import EPOCHS, Attempt, measuring_steps, plan_attempt, refusal, training_steps
from app.gui.processes import Step, StepProcess
from core.finetune import Estimate, duration, parse_estimate

CLOSE_GRACE_MS = 10_000  # the window closing: the command gets this long to stop its torch child


class FineTunePanel(QGroupBox):
    finished = Signal(object)  # Path of the new bundle

    def __init__(
        self,
        holder: ModelHolder,
        db_path: Path | None,
        command: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Fine-tune on my photos", parent)
        self.setObjectName("fineTune")
        self.holder = holder
        self.db_path = db_path
        self.command = command
        self.process: StepProcess | None = None
        self.attempt: Attempt | None = None
        self.estimate: Estimate | None = None
        self.question: QMessageBox | None = None
        box = QVBoxLayout(self)
        about = QLabel(
            "Teach the whole model your captions and taught names (a full fine-tune of the active model's "
            "checkpoint), then use the new model and index your photos with it."
        )
        about.setWordWrap(True)
        box.addWidget(about)
        box.addLayout(self._build_actions())
        self.log = ChildLog("fineTuneLog", 90)
        box.addWidget(self.log)
        self._update_buttons()

    def _build_actions(self) -> QHBoxLayout:
        self.epochs = QSpinBox()
        self.epochs.setObjectName("fineTuneEpochs")
        self.epochs.setRange(1, 50)
        self.epochs.setValue(EPOCHS)
        self.epochs.setSuffix(" passes")
        self.epochs.setToolTip("How many times the run goes over your photos")
        self.start_button = QPushButton("Fine-tune on my photos…")
        self.start_button.setObjectName("startFineTune")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelFineTune")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("fineTuneProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.epochs)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        return row

    @property
    def busy(self) -> bool:
        return self.attempt is not None

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(not self.busy)
        self.epochs.setEnabled(not self.busy)
        self.cancel_button.setEnabled(self.busy)

    # ----- stage 1: records and timed steps --------------------------------------------------------
    def start(self) -> None:
        bundle = self.holder.bundle
        problem = refusal(bundle, self.db_path)
        if problem is not None or bundle is None or self.db_path is None:
            self.log.appendPlainText(problem or "No model is active.")
            self.progress.setFormat("Not started")
            return
        self.attempt = plan_attempt(bundle)
        self.estimate = None
        self.log.clear()
        self.log.appendPlainText(f"fine-tuning {bundle.name} on your photos: first, a few timed steps")
        self._run(
            measuring_steps(self.attempt, self.db_path, self.epochs.value(), self.command), self._measured
        )

    def _run(self, steps: list[Step], then: Callable[[bool, str], None]) -> None:
        self.process = StepProcess(steps, parent=self)
        self.process.progress.connect(self._progress)
        self.process.output.connect(self._line)
        self.process.finished.connect(then)
        self.progress.setValue(0)
        self._update_buttons()
        self.process.start()

    def _line(self, line: str) -> None:
        self.log.appendPlainText(line)
        parsed = parse_estimate(line)
        if parsed is not None:
            self.estimate = parsed

    def _progress(self, fraction: float, title: str) -> None:
        self.progress.setValue(round(1000 * max(fraction, 0.0)))
        self.progress.setFormat(f"{title} — {fraction:.0%}" if title != "done" else "Done")

    def _measured(self, ok: bool, message: str) -> None:
        if not ok:
            self._end(message)
            return
        if self.estimate is None:
            self._end("the timed steps gave no estimate")
            return
        left = duration(self.estimate.total_seconds)
        if self.estimate.device == "cuda":
            self.log.appendPlainText(f"A GPU (CUDA) was found: fine-tuning runs there, about {left}.")
            self._train()
            return
        self.progress.setFormat(f"About {left} on the CPU")
        self.question = QMessageBox(self)
        self.question.setObjectName("fineTuneEstimateBox")
        self.question.setIcon(QMessageBox.Icon.Question)
        self.question.setWindowTitle("Fine-tune on the CPU?")
        self.question.setText(
            f"No GPU was found: fine-tuning on this computer's processor takes about {left}."
        )
        self.question.setInformativeText(
            f"{self.estimate.steps} steps at {self.estimate.seconds_per_step:.1f} s each, timed just now. "
            "Search keeps working meanwhile; when it is done the new model is used and your photos are "
            "indexed with it. Start?"
        )
        self.question.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        self.question.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.question.accepted.connect(self._train)
        self.question.rejected.connect(lambda: self._end("not started"))
        self.question.open()

    # ----- stage 2: the run and the bundle ---------------------------------------------------------
    def _train(self) -> None:
        self.question = None
        if self.attempt is None:
            return
        self._run(training_steps(self.attempt, self.epochs.value(), self.command), self._trained)

    def _trained(self, ok: bool, message: str) -> None:
        attempt = self.attempt
        if not ok or attempt is None:
            self._end(message)
            return
        shutil.rmtree(attempt.work, ignore_errors=True)  # the records: the checkpoint and bundle stay
        self.attempt = self.process = None
        self._update_buttons()
        self.progress.setValue(1000)
        self.progress.setFormat("Done")
        self.log.appendPlainText(f"fine-tuned: {attempt.bundle.name} is the active model now")
        self.finished.emit(attempt.bundle)

    # ----- the end of an attempt that made no model ------------------------------------------------
    def cancel(self) -> None:
        if self.question is not None:
            self.question.reject()  # asked and not answered: nothing runs
        elif self.process is not None and self.process.running:
            self.process.interrupt()  # the command stops its torch child; finished(False, "cancelled")

    def _end(self, message: str) -> None:
        """Remove every file of the attempt and say why it ended."""
        for path in self.attempt.outputs() if self.attempt else []:
            shutil.rmtree(path, ignore_errors=True)
        self.attempt = self.process = self.question = None
        self._update_buttons()
        self.progress.setValue(0)
        if message in ("cancelled", "not started"):
            self.progress.setFormat("Cancelled" if message == "cancelled" else "Not started")
            self.log.appendPlainText(f"fine-tuning {message}: nothing was changed")
        else:
            self.progress.setFormat("Failed")
            self.log.appendPlainText(message)

    def shutdown(self) -> None:
        """The window is closing: stop a running command (it stops its torch child) and clean up."""
        if self.question is not None:
            self.question.reject()
        if self.process is not None and self.process.running:
            self.process.shutdown(grace_ms=CLOSE_GRACE_MS)
        if self.attempt is not None:
            self._end("cancelled")
