"""Checks the fault tests share (a helper module, imported by name: tests/conftest.py puts it on the path)."""

from __future__ import annotations

from collections.abc import Callable

Run = Callable[..., tuple[int, str, str]]


def one_sentence(err: str, command: str) -> str:
    """The single line a known error prints; fails the test on a traceback or several lines."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("indexed ")]  # progress
    assert len(lines) == 1 and lines[0].startswith(f"multigrain {command}: "), err
    return lines[0]
