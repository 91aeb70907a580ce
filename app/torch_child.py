"""A torch job as a child process of a command that never imports torch (teaching a name, exporting a
bundle): started from the repository with its output relayed line by line, and stopped on Ctrl+C.

Ctrl+C in a terminal reaches the child too (same process group); ``terminate`` covers the other ways
the parent is interrupted (the window's interrupt reaches only the parent). The caller turns the
``KeyboardInterrupt`` that comes back into its own sentence ("nothing was stored").
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from app.home import REPO

TAIL = 5  # last lines kept, for the sentence when the child fails
STOP_WAIT_S = 10  # how long a terminated child gets to finish before it is killed


def run_torch_child(argv: list[str], log: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``argv`` from the repository (importable there), print each non-empty line of its output
    through ``log`` with an indent, and return its exit code and last lines. On Ctrl+C the child is
    stopped (terminated, then killed) before ``KeyboardInterrupt`` propagates."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    child = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    tail: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            line = line.rstrip()
            if line:
                tail = [*tail[-(TAIL - 1) :], line]
                log(f"  {line}")
        return child.wait(), tail
    except KeyboardInterrupt:
        child.terminate()
        try:
            child.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
