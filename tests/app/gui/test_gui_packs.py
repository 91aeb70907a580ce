"""Concept packs in the window: the Things panel's Export… and Import… (file dialogs patched), the work
on a worker, the names list and search reloading after an import, and refusals shown as sentences."""

from __future__ import annotations

from pathlib import Path

import pytest
from pack_files import IDENTITY, OTHER_WEIGHTS, fake_bundle, teach_rows
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.gui.bundles import ModelHolder
from app.library.db import open_db
from app.personal.pack import read_pack
from app.personal.store import list_names

TIMEOUT = 10_000


def _shown(window) -> list[str]:
    tree = window.things.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return fake_bundle(tmp_path / "bundle")


@pytest.fixture
def window_with(qtbot, make_window, runtime, bundle: Path):
    """A window whose active model is ``bundle`` (a manifest only: packs read nothing else)."""

    def make(model: Path = bundle):
        return make_window(holder=ModelHolder.fixed(runtime, bundle=model))

    return make


def _patch_dialog(monkeypatch: pytest.MonkeyPatch, name: str, answer: Path | str) -> list[tuple]:
    asked: list[tuple] = []

    def dialog(*args: object) -> str:
        asked.append(args)
        return str(answer)

    monkeypatch.setattr(f"app.gui.things_panel.{name}", dialog)
    return asked


def _error_text(window, title: str = "Import names") -> str:
    """The text of the error box with ``title`` (an import's or an export's), "" while there is none.
    Another part of the window may show its own box meanwhile: one clean-clone run under Xvfb saw a
    startup "library is busy" box first, and the test then read that one."""
    boxes = [b for b in window.findChildren(QMessageBox, "errorBox") if b.windowTitle() == title]
    return boxes[0].text() if boxes else ""


def test_export_writes_the_selected_names_to_one_pack(
    qtbot, window_with, db_path, tmp_path, monkeypatch
) -> None:
    teach_rows(db_path, ["Rex", "Bella", "Milo"])
    window = window_with()
    qtbot.waitUntil(lambda: len(_shown(window)) == 3, timeout=TIMEOUT)
    assert not window.things.export_button.isEnabled()  # nothing selected
    for i in (1, 2):  # Milo and Rex (the list is sorted: Bella, Milo, Rex)
        window.things.tree.topLevelItem(i).setSelected(True)
    assert window.things.selected_names() == ["Milo", "Rex"]
    assert window.things.export_button.isEnabled() and not window.things.rename_button.isEnabled()
    out = tmp_path / "shared" / "two.mgthing"
    out.parent.mkdir()
    asked = _patch_dialog(monkeypatch, "choose_save_file", out)
    window.things.export_button.click()
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=TIMEOUT)
    assert "Exported Milo and Rex to two.mgthing" in window.statusBar().currentMessage()
    assert asked[0][2].endswith("names.mgthing") and asked[0][4] == ".mgthing"
    assert [n.name for n in read_pack(out).names] == ["Milo", "Rex"]


def test_a_cancelled_dialog_does_nothing(qtbot, window_with, db_path, tmp_path, monkeypatch) -> None:
    teach_rows(db_path, ["Rex"])
    window = window_with()
    qtbot.waitUntil(lambda: _shown(window) == ["Rex"], timeout=TIMEOUT)
    window.things.select("Rex")
    _patch_dialog(monkeypatch, "choose_save_file", "")
    _patch_dialog(monkeypatch, "choose_file", "")
    window.things.export_button.click()
    window.things.import_button.click()
    qtbot.wait(100)
    assert window.statusBar().currentMessage() == "" and not list(tmp_path.glob("**/*.mgthing"))


def _pack_from_another_library(tmp_path: Path, bundle: Path, names: list[str]) -> Path:
    from app.gui.packs import export_to

    other = tmp_path / "other.db"
    teach_rows(other, names)
    return export_to(other, bundle, names, tmp_path / "shared.mgthing").path


def test_import_adds_the_names_and_search_reads_them(
    qtbot, window_with, indexed, db_path, tmp_path, bundle, monkeypatch
) -> None:
    pack = _pack_from_another_library(tmp_path, bundle, ["Rex"])
    window = window_with()
    qtbot.waitUntil(lambda: window.engine.state is not None, timeout=TIMEOUT)
    _patch_dialog(monkeypatch, "choose_file", pack)
    with qtbot.waitSignal(window.engine.ready, timeout=TIMEOUT):  # search reloads the names
        window.things.import_button.click()
    qtbot.waitUntil(lambda: _shown(window) == ["Rex"], timeout=TIMEOUT)
    assert "Imported Rex: search for it by name" in window.statusBar().currentMessage()
    assert window.things.selected_name() == "Rex"
    photo = window.things.tree.topLevelItem(0).child(0)  # a photo this library does not have: its hash
    assert (photo.text(0), photo.text(1)) == ("sha256 cccccccccccc…", "not in this library")
    window.things.tree.clearSelection()
    photo.setSelected(True)
    assert window.things.selected_names() == ["Rex"] and not window.things.remove_button.isEnabled()


def test_an_import_from_another_model_is_refused_in_a_sentence(
    qtbot, window_with, db_path, tmp_path, bundle, monkeypatch
) -> None:
    pack = _pack_from_another_library(tmp_path, bundle, ["Rex"])
    other = fake_bundle(tmp_path / "other-model", identity="big-fp32-333333333333", weights=OTHER_WEIGHTS)
    teach_rows(db_path, ["Bella"])
    window = window_with(other)
    qtbot.waitUntil(lambda: _shown(window) == ["Bella"], timeout=TIMEOUT)
    _patch_dialog(monkeypatch, "choose_file", pack)
    window.things.import_button.click()
    qtbot.waitUntil(lambda: _error_text(window) != "", timeout=TIMEOUT)
    assert f"Rex was learned on the model {IDENTITY}" in _error_text(window)
    assert "this library uses big-fp32-333333333333" in _error_text(window)
    db = open_db(db_path, writable=False)
    assert [r.name for r in list_names(db)] == ["Bella"]  # nothing written
    db.close()


def test_a_file_that_is_not_a_pack_is_refused_in_a_sentence(
    qtbot, window_with, db_path, tmp_path, monkeypatch
) -> None:
    junk = tmp_path / "holiday.mgthing"
    junk.write_bytes(b"not a zip at all")
    window = window_with()
    _patch_dialog(monkeypatch, "choose_file", junk)
    window.things.import_button.click()
    qtbot.waitUntil(lambda: _error_text(window) != "", timeout=TIMEOUT)
    assert "holiday.mgthing is not a concept pack" in _error_text(window)


def test_a_taken_name_asks_for_another(qtbot, window_with, db_path, tmp_path, bundle, monkeypatch) -> None:
    pack = _pack_from_another_library(tmp_path, bundle, ["Rex"])
    teach_rows(db_path, ["REX"])
    window = window_with()
    qtbot.waitUntil(lambda: _shown(window) == ["REX"], timeout=TIMEOUT)
    _patch_dialog(monkeypatch, "choose_file", pack)
    window.things.import_button.click()
    qtbot.waitUntil(
        lambda: window.things.findChild(QInputDialog, "importAsDialog") is not None, timeout=TIMEOUT
    )
    dialog = window.things.findChild(QInputDialog, "importAsDialog")
    assert "already has a name REX" in dialog.labelText() and dialog.textValue() == "REX 2"
    dialog.setTextValue("Rex the second")
    dialog.accept()
    qtbot.waitUntil(lambda: _shown(window) == ["REX", "Rex the second"], timeout=TIMEOUT)
    assert "the pack's Rex as Rex the second" in window.statusBar().currentMessage()


def test_import_without_a_model_says_so(qtbot, window_with, tmp_path, bundle, monkeypatch) -> None:
    pack = _pack_from_another_library(tmp_path, bundle, ["Rex"])
    window = window_with()
    window.things.bundle = lambda: None  # as the window has it before a model is chosen
    _patch_dialog(monkeypatch, "choose_file", pack)
    window.things.import_button.click()
    qtbot.waitUntil(lambda: _error_text(window) != "", timeout=TIMEOUT)
    assert "No model is active" in _error_text(window)
