"""The models dialog's "Fine-tune on my photos…" with a fake command line (tests/app/gui/fake_finetuner.py):
the records and timed steps first, then on the CPU a question with the estimate, on a GPU a sentence and
no question; the run and the export with progress; cancel, a refusal at the question and a failure
leave nothing behind; the window uses the new bundle and indexes the library with it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fake_importer import manifest
from gui_fakes import GroundingFake
from PySide6.QtWidgets import QMessageBox

from app.gui.bundles import ModelHolder
from app.gui.models_dialog import ModelsDialog
from app.gui.processes import progress_of
from app.gui.settings import Prefs, data_dir, user_bundles_dir
from app.library.db import open_db
from core.finetune import step_line

TIMEOUT = 20_000
FAKE = [sys.executable, str(Path(__file__).with_name("fake_finetuner.py"))]


def fake_loader(path: Path) -> GroundingFake:
    return GroundingFake(identity=json.loads((path / "manifest.json").read_text())["identity"])


def able_bundle(root: Path, name: str = "alpha") -> Path:
    """A fake int8 bundle whose manifest records a checkpoint folder that is there."""
    checkpoint = root / "checkpoints" / name
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    bundle = user_bundles_dir() / name
    bundle.mkdir(parents=True)
    data = manifest(name, "int8") | {
        "source": {"checkpoint_path": str(checkpoint), "weights_sha256": "0" * 64}
    }
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake's log of every command line it ran."""
    log = tmp_path / "commands.jsonl"
    log.write_text("")
    monkeypatch.setenv("FAKE_FT_LOG", str(log))
    return log


def ran(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def library_file(db_path: Path) -> Path:
    open_db(db_path).close()
    return db_path


def dialog(qtbot, bundle: Path | None, prefs: Prefs, db_path: Path) -> ModelsDialog:
    d = ModelsDialog(ModelHolder(bundle, fake_loader), prefs, import_command=FAKE, db_path=db_path)
    qtbot.addWidget(d)
    d.show()
    return d


def question(qtbot, d: ModelsDialog) -> QMessageBox:
    qtbot.waitUntil(lambda: d.findChild(QMessageBox, "fineTuneEstimateBox") is not None, timeout=TIMEOUT)
    return d.findChild(QMessageBox, "fineTuneEstimateBox")


def test_on_the_cpu_the_estimate_is_asked_about_then_the_run_makes_a_bundle(
    qtbot, hermetic: Path, prefs: Prefs, library_file: Path, commands: Path
) -> None:
    source = able_bundle(hermetic.parent)
    d = dialog(qtbot, source, prefs, library_file)
    panel = d.fine_tune
    values: list[float] = []
    panel.start_button.click()
    assert panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    box = question(qtbot, d)
    assert "No GPU was found" in box.text() and "about 28 s" in box.text()  # 10 s + 12 steps x 1.5 s
    assert "12 steps at 1.5 s each" in box.informativeText()
    with qtbot.waitSignal(d.fine_tuned, timeout=TIMEOUT) as blocker:
        box.button(QMessageBox.StandardButton.Yes).click()
        panel.process.progress.connect(lambda fraction, _title: values.append(fraction))
    bundle = blocker.args[0]
    assert bundle.parent == user_bundles_dir() and bundle.name.startswith("alpha-mine-")
    assert bundle.name.endswith("-int8") and (bundle / "manifest.json").is_file()
    name = bundle.name.removesuffix("-int8")
    checkpoint = data_dir() / "models" / name
    assert (checkpoint / "meta.json").is_file()  # kept: teaching on the new bundle needs it
    assert not (data_dir() / "fine-tune" / name).exists()  # the records are gone
    labels, estimate, train, export = ran(commands)
    assert [labels[0], estimate[0], train[0], export[0]] == [
        "export-labels",
        *["fine-tune-library"] * 2,
        "export",
    ]
    assert labels[labels.index("--db") + 1] == str(library_file)
    assert "--estimate" in estimate and "--estimate" not in train
    assert (
        train[train.index("--from-bundle") + 1] == str(source) and train[train.index("--epochs") + 1] == "3"
    )
    assert export[1:3] == [str(checkpoint), str(bundle)] and export[export.index("--variant") + 1] == "int8"
    assert values == sorted(values) and values[-1] == 1.0 and any(0 < v < 0.5 for v in values)
    assert "step 12/12" in panel.log.toPlainText() and panel.progress.format() == "Done"
    assert d.selected() is not None and d.selected().path == bundle
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_gpu_is_said_and_the_run_starts_without_a_question(
    qtbot, hermetic: Path, prefs: Prefs, library_file: Path, commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FT_DEVICE", "cuda")
    d = dialog(qtbot, able_bundle(hermetic.parent), prefs, library_file)
    d.fine_tune.epochs.setValue(1)
    with qtbot.waitSignal(d.fine_tuned, timeout=TIMEOUT):
        d.fine_tune.start_button.click()
    assert d.findChild(QMessageBox, "fineTuneEstimateBox") is None
    assert "A GPU (CUDA) was found: fine-tuning runs there" in d.fine_tune.log.toPlainText()
    assert ran(commands)[2][ran(commands)[2].index("--epochs") + 1] == "1"


def test_no_at_the_question_and_cancel_mid_run_leave_nothing(
    qtbot, hermetic: Path, prefs: Prefs, library_file: Path, commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = dialog(qtbot, able_bundle(hermetic.parent), prefs, library_file)
    panel = d.fine_tune
    panel.start_button.click()
    question(qtbot, d).button(QMessageBox.StandardButton.No).click()
    assert panel.progress.format() == "Not started" and "nothing was changed" in panel.log.toPlainText()
    assert not (data_dir() / "fine-tune").exists() or not any((data_dir() / "fine-tune").iterdir())
    assert [argv[0] for argv in ran(commands)] == ["export-labels", "fine-tune-library"]

    monkeypatch.setenv("FAKE_FT_DELAY", "5")
    qtbot.wait(1100)  # a new attempt gets a new name (to the second)
    panel.start_button.click()
    question(qtbot, d).button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(ran(commands)) == 5, timeout=TIMEOUT)  # the run has started
    qtbot.wait(500)  # its Python is up and in the first step
    with qtbot.waitSignal(panel.process.finished, timeout=TIMEOUT) as blocker:
        panel.cancel_button.click()
    assert blocker.args == [False, "cancelled"]
    assert "is as it was" in panel.log.toPlainText()  # the command took the interrupt itself
    assert panel.progress.format() == "Cancelled" and panel.start_button.isEnabled()
    leftovers = [p for root in ("fine-tune", "models") for p in (data_dir() / root).glob("*")]
    assert leftovers == [] and sorted(p.name for p in user_bundles_dir().iterdir()) == ["alpha"]


def test_a_failed_run_is_said_in_words_and_cleaned_up(
    qtbot, hermetic: Path, prefs: Prefs, library_file: Path, commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FT_FAIL", "fine-tune-library")
    monkeypatch.setenv("FAKE_FT_DEVICE", "cuda")
    d = dialog(qtbot, able_bundle(hermetic.parent), prefs, library_file)
    d.fine_tune.start_button.click()
    qtbot.waitUntil(lambda: d.fine_tune.progress.format() == "Failed", timeout=TIMEOUT)
    assert "Fine-tuning failed: multigrain fine-tune-library: fine-tuning failed: non-finite loss" in (
        d.fine_tune.log.toPlainText()
    )
    assert not any((data_dir() / "fine-tune").glob("*")) and not (data_dir() / "models").exists()


def test_a_model_without_its_checkpoint_is_refused_before_anything_runs(
    qtbot, hermetic: Path, prefs: Prefs, library_file: Path, commands: Path
) -> None:
    bundle = user_bundles_dir() / "old"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest("old", "int8")))  # records no checkpoint
    d = dialog(qtbot, bundle, prefs, library_file)
    d.fine_tune.start_button.click()
    assert d.fine_tune.process is None and ran(commands) == []
    assert "does not record the checkpoint it was exported from, and fine-tuning needs it" in (
        d.fine_tune.log.toPlainText()
    )
    nowhere = dialog(qtbot, bundle, prefs, hermetic / "no-library.db")
    nowhere.fine_tune.start_button.click()
    assert "no library to learn from" in nowhere.fine_tune.log.toPlainText()


def test_the_window_uses_the_fine_tuned_model_and_indexes_with_it(
    qtbot, make_window, hermetic: Path, db_path: Path, indexed: Path, commands: Path, monkeypatch
) -> None:
    from gui_fakes import index_folder

    monkeypatch.setenv("FAKE_FT_DEVICE", "cuda")
    source = able_bundle(hermetic.parent)
    holder = ModelHolder(source, fake_loader)
    index_folder(db_path, fake_loader(source), [indexed / "album", indexed / "other"])
    window = make_window(holder, import_command=FAKE)
    qtbot.waitUntil(
        lambda: window.engine.state is not None and window.engine.state.photos == 12, timeout=TIMEOUT
    )
    d = window.open_models()
    with qtbot.waitSignal(window.indexer.finished, timeout=TIMEOUT) as blocker:
        d.fine_tune.start_button.click()
    assert holder.bundle is not None and holder.bundle.name.startswith("alpha-mine-")
    assert window.prefs.bundle == holder.bundle
    assert sum(f.indexed for f in blocker.args[0].folders) == 12  # indexed with it, without a question
    qtbot.waitUntil(lambda: window.engine.state.identity == "alpha-tuned-int8-000000000000", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.engine.state.photos == 12, timeout=TIMEOUT)
    assert window.findChild(QMessageBox, "reindexBox") is None


def test_step_lines_are_progress_for_the_window() -> None:
    assert progress_of(step_line(30, 120, 2.5, 300)) == 0.25


def test_closing_the_dialog_leaves_the_run_and_closing_the_window_stops_it(
    qtbot, make_window, hermetic: Path, db_path: Path, indexed: Path, commands: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_FT_DEVICE", "cuda")
    monkeypatch.setenv("FAKE_FT_DELAY", "5")
    window = make_window(ModelHolder(able_bundle(hermetic.parent), fake_loader), import_command=FAKE)
    d = window.open_models()
    d.fine_tune.start_button.click()
    qtbot.waitUntil(lambda: len(ran(commands)) == 3, timeout=TIMEOUT)  # the run has started
    d.close()
    assert d.fine_tune.process is not None and d.fine_tune.process.running  # it goes on
    qtbot.wait(500)
    window.close()
    assert d.fine_tune.process is None and d.fine_tune.progress.format() == "Cancelled"
    assert [p for root in ("fine-tune", "models") for p in (data_dir() / root).glob("*")] == []
