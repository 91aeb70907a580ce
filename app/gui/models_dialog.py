"""The models dialog: the bundles there are, which one is active, importing and exporting, speed, and
fine-tuning the active model on the library (``finetune_panel``).

Importing an official X-VLM checkpoint is two commands run as child processes (they need torch, which
this process never imports): ``multigrain import-xvlm`` into our checkpoint format, then
``multigrain export`` to a bundle in the app data folder. The command prefix can be replaced (a
setting, or the constructor) by anything that takes the same arguments; tests use a small script.
"Export with my things…" runs ``multigrain export-things`` the same way (``things_export``). "Add
bundle…" installs a bundle folder or ``.mgbundle`` file someone handed over, on a worker thread, after
every check of ``export.bundle_intake`` (nothing is written to the bundles folder before they pass).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.bundles import (
    VARIANTS,
    BundleInfo,
    ModelHolder,
    Speed,
    add_bundle,
    list_bundles,
    measure_speed,
)
from app.gui.child_log import ChildLog
from app.gui.errors import short
from app.gui.file_dialogs import choose_file, choose_folder
from app.gui.finetune_panel import FineTunePanel
from app.gui.processes import Step, StepProcess, app_command
from app.gui.settings import Prefs, data_dir, user_bundles_dir
from app.gui.tasks import Pool, run_task
from app.gui.things_export import ThingsExportGroup
from app.home import REPO
from core.errors import KnownError
from export.bundle_intake import Installed

CHECKPOINT_FILTER = "X-VLM checkpoints (*.th *.pth *.pt *.bin);;All files (*)"
BUNDLE_FILTER = "Single-file model bundles (*.mgbundle);;All files (*)"


def model_configs() -> list[str]:
    """Names of the engine's model configs, read from their folder (no engine import: torch)."""
    folder = REPO / "engine" / "configs"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def copy_bundle(source: Path, folder: Path) -> Path:
    """Worker thread: copy a bundle directory into ``folder``; returns the copy."""
    target = folder / source.name
    if target.exists():
        raise KnownError(f"{target} already exists: choose another folder")
    try:
        shutil.copytree(source, target)
    except OSError as err:
        shutil.rmtree(target, ignore_errors=True)
        raise KnownError(f"cannot copy the bundle to {target}: {err.strerror or err}") from err
    return target


class ModelsDialog(QDialog):
    activated = Signal(object)  # Path of the bundle the user chose
    imported = Signal(object)  # Path of a newly imported bundle
    added = Signal(object)  # Installed: a bundle added with Add bundle… (or found installed already)
    fine_tuned = Signal(object)  # Path of the bundle fine-tuned on the library (to use and index with)

    def __init__(
        self,
        holder: ModelHolder,
        prefs: Prefs,
        import_command: list[str] | None = None,
        pool: Pool | None = None,
        parent: QWidget | None = None,
        db_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.holder = holder
        self.prefs = prefs
        self.import_command = import_command or prefs.import_command or app_command()
        self.pool = pool
        self.process: StepProcess | None = None
        self._outputs: list[Path] = []  # what the running import creates (removed if it fails)
        self._bundle_out: Path | None = None
        self._adding = False
        self.resize(780, 760)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_active_label())
        layout.addLayout(self._build_device_row())
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_bundle_buttons())
        self.things = ThingsExportGroup(holder, db_path, self.import_command, self)
        layout.addWidget(self.things)
        layout.addWidget(self._build_import_group())
        self.fine_tune = FineTunePanel(holder, db_path, self.import_command, self)
        self.fine_tune.finished.connect(self._fine_tuned)
        layout.addWidget(self.fine_tune)
        layout.addWidget(self._build_close_buttons())
        self.refresh()
        self._show_device()

    # ----- building the dialog ---------------------------------------------------------------------
    def _build_active_label(self) -> QLabel:
        self.active_label = QLabel()
        self.active_label.setObjectName("activeModel")
        self.active_label.setWordWrap(True)
        return self.active_label

    def _build_device_row(self) -> QHBoxLayout:
        self.device_label = QLabel("Device: …")
        self.device_label.setObjectName("device")
        # Speed has its own label: the device query and a measurement run as separate tasks, and
        # whichever finished last used to overwrite the other's text.
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speed")
        self.speed_button = QPushButton("Measure speed")
        self.speed_button.setObjectName("measureSpeed")
        self.speed_button.clicked.connect(self.measure)
        device_row = QHBoxLayout()
        device_row.addWidget(self.device_label, 1)
        device_row.addWidget(self.speed_label)
        device_row.addWidget(self.speed_button)
        return device_row

    def _build_table(self) -> QTableWidget:
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("bundles")
        self.table.setHorizontalHeaderLabels(["Bundle", "Model", "Variant", "Where", "Status"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _: self.use_selected())
        return self.table

    def _build_bundle_buttons(self) -> QHBoxLayout:
        self.use_button = QPushButton("Use this model")
        self.use_button.setObjectName("useModel")
        self.use_button.clicked.connect(self.use_selected)
        self.export_button = QPushButton("Export active model…")
        self.export_button.setObjectName("exportModel")
        self.export_button.clicked.connect(self.export_active)
        self.add_button = QPushButton("Add bundle…")
        self.add_button.setObjectName("addBundle")
        self.add_button.setToolTip("Install a bundle someone gave you: a bundle folder or one .mgbundle file")
        menu = QMenu(self.add_button)
        menu.addAction("A single-file bundle (.mgbundle)…", self.add_bundle_file)
        menu.addAction("A bundle folder…", self.add_bundle_folder)
        self.add_button.setMenu(menu)
        row = QHBoxLayout()
        row.addWidget(self.use_button)
        row.addWidget(self.export_button)
        row.addWidget(self.add_button)
        row.addStretch(1)
        return row

    def _build_import_group(self) -> QGroupBox:
        group = QGroupBox("Import an official X-VLM checkpoint")
        box = QVBoxLayout(group)
        box.addLayout(self._build_import_form())
        box.addLayout(self._build_import_actions())
        box.addWidget(self._build_import_log())
        return group

    def _build_import_form(self) -> QFormLayout:
        self.checkpoint = QLineEdit()
        self.checkpoint.setObjectName("checkpointPath")
        self.checkpoint.setPlaceholderText("an official X-VLM checkpoint (.th)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse_checkpoint)
        pick = QHBoxLayout()
        pick.addWidget(self.checkpoint, 1)
        pick.addWidget(browse)
        self.config = QComboBox()
        self.config.setObjectName("config")
        for name in model_configs():
            self.config.addItem(name)
        self.config.setCurrentIndex(max(0, self.config.findText("xvlm-base-384")))
        self.variant = QComboBox()
        self.variant.setObjectName("variant")
        for key, label in VARIANTS:
            self.variant.addItem(label, key)
        self.bundle_name = QLineEdit()
        self.bundle_name.setObjectName("bundleName")
        self.bundle_name.setPlaceholderText("name of the new bundle (default: from the file name)")
        form = QFormLayout()
        form.addRow("Checkpoint", pick)
        form.addRow("Architecture", self.config)
        form.addRow("Variant", self.variant)
        form.addRow("Name", self.bundle_name)
        return form

    def _build_import_actions(self) -> QHBoxLayout:
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("startImport")
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelImport")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_import)
        self.progress = QProgressBar()
        self.progress.setObjectName("importProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        actions = QHBoxLayout()
        actions.addWidget(self.progress, 1)
        actions.addWidget(self.import_button)
        actions.addWidget(self.cancel_button)
        return actions

    def _build_import_log(self) -> QPlainTextEdit:
        self.log = ChildLog("importLog", 110)
        return self.log

    def _build_close_buttons(self) -> QDialogButtonBox:
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        return buttons

    # ----- the list --------------------------------------------------------------------------------
    def refresh(self, select: Path | None = None) -> None:
        self.bundles: list[BundleInfo] = list_bundles(self.holder.bundle)
        active = self.holder.bundle.resolve() if self.holder.bundle else None
        self.table.setRowCount(len(self.bundles))
        for i, info in enumerate(self.bundles):
            is_active = active is not None and info.path.resolve() == active
            status = info.problem or ("active" if is_active else "")
            cells = [info.name, info.model, info.variant, info.where, status]
            carries = "\ncarries taught names" if info.carries_names else ""
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(
                    f"{info.path}\n{info.identity}{carries}" if not info.problem else info.problem
                )
                if is_active:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, column, item)
            if select is not None and info.path.resolve() == select.resolve():
                self.table.selectRow(i)
        identity = self.holder.identity()
        self.active_label.setText(
            f"Active model: <b>{identity}</b><br><small>{self.holder.bundle}</small>"
            if identity
            else "No model is active: import a checkpoint or pick a bundle below."
        )
        self._update_buttons()

    def selected(self) -> BundleInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.bundles[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        info = self.selected()
        busy = self.process is not None and self.process.running
        self.use_button.setEnabled(info is not None and info.problem is None and not busy)
        self.export_button.setEnabled(self.holder.bundle is not None and not busy)
        self.import_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.add_button.setEnabled(not self._adding)
        self.things.update_buttons()

    def use_selected(self) -> None:
        info = self.selected()
        if info is None or info.problem is not None:
            return
        self.activated.emit(info.path)
        self.refresh(select=info.path)
        self._show_device()

    # ----- device and speed ------------------------------------------------------------------------
    def _show_device(self) -> None:
        if self.holder.bundle is None:
            self.device_label.setText("Device: no model loaded")
            return

        def providers() -> tuple[str, ...]:
            return tuple(getattr(self.holder.get(), "providers", None) or ("CPUExecutionProvider",))

        run_task(providers, self._providers_known, self._device_failed, pool=self.pool, context=self)

    def _providers_known(self, providers: tuple[str, ...]) -> None:
        device = "CUDA (GPU)" if "CUDAExecutionProvider" in providers else "CPU"
        self.device_label.setText(f"Device: {device} — {', '.join(providers)}")

    def _device_failed(self, error: BaseException) -> None:
        self.device_label.setText(f"Device: unknown ({short(error)})")

    def measure(self) -> None:
        self.speed_button.setEnabled(False)
        self.speed_label.setText("Measuring…")
        run_task(
            lambda: measure_speed(self.holder.get()),
            self._measured,
            self._measure_failed,
            pool=self.pool,
            context=self,
        )

    def _measured(self, speed: Speed) -> None:
        self.speed_button.setEnabled(True)
        self.speed_label.setText(
            f"{speed.device}: {speed.images_per_s:.1f} images/s, {speed.texts_per_s:.0f} texts/s"
        )
        self.speed_label.setToolTip(speed.identity)

    def _measure_failed(self, error: BaseException) -> None:
        self.speed_button.setEnabled(True)
        self.speed_label.setText(f"Speed: {short(error)}")

    # ----- export ----------------------------------------------------------------------------------
    def export_active(self) -> None:
        source = self.holder.bundle
        if source is None:
            return
        folder = choose_folder(self, "Export the active model to a folder")
        if not folder:
            return
        self.log.appendPlainText(f"copying {source.name} to {folder}…")
        run_task(
            lambda: copy_bundle(source, Path(folder)),
            lambda target: self.log.appendPlainText(f"exported to {target}"),
            lambda err: self.log.appendPlainText(short(err)),
            pool=self.pool,
            context=self,
        )

    # ----- adding a bundle someone handed over -------------------------------------------------------
    def add_bundle_file(self) -> None:
        path = choose_file(self, "A single-file model bundle", "", BUNDLE_FILTER)
        if path:
            self.add_from(Path(path))

    def add_bundle_folder(self) -> None:
        path = choose_folder(self, "A model bundle folder")
        if path:
            self.add_from(Path(path))

    def add_from(self, source: Path) -> None:
        """Check and install ``source`` on a worker thread; the outcome is said in the log."""
        self._adding = True
        self._update_buttons()
        self.log.appendPlainText(f"checking {source}…")
        run_task(lambda: add_bundle(source), self._added, self._add_failed, pool=self.pool, context=self)

    def _added(self, installed: Installed) -> None:
        self._adding = False
        if installed.added:
            self.log.appendPlainText(f"added {installed.path.name} ({installed.identity})")
        else:
            self.log.appendPlainText(
                f"{installed.identity} is installed already, as {installed.path.name}: nothing was added"
            )
        self.refresh(select=installed.path)
        self.added.emit(installed)

    def _add_failed(self, error: BaseException) -> None:
        self._adding = False
        self._update_buttons()
        self.log.appendPlainText(f"not added: {short(error)}")

    # ----- import ----------------------------------------------------------------------------------
    def browse_checkpoint(self) -> None:
        path = choose_file(self, "An official X-VLM checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.checkpoint.setText(path)

    def start_import(self) -> None:
        checkpoint = Path(self.checkpoint.text().strip()).expanduser()
        if not checkpoint.is_file():
            self.log.appendPlainText(f"{checkpoint}: no such checkpoint file")
            return
        config = self.config.currentText()
        variant = str(self.variant.currentData())
        name = self.bundle_name.text().strip() or f"{checkpoint.stem}-{variant}"
        name = "".join(c if c.isalnum() or c in "-._" else "-" for c in name)
        bundle = user_bundles_dir() / name
        staging = data_dir() / "imports" / name
        if bundle.exists():
            self.log.appendPlainText(f"a bundle named {name} exists already: choose another name")
            return
        shutil.rmtree(staging, ignore_errors=True)
        bundle.parent.mkdir(parents=True, exist_ok=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        self._outputs = [staging, bundle]
        self._bundle_out = bundle
        cmd = self.import_command
        steps = [
            Step(
                "Importing the checkpoint",
                [*cmd, "import-xvlm", str(checkpoint), "--config", config, "--out", str(staging)],
            ),
            Step("Exporting the bundle", [*cmd, "export", str(staging), str(bundle), "--variant", variant]),
        ]
        self.log.clear()
        self.process = StepProcess(steps, parent=self)
        self.process.progress.connect(self._import_progress)
        self.process.output.connect(self.log.appendPlainText)
        self.process.finished.connect(self._import_finished)
        self.progress.setValue(0)
        self.process.start()
        self._update_buttons()

    def cancel_import(self) -> None:
        if self.process is not None:
            self.process.cancel()

    def _import_progress(self, fraction: float, title: str) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(f"{title} — {fraction:.0%}" if title != "done" else "Done")

    def _import_finished(self, ok: bool, message: str) -> None:
        self._update_buttons()
        self.cancel_button.setEnabled(False)
        if ok:
            shutil.rmtree(self._outputs[0], ignore_errors=True)  # the bundle is what the app needs
            self.log.appendPlainText(f"imported: {self._bundle_out}")
            self.refresh(select=self._bundle_out)
            self.imported.emit(self._bundle_out)
        else:
            for path in self._outputs:
                shutil.rmtree(path, ignore_errors=True)
            self.progress.setValue(0)
            self.progress.setFormat("Cancelled" if message == "cancelled" else "Failed")
            self.log.appendPlainText("import cancelled" if message == "cancelled" else message)
        self._outputs = []

    # ----- fine-tuning ------------------------------------------------------------------------------
    def _fine_tuned(self, bundle: Path) -> None:
        self.refresh(select=bundle)
        self.fine_tuned.emit(bundle)

    def done(self, result: int) -> None:
        """Closing the dialog stops an import; a fine-tune goes on (it reports to the window when done)."""
        if self.process is not None:
            self.process.shutdown()
        self.things.shutdown()
        super().done(result)

    def shutdown(self) -> None:
        """The window is closing: stop the import and the fine-tune."""
        self.fine_tune.shutdown()
        self.done(0)
