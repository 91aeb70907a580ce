"""The fault suite: the library under a full disk, damaged files and hostile input, one test per case.

Commands run in-process through ``cli.main.main`` with a fake model (``search_fakes.TextTable``), so no
test needs torch or a bundle except the bundle faults, which export a tiny one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_checks import Run
from photo_files import write_photos
from search_fakes import TextTable

from app import commands
from cli.main import main


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """App data in tmp_path/home, the fake model for every command, and a folder of four photos."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(commands, "load_model", lambda args: TextTable())
    folder = tmp_path / "photos"
    write_photos(folder, 4)
    yield folder


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``multigrain ARGV...`` in this process: (exit code, stdout, stderr)."""

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call
