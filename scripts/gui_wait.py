"""Shared by the GUI scripts (screenshot_gui.py, bench_gui.py): pump Qt events until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait(
    app: object, condition: Callable[[], object], seconds: float, what: str, poll_s: float = 0.001
) -> None:
    """Process ``app``'s events until ``condition()`` is true; exit the script after ``seconds``."""
    end = time.monotonic() + seconds
    while not condition():
        app.processEvents()  # type: ignore[attr-defined]
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(poll_s)
