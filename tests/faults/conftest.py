"""The fault suite: the library under a full disk, damaged files and hostile input, one test per case.
The window's lock-loss and display faults are in tests/app/gui/ (they need its fixtures) and carry the
same ``fault`` mark, so ``pytest -m fault`` runs the whole suite.

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder belongs to the fault suite (``pytest -m fault``), with the window's
    fault tests in tests/app/gui/ that carry the mark themselves."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """App data in tmp_path/home, the fake model for every command, and a folder of four photos."""
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(commands, "load_model", lambda args, **_: TextTable())
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
