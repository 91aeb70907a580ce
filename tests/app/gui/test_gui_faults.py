"""The window under the library's faults: a full disk while indexing is one sentence, not a bug report."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
from photo_files import write_photos

from app.gui.main_window import MainWindow
from app.library.errors import DiskFullError

pytestmark = pytest.mark.fault
TIMEOUT = 20_000


def test_a_full_disk_while_indexing_is_said_in_words(
    qtbot, make_window: Callable[..., MainWindow], indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("app.vectorcache.build", full)
    shown: list[BaseException] = []
    monkeypatch.setattr("app.gui.main_window.show_error", lambda _parent, err, *_: shown.append(err))
    window = make_window()
    write_photos(indexed / "album", 1, prefix="new", first_colour=60)
    window.indexer.index(None)
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    assert isinstance(shown[0], DiskFullError)
    assert "disk is full" in str(shown[0]) and "nothing indexed so far is lost" in str(shown[0])
