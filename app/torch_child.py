"""Torch work in a child process: the app never imports torch, so ``teach`` and ``fine-tune-library``
start an engine module with this Python, forward its lines, and stop it cleanly on Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

from app.home import REPO

TAIL_LINES = 5  # kept for the sentence that says why a child failed
GRACE_S = 30.0  # an interrupted child that has not stopped by then is killed


def run_engine_module(
    module: str, args: list[str], log: Callable[[str], None], grace_s: float = GRACE_S
) -> tuple[int, list[str]]:
    """Run ``python -m module args`` from the repository, handing each line of its output to ``log``;
    returns its exit code and its last lines.

    Ctrl+C here (a terminal's, or the window's interrupt of this process) is passed on as SIGINT, so the
    child can stop its own work and clean up as after its own Ctrl+C; if it has not stopped after
    ``grace_s`` it is killed. The ``KeyboardInterrupt`` then goes on to the caller."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    tail: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            line = line.rstrip()
            if line:
                tail = [*tail[-(TAIL_LINES - 1) :], line]
                log(line)
        return child.wait(), tail
    except KeyboardInterrupt:
        _stop(child, grace_s)
        raise


def _stop(child: subprocess.Popen[str], grace_s: float) -> None:
    # It may have had the Ctrl+C too (same terminal); a second SIGINT is one it must tolerate.
    if os.name == "posix":
        child.send_signal(signal.SIGINT)
    else:
        child.terminate()
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
