"""The models dialog: listing bundles, importing (a fake importer process), cancelling, exporting,
speed, and switching the active model with its re-index offer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fake_importer import manifest
from gui_fakes import GroundingFake
from PySide6.QtWidgets import QMessageBox

from app.gui.bundles import ModelHolder, list_bundles
from app.gui.models_dialog import ModelsDialog
from app.gui.settings import Prefs, user_bundles_dir

TIMEOUT = 20_000
FAKE_IMPORTER = [sys.executable, str(Path(__file__).with_name("fake_importer.py"))]


def fake_bundle(folder: Path, name: str, variant: str = "int8") -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest(name, variant)))
    return folder


def fake_loader(path: Path) -> GroundingFake:
    """A runtime for a fake bundle: the fake model under the bundle's identity."""
    identity = json.loads((path / "manifest.json").read_text())["identity"]
    return GroundingFake(identity=identity)


@pytest.fixture
def bundles(hermetic: Path) -> tuple[Path, Path]:
    return (
        fake_bundle(user_bundles_dir() / "alpha", "alpha"),
        fake_bundle(user_bundles_dir() / "beta", "beta", "fp32"),
    )


def dialog(qtbot, holder: ModelHolder, prefs: Prefs, **kwargs: object) -> ModelsDialog:
    d = ModelsDialog(holder, prefs, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(d)
    d.show()
    return d


def test_bundles_are_listed_with_the_active_one(qtbot, bundles, prefs: Prefs, tmp_path: Path) -> None:
    broken = user_bundles_dir() / "gamma"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    d = dialog(qtbot, ModelHolder(bundles[0], fake_loader), prefs)
    table = d.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["alpha", "beta", "gamma"]
    assert table.item(0, 4).text() == "active" and table.item(0, 3).text() == "app data"
    assert "unreadable manifest" in table.item(2, 4).text()
    assert "alpha-int8-000000000000" in d.active_label.text()
    qtbot.waitUntil(lambda: "CPU" in d.device_label.text(), timeout=TIMEOUT)
    table.selectRow(2)
    assert not d.use_button.isEnabled()  # a broken bundle cannot be chosen


def test_importing_a_checkpoint_runs_the_importer_in_the_background(
    qtbot, prefs: Prefs, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "model_base_4m.th"
    checkpoint.write_bytes(b"weights")
    prefs.import_command = FAKE_IMPORTER  # the setting that replaces `python -m cli.main`
    d = dialog(qtbot, ModelHolder(None), prefs)
    d.checkpoint.setText(str(checkpoint))
    d.config.setCurrentText("xvlm-base-224")
    d.variant.setCurrentIndex(d.variant.findData("fp32"))
    values = []
    with qtbot.waitSignal(d.imported, timeout=TIMEOUT) as blocker:
        d.import_button.click()
        assert d.cancel_button.isEnabled() and not d.import_button.isEnabled()
        d.process.progress.connect(lambda fraction, _title: values.append(fraction))
    bundle = blocker.args[0]
    assert bundle == user_bundles_dir() / "model_base_4m-fp32"
    assert json.loads((bundle / "manifest.json").read_text())["model"] == "xvlm-base-224"
    assert values == sorted(values) and values[-1] == 1.0 and any(0 < v < 1 for v in values)
    assert d.progress.value() == 1000
    log = d.log.toPlainText()
    assert "loading tensors 3/3" in log and "exporting graphs 100%" in log
    assert not (bundle.parent.parent / "imports" / "model_base_4m-fp32").exists()  # staging removed
    names = [d.table.item(r, 0).text() for r in range(d.table.rowCount())]
    assert "model_base_4m-fp32" in names
    assert d.selected() is not None and d.selected().name == "model_base_4m-fp32"


def test_an_import_can_be_cancelled(qtbot, prefs: Prefs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_IMPORT_DELAY", "5")
    checkpoint = tmp_path / "slow.th"
    checkpoint.write_bytes(b"weights")
    d = dialog(qtbot, ModelHolder(None), prefs, import_command=FAKE_IMPORTER)
    d.checkpoint.setText(str(checkpoint))
    d.bundle_name.setText("slow one")
    d.import_button.click()
    qtbot.waitUntil(lambda: "loading tensors 1/3" in d.log.toPlainText(), timeout=TIMEOUT)
    with qtbot.waitSignal(d.process.finished, timeout=TIMEOUT) as blocker:
        d.cancel_button.click()
    assert blocker.args == [False, "cancelled"]
    assert d.progress.format() == "Cancelled" and "import cancelled" in d.log.toPlainText()
    assert not (user_bundles_dir() / "slow-one").exists()
    assert d.import_button.isEnabled() and not d.cancel_button.isEnabled()


def test_an_importer_failure_is_shown_in_words(qtbot, prefs: Prefs, tmp_path: Path) -> None:
    checkpoint = tmp_path / "bad.th"
    checkpoint.write_bytes(b"junk")
    d = dialog(qtbot, ModelHolder(None), prefs, import_command=FAKE_IMPORTER)
    d.checkpoint.setText(str(checkpoint))
    d.import_button.click()
    with qtbot.waitSignal(d.process.finished, timeout=TIMEOUT) as blocker:
        pass
    ok, message = blocker.args
    assert (
        not ok
        and message.startswith("Importing the checkpoint failed")
        and "not an X-VLM checkpoint" in message
    )
    assert d.progress.format() == "Failed"


def test_a_missing_checkpoint_file_is_refused(qtbot, prefs: Prefs, tmp_path: Path) -> None:
    d = dialog(qtbot, ModelHolder(None), prefs, import_command=FAKE_IMPORTER)
    d.checkpoint.setText(str(tmp_path / "nothing.th"))
    d.import_button.click()
    assert d.process is None and "no such checkpoint file" in d.log.toPlainText()


def test_exporting_the_active_bundle_copies_it(
    qtbot, bundles, prefs: Prefs, tmp_path: Path, monkeypatch
) -> None:
    target = tmp_path / "usb"
    target.mkdir()
    monkeypatch.setattr("app.gui.models_dialog.choose_folder", lambda *a, **k: str(target))
    d = dialog(qtbot, ModelHolder(bundles[1], fake_loader), prefs)
    d.export_button.click()
    qtbot.waitUntil(lambda: "exported to" in d.log.toPlainText(), timeout=TIMEOUT)
    assert (target / "beta" / "manifest.json").read_text() == (bundles[1] / "manifest.json").read_text()
    d.export_button.click()  # again: the copy is there, which is said in words
    qtbot.waitUntil(lambda: "already exists" in d.log.toPlainText(), timeout=TIMEOUT)


def test_speed_is_measured(qtbot, prefs: Prefs) -> None:
    d = dialog(qtbot, ModelHolder.fixed(GroundingFake()), prefs)
    d.speed_button.click()
    qtbot.waitUntil(lambda: "images/s" in d.speed_label.text(), timeout=TIMEOUT)
    assert "CPU" in d.speed_label.text() and "texts/s" in d.speed_label.text()


def test_switching_models_offers_a_reindex(qtbot, make_window, bundles, db_path: Path, indexed: Path) -> None:
    holder = ModelHolder(bundles[0], fake_loader)
    from gui_fakes import index_folder

    index_folder(db_path, fake_loader(bundles[0]), [indexed / "album", indexed / "other"])
    window = make_window(holder)
    qtbot.waitUntil(
        lambda: window.engine.state is not None and window.engine.state.photos == 12, timeout=TIMEOUT
    )
    d = window.open_models()
    d.table.selectRow(1)
    d.use_button.click()
    assert window.prefs.bundle == bundles[1] and holder.bundle == bundles[1]
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "reindexBox") is not None, timeout=TIMEOUT)
    box = window.findChild(QMessageBox, "reindexBox")
    assert "12 photos are not indexed with this model" in box.text()
    qtbot.waitUntil(lambda: window.engine.state.identity == "beta-fp32-000000000000", timeout=TIMEOUT)
    assert window.engine.state.photos == 0  # vectors belong to a model: none for this one yet
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT) as blocker:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert sum(f.indexed for f in blocker.args[0].folders) == 12
    qtbot.waitUntil(lambda: window.engine.state.photos == 12, timeout=TIMEOUT)
    assert d.table.item(1, 4).text() == "active"


def test_list_bundles_includes_the_active_one_from_elsewhere(tmp_path: Path, hermetic: Path) -> None:
    elsewhere = fake_bundle(tmp_path / "elsewhere" / "mine", "mine")
    [info] = list_bundles(elsewhere)
    assert (info.name, info.where, info.problem) == ("mine", "elsewhere", None)
