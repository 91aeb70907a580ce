"""The torch child's relay: lines forwarded, the last ones kept, and a Ctrl+C stops the child."""

from __future__ import annotations

import os
import sys

import pytest

from app.torch_child import TAIL, run_torch_child

SPEAKS = """import sys
for i in range(8):
    print(f"line {i}", flush=True)
    print("", flush=True)
sys.exit(3)
"""
HANGS = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)"


def test_lines_are_relayed_and_the_last_ones_kept() -> None:
    seen: list[str] = []
    code, tail = run_torch_child([sys.executable, "-c", SPEAKS], seen.append)
    assert code == 3
    assert seen == [f"  line {i}" for i in range(8)]  # indented, blank lines dropped
    assert tail == [f"line {i}" for i in range(8 - TAIL, 8)]


def test_ctrl_c_stops_the_child_before_it_propagates() -> None:
    pids: list[int] = []

    def interrupt(line: str) -> None:
        pids.append(int(line))
        raise KeyboardInterrupt  # as Ctrl+C would arrive while the parent reads the child's output

    with pytest.raises(KeyboardInterrupt):
        run_torch_child([sys.executable, "-c", HANGS], interrupt)
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left sleeping
        os.kill(pids[0], 0)
