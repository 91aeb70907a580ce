"""The torch child's relay: lines forwarded, the last ones kept, and a Ctrl+C stops the child."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.torch_child import TAIL_LINES, run_engine_module

SPEAKS = """import sys
for i in range(8):
    print(f"line {i}", flush=True)
    print("", flush=True)
sys.exit(3)
"""
# Ignores the first SIGINT, as a job busy cleaning up might: the relay must still stop it (kill).
HANGS = """import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print(os.getpid(), flush=True)
time.sleep(60)
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of child modules on the children's import path."""
    (tmp_path / "child_speaks.py").write_text(SPEAKS)
    (tmp_path / "child_hangs.py").write_text(HANGS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def test_lines_are_relayed_and_the_last_ones_kept(modules: Path) -> None:
    seen: list[str] = []
    code, tail = run_engine_module("child_speaks", [], seen.append)
    assert code == 3
    assert seen == [f"line {i}" for i in range(8)]  # blank lines dropped
    assert tail == [f"line {i}" for i in range(8 - TAIL_LINES, 8)]


def test_ctrl_c_stops_the_child_before_it_propagates(modules: Path) -> None:
    pids: list[int] = []

    def interrupt(line: str) -> None:
        pids.append(int(line))
        raise KeyboardInterrupt  # as Ctrl+C would arrive while the parent reads the child's output

    with pytest.raises(KeyboardInterrupt):
        run_engine_module("child_hangs", [], interrupt, grace_s=0.5)
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left sleeping
        os.kill(pids[0], 0)
