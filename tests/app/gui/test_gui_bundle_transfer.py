"""The models dialog's Add bundle… (a folder or one .mgbundle file, checked before it is installed) and
Export with my things… (`multigrain export-things` as a child process, with progress and cancel; here a
small script stands in for the command line, as for importing)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from bundle_files import make_bundle, members_of, rex, zip_members

from app.gui.bundles import ModelHolder
from app.gui.models_dialog import ModelsDialog
from app.gui.settings import Prefs, user_bundles_dir
from app.gui.things_export import things_command
from cli.main import build_parser
from export.bundle_archive import write_archive

TIMEOUT = 20_000
FAKE_CLI = [sys.executable, str(Path(__file__).with_name("fake_importer.py"))]


def dialog(qtbot, holder: ModelHolder, prefs: Prefs, **kwargs: object) -> ModelsDialog:
    d = ModelsDialog(holder, prefs, import_command=FAKE_CLI, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(d)
    d.show()
    return d


def _shown(d: ModelsDialog) -> list[str]:
    return [d.table.item(r, 0).text() for r in range(d.table.rowCount())]


# ----- Add bundle… -----------------------------------------------------------------------------------
def test_a_single_file_bundle_is_added_once(qtbot, prefs: Prefs, tmp_path: Path, monkeypatch) -> None:
    make_bundle(tmp_path / "given" / "rex-model", [rex()])
    archive = write_archive(tmp_path / "given" / "rex-model", tmp_path / "rex-model.mgbundle")
    monkeypatch.setattr("app.gui.models_dialog.choose_file", lambda *a, **k: str(archive))
    d = dialog(qtbot, ModelHolder(None), prefs)
    with qtbot.waitSignal(d.added, timeout=TIMEOUT) as blocker:
        d.add_bundle_file()
        assert not d.add_button.isEnabled()  # one add at a time
    installed = blocker.args[0]
    assert installed.added and installed.path == user_bundles_dir() / "rex-model"
    assert members_of(installed.path) == members_of(tmp_path / "given" / "rex-model")
    assert _shown(d) == ["rex-model"] and d.selected().name == "rex-model" and d.add_button.isEnabled()
    assert "carries taught names" in d.table.item(0, 0).toolTip()
    assert f"added rex-model ({installed.identity})" in d.log.toPlainText()
    with qtbot.waitSignal(d.added, timeout=TIMEOUT) as blocker:
        d.add_bundle_file()  # the same model again: said, not duplicated
    assert not blocker.args[0].added
    assert "is installed already, as rex-model: nothing was added" in d.log.toPlainText()
    assert _shown(d) == ["rex-model"]


def test_a_bundle_folder_is_added(qtbot, prefs: Prefs, tmp_path: Path, monkeypatch) -> None:
    make_bundle(tmp_path / "given" / "plain")
    monkeypatch.setattr(
        "app.gui.models_dialog.choose_folder", lambda *a, **k: str(tmp_path / "given" / "plain")
    )
    d = dialog(qtbot, ModelHolder(None), prefs)
    with qtbot.waitSignal(d.added, timeout=TIMEOUT):
        d.add_bundle_folder()
    assert _shown(d) == ["plain"] and (user_bundles_dir() / "plain" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda m: m | {"vocab.txt": b"changed"}, r"vocab\.txt does not match its sha256"),
        (lambda m: m | {"../../evil.txt": b"x"}, "'../../evil.txt' leads out of its folder"),
        (lambda m: {k: v for k, v in m.items() if k != "text.onnx"}, r"missing file text\.onnx"),
    ],
)
def test_a_refused_bundle_is_said_in_words_and_nothing_is_installed(
    qtbot, prefs: Prefs, tmp_path: Path, monkeypatch, damage, message: str
) -> None:
    make_bundle(tmp_path / "given" / "mine")
    archive = zip_members(tmp_path / "mine.mgbundle", damage(members_of(tmp_path / "given" / "mine")))
    monkeypatch.setattr("app.gui.models_dialog.choose_file", lambda *a, **k: str(archive))
    d = dialog(qtbot, ModelHolder(None), prefs)
    d.add_bundle_file()
    qtbot.waitUntil(lambda: "not added:" in d.log.toPlainText(), timeout=TIMEOUT)
    assert re.search(message, d.log.toPlainText())
    assert not user_bundles_dir().exists() and _shown(d) == [] and d.add_button.isEnabled()
    assert not (tmp_path / "evil.txt").exists()


# ----- Export with my things… -------------------------------------------------------------------------
@pytest.fixture
def things_dialog(qtbot, prefs: Prefs, tmp_path: Path, monkeypatch):
    """A dialog whose active bundle can learn names (the refusal checks pass) and whose library exists."""
    monkeypatch.setattr("app.gui.things_export.bundle_refusal", lambda bundle: None)
    bundle = tmp_path / "bundles" / "demo-int8"
    make_bundle(bundle)
    db = tmp_path / "library.db"
    db.write_bytes(b"")

    def make(db_path: Path = db) -> ModelsDialog:
        return dialog(qtbot, ModelHolder(bundle), prefs, db_path=db_path)

    return make


def test_exporting_with_my_things_runs_the_command_with_progress(
    qtbot, things_dialog, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "usb" / "mine.mgbundle"
    out.parent.mkdir()
    monkeypatch.setattr("app.gui.things_export.choose_save_file", lambda *a, **k: str(out))
    d = things_dialog()
    group = d.things
    group.variant.setCurrentIndex(group.variant.findData("fp32"))
    values = []
    with qtbot.waitSignal(group.exported, timeout=TIMEOUT) as blocker:
        group.export_button.click()
        assert group.cancel_button.isEnabled() and not group.export_button.isEnabled()
        group.process.progress.connect(lambda fraction, _title: values.append(fraction))
    assert blocker.args == [out]
    argv = json.loads(out.read_text())
    bundle = str(tmp_path / "bundles" / "demo-int8")
    assert argv == [
        "export-things",
        str(out),
        "--variant",
        "fp32",
        "--single-file",
        "--db",
        str(tmp_path / "library.db"),
        "--bundle",
        bundle,
    ]
    assert values == sorted(values) and values[-1] == 1.0 and any(0 < v < 1 for v in values)
    log = group.log.toPlainText()
    assert "[1/3] names to carry: Rex (dog)" in log and "add it in another library with Add bundle…" in log
    assert group.export_button.isEnabled() and not group.cancel_button.isEnabled()


def test_exporting_with_my_things_can_be_cancelled(qtbot, things_dialog, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_IMPORT_DELAY", "20")
    out = tmp_path / "mine.mgbundle"
    monkeypatch.setattr("app.gui.things_export.choose_save_file", lambda *a, **k: str(out))
    group = things_dialog().things
    group.export_button.click()
    qtbot.waitUntil(lambda: "[1/3]" in group.log.toPlainText(), timeout=TIMEOUT)
    with qtbot.waitSignal(group.process.finished, timeout=TIMEOUT) as blocker:
        group.cancel_button.click()
    assert blocker.args == [False, "cancelled"]
    assert Path(f"{out}.interrupted").is_file()  # interrupted as Ctrl+C, so it could stop its torch child
    assert not out.exists() and "export cancelled: no file was written" in group.log.toPlainText()
    assert group.progress.format() == "Cancelled" and group.export_button.isEnabled()


def test_export_with_my_things_is_refused_in_words(qtbot, things_dialog, tmp_path: Path, monkeypatch) -> None:
    target = str(tmp_path / "x.mgbundle")
    monkeypatch.setattr("app.gui.things_export.choose_save_file", lambda *a, **k: target)
    group = things_dialog(tmp_path / "nonames.db").things
    group.export_button.click()
    assert group.process is None and "There is no library here" in group.log.toPlainText()
    (tmp_path / "nonames.db").write_bytes(b"")
    with qtbot.waitSignal(group.exported, timeout=TIMEOUT, raising=False) as blocker:
        group.export_button.click()
        with qtbot.waitSignal(group.process.finished, timeout=TIMEOUT) as finished:
            pass
    assert not blocker.signal_triggered and finished.args[0] is False
    assert "the library has no taught names for the model" in group.log.toPlainText()
    assert group.progress.format() == "Failed"


def test_the_refusal_of_a_model_that_cannot_carry_names_comes_first(
    qtbot, prefs: Prefs, tmp_path: Path
) -> None:
    from fake_importer import manifest

    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps(manifest("old", "int8")))  # format 1: no name input
    (tmp_path / "library.db").write_bytes(b"")
    group = dialog(qtbot, ModelHolder(old), prefs, db_path=tmp_path / "library.db").things
    group.export_button.click()
    assert group.process is None and "too old to learn names" in group.log.toPlainText()


def test_the_command_line_takes_the_dialogs_arguments(tmp_path: Path) -> None:
    argv = things_command(["multigrain"], tmp_path / "a.mgbundle", "int8", tmp_path / "l.db", tmp_path / "b")
    args = build_parser().parse_args(argv[1:])
    assert (args.handler, args.out, args.variant, args.single_file) == (
        "app.personal.commands:export_things",
        str(tmp_path / "a.mgbundle"),
        "int8",
        True,
    )
    assert (args.db, args.bundle) == (str(tmp_path / "l.db"), str(tmp_path / "b"))
