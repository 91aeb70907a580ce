"""Work that must not run in the window's process: a sequence of commands run as child processes.

Importing an official checkpoint and exporting it need torch, which this process never imports; the
demo library's scenes are rendered by a process pool. ``StepProcess`` runs the commands one after
another with ``QProcess`` (asynchronous: nothing blocks the GUI thread), reads their output line by
line, turns "12/40" or "30%" in a line into progress, and can be cancelled (the child is killed).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.home import REPO

_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
TAIL_LINES = 12  # lines of output kept for the error message
INTERRUPT_GRACE_MS = 10_000  # an interrupted child that has not stopped by then is killed


def app_command() -> list[str]:
    """This Python running ``multigrain``'s command line."""
    return [sys.executable, "-m", "cli.main"]


def progress_of(line: str) -> float | None:
    """The fraction a line of output reports (``12/40``, ``30%``), if any."""
    match = _FRACTION.search(line)
    if match and int(match.group(2)) > 0:
        return min(1.0, int(match.group(1)) / int(match.group(2)))
    match = _PERCENT.search(line)
    if match:
        return min(1.0, float(match.group(1)) / 100.0)
    return None


@dataclass(frozen=True)
class Step:
    title: str  # shown while it runs, e.g. "Importing the checkpoint"
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class StepProcess(QObject):
    progress = Signal(float, str)  # overall fraction (-1: unknown within this step), step title
    output = Signal(str)  # each line of output
    finished = Signal(bool, str)  # success, a sentence for the user

    def __init__(self, steps: list[Step], cwd: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.steps = steps
        self.cwd = cwd or REPO
        self._index = -1
        self._process: QProcess | None = None
        self._buffer = ""
        self._tail: list[str] = []
        self._cancelled = False
        self._done = False

    @property
    def running(self) -> bool:
        return self._process is not None and not self._done

    def start(self) -> None:
        self._next()

    def cancel(self) -> None:
        """Kill the running child; ``finished(False, "cancelled")`` follows."""
        if self._process is not None and not self._done:
            self._cancelled = True
            self._process.kill()

    def interrupt(self) -> None:
        """Ask the running child to stop as Ctrl+C would (it can stop its own children and store
        nothing), and kill it if it has not stopped after ``INTERRUPT_GRACE_MS``; where there is no
        SIGINT to send (Windows), kill it at once. ``finished(False, "cancelled")`` follows."""
        process = self._process
        if process is None or self._done:
            return
        pid = process.processId()
        if os.name != "posix" or not pid:
            self.cancel()
            return
        self._cancelled = True
        os.kill(pid, signal.SIGINT)
        QTimer.singleShot(INTERRUPT_GRACE_MS, self, self.cancel)

    def shutdown(self, grace_ms: int = 0) -> None:
        """Kill and wait (the window is closing): a QProcess must not outlive its child. ``grace_ms``:
        first interrupt it (POSIX) and give it this long to stop its own children and clean up."""
        process = self._process
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        self._cancelled = True
        if grace_ms and os.name == "posix" and process.processId():
            os.kill(process.processId(), signal.SIGINT)
            if process.waitForFinished(grace_ms):
                return
        process.kill()
        process.waitForFinished(5000)

    def _next(self) -> None:
        self._index += 1
        if self._index >= len(self.steps):
            self._finish(True, "done")
            return
        step = self.steps[self._index]
        self._tail = []
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.setWorkingDirectory(str(self.cwd))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")  # lines as they are printed, not when a buffer fills
        for key, value in step.env.items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._exited)
        process.errorOccurred.connect(self._error)
        self._process = process
        self.progress.emit(self._index / len(self.steps), step.title)
        process.start(step.argv[0], step.argv[1:])

    def _read(self) -> None:
        if self._process is None:
            return
        self._buffer += bytes(self._process.readAllStandardOutput().data()).decode("utf-8", "replace")
        # Progress bars rewrite their line with \r: each rewrite counts as a line.
        *lines, self._buffer = re.split(r"\r\n|\r|\n", self._buffer)
        for line in lines:
            if line.strip():
                self._line(line.rstrip())

    def _line(self, line: str) -> None:
        self._tail = [*self._tail[-(TAIL_LINES - 1) :], line]
        self.output.emit(line)
        fraction = progress_of(line)
        if fraction is not None:
            step = self.steps[self._index]
            self.progress.emit((self._index + fraction) / len(self.steps), step.title)

    def _exited(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        if self._buffer.strip():
            self._line(self._buffer.rstrip())
            self._buffer = ""
        if self._cancelled:
            self._finish(False, "cancelled")
        elif status != QProcess.ExitStatus.NormalExit or code != 0:
            step = self.steps[self._index]
            last = self._tail[-1] if self._tail else f"exit code {code}"
            self._finish(False, f"{step.title} failed: {last}")
        else:
            self._next()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            step = self.steps[self._index]
            self._finish(False, f"{step.title} failed: cannot start {step.argv[0]}")

    def _finish(self, ok: bool, message: str) -> None:
        if self._done:
            return
        self._done = True
        if ok:
            self.progress.emit(1.0, "done")
        self.finished.emit(ok, message)
