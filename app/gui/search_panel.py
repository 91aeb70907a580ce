"""The query: a text field with live results, an example image, and the refinements beside the grid.

``SearchPanel`` is the bar above the results (the text, the example image); ``RefineBox`` holds the
weight of text against image, the relevance cutoff, the sort order and the folder and date filters.
Any change restarts a short timer (``DEBOUNCE_MS``); when it fires, one ``SearchRequest`` goes out, so
typing "red car" searches once after the pause rather than seven times.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QDate, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QToolButton,
    QWidget,
)

from app.gui.file_dialogs import choose_file
from app.gui.indexing import FolderStatus
from app.gui.search_engine import SearchRequest
from app.gui.settings import Prefs

# Long enough to coalesce a burst of keystrokes, short enough that keystroke-to-painted stays under
# 150 ms at 10k photos (a search there costs ~25 ms, and results of superseded queries are dropped).
DEBOUNCE_MS = 70
RELEVANCE_ALL = 0  # slider position: no cutoff, every photo ranked
RELEVANCE_CALIBRATED = 20  # the bundle's calibrated cutoff
RELEVANCE_MAX = 40
RELEVANCE_STEP = 0.1  # z per slider step
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.heic *.heif *.tif *.tiff *.bmp *.gif)"


def preview(path: str, side: int = 64) -> QImage:
    """A small image of ``path`` for the example chip. QImageReader decodes JPEGs at reduced scale, so
    even a large photo costs a few milliseconds here."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > side:
        reader.setScaledSize(size.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def relevance_offset(position: int) -> float | None:
    """Slider position -> offset added to the calibrated z (None: no cutoff)."""
    if position <= RELEVANCE_ALL:
        return None
    return round((position - RELEVANCE_CALIBRATED) * RELEVANCE_STEP, 3)


class RefineBox(QGroupBox):
    changed = Signal()

    def __init__(self, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__("Refine", parent)
        self.prefs = prefs
        self._calibrated_z = 3.0
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)

        self.weight = QSlider(Qt.Orientation.Horizontal)
        self.weight.setObjectName("imageWeight")
        self.weight.setRange(0, 100)
        self.weight.setValue(round(prefs.image_weight * 100))
        self.weight_label = QLabel()
        self.weight.valueChanged.connect(self._weight_moved)
        form.addRow(self.weight_label, self.weight)

        self.relevance = QSlider(Qt.Orientation.Horizontal)
        self.relevance.setObjectName("relevance")
        self.relevance.setRange(RELEVANCE_ALL, RELEVANCE_MAX)
        stored = prefs.relevance
        self.relevance.setValue(stored if RELEVANCE_ALL <= stored <= RELEVANCE_MAX else RELEVANCE_CALIBRATED)
        self.relevance.setToolTip(
            "How sure a match must be. The middle is the model's calibrated cutoff; far left shows every "
            "photo, best first."
        )
        self.relevance_label = QLabel()
        self.relevance.valueChanged.connect(self._relevance_moved)
        form.addRow(self.relevance_label, self.relevance)

        self.sort = QComboBox()
        self.sort.setObjectName("sort")
        self.sort.addItem("Best match first", "score")
        self.sort.addItem("Newest first", "date")
        self.sort.setCurrentIndex(max(0, self.sort.findData(prefs.sort)))
        self.sort.currentIndexChanged.connect(self._sort_changed)
        form.addRow("Order", self.sort)

        self.folder = QComboBox()
        self.folder.setObjectName("folderFilter")
        self.folder.addItem("All folders", None)
        self.folder.currentIndexChanged.connect(lambda _: self.changed.emit())
        form.addRow("Folder", self.folder)

        self.use_dates = QCheckBox("Taken between")
        self.use_dates.setObjectName("useDates")
        self.after = QDateEdit(QDate.currentDate().addYears(-5))
        self.before = QDateEdit(QDate.currentDate())
        dates = QWidget()
        row = QHBoxLayout(dates)
        row.setContentsMargins(0, 0, 0, 0)
        for edit in (self.after, self.before):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(lambda _: self._dates_changed())
        row.addWidget(self.after)
        row.addWidget(QLabel("–"))
        row.addWidget(self.before)
        self.use_dates.toggled.connect(self._dates_toggled)
        form.addRow(self.use_dates, dates)

        self._weight_moved(self.weight.value(), emit=False)
        self._relevance_moved(self.relevance.value(), emit=False)

    # ----- values ----------------------------------------------------------------------------------
    @property
    def image_weight(self) -> float:
        return self.weight.value() / 100.0

    @property
    def cutoff_offset(self) -> float | None:
        return relevance_offset(self.relevance.value())

    @property
    def sort_order(self) -> str:
        return str(self.sort.currentData())

    @property
    def folder_filter(self) -> str | None:
        data = self.folder.currentData()
        return str(data) if data else None

    @property
    def date_range(self) -> tuple[str | None, str | None]:
        if not self.use_dates.isChecked():
            return None, None
        return self.after.date().toString("yyyy-MM-dd"), self.before.date().toString("yyyy-MM-dd")

    def set_both_kinds(self, both: bool) -> None:
        """The weight only means something with text and an example image together."""
        self.weight.setEnabled(both)
        self.weight_label.setEnabled(both)

    def set_calibrated_z(self, z: float, tuned: bool) -> None:
        self._calibrated_z = z
        self.relevance.setToolTip(
            self.relevance.toolTip().split("\n")[0]
            + ("" if tuned else "\n(This model was not tuned: the cutoff is a default.)")
        )
        self._relevance_moved(self.relevance.value(), emit=False)

    def set_folders(self, folders: list[FolderStatus]) -> None:
        current = self.folder_filter
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("All folders", None)
        for folder in folders:
            self.folder.addItem(os.path.basename(folder.path.rstrip(os.sep)) or folder.path, folder.path)
            self.folder.setItemData(self.folder.count() - 1, folder.path, Qt.ItemDataRole.ToolTipRole)
        found = self.folder.findData(current) if current else 0
        self.folder.setCurrentIndex(max(0, found))
        self.folder.blockSignals(False)
        if current and found < 0:
            self.changed.emit()  # the filtered folder was removed

    # ----- reactions -------------------------------------------------------------------------------
    def _weight_moved(self, value: int, emit: bool = True) -> None:
        self.weight_label.setText(f"Text {100 - value} % · Image {value} %")
        if emit:
            self.prefs.image_weight = value / 100.0
            self.changed.emit()

    def _relevance_moved(self, value: int, emit: bool = True) -> None:
        offset = relevance_offset(value)
        if offset is None:
            text = "Relevance: all photos"
        elif offset == 0:
            text = f"Relevance: calibrated (z ≥ {self._calibrated_z:.1f})"
        else:
            text = (
                f"Relevance: z ≥ {self._calibrated_z + offset:.1f} ({'stricter' if offset > 0 else 'looser'})"
            )
        self.relevance_label.setText(text)
        if emit:
            self.prefs.relevance = value
            self.changed.emit()

    def _sort_changed(self) -> None:
        self.prefs.sort = self.sort_order
        self.changed.emit()

    def _dates_toggled(self, on: bool) -> None:
        self.after.setEnabled(on)
        self.before.setEnabled(on)
        self.changed.emit()

    def _dates_changed(self) -> None:
        if self.use_dates.isChecked():
            self.changed.emit()


class SearchPanel(QWidget):
    """The query bar; emits ``requested`` (debounced) and ``cleared`` (nothing to search for)."""

    requested = Signal(object)  # SearchRequest
    cleared = Signal()

    def __init__(self, refine: RefineBox, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refine = refine
        self._image: str | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.flush)

        self.query = QLineEdit()
        self.query.setObjectName("query")
        self.query.setPlaceholderText('Describe a photo — "a red car next to a tree", "dog -cat"')
        self.query.setClearButtonEnabled(True)
        self.query.setMinimumHeight(34)
        font = self.query.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.query.setFont(font)
        self.query.textChanged.connect(lambda _: self.schedule())
        self.query.returnPressed.connect(self.flush)

        self.example = QToolButton()
        self.example.setObjectName("exampleImage")
        self.example.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.example.setIconSize(QSize(28, 28))
        self.example.setMinimumHeight(34)
        self.example.clicked.connect(self._chip_clicked)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.query, 1)
        row.addWidget(self.example)
        refine.changed.connect(self.schedule)
        self._show_example()

    # ----- the example image -----------------------------------------------------------------------
    @property
    def image(self) -> str | None:
        return self._image

    def set_image(self, path: str | None, preview: QImage | None = None) -> None:
        """Search by this example image (None: no example). Searches at once."""
        self._image = path
        self._show_example(preview)
        self.flush()

    def _show_example(self, preview: QImage | None = None) -> None:
        if self._image is None:
            self.example.setText("Search by image…")
            self.example.setIcon(QIcon())
            self.example.setToolTip("Choose an example photo, or drop one onto the window")
        else:
            name = Path(self._image).name
            self.example.setText(f"{name if len(name) < 22 else name[:19] + '…'}  ✕")
            self.example.setToolTip(f"Example image: {self._image}\nClick to remove it")
            if preview is not None and not preview.isNull():
                self.example.setIcon(QIcon(QPixmap.fromImage(preview)))
        self.refine.set_both_kinds(bool(self._image) and bool(self.query.text().strip()))

    def _chip_clicked(self) -> None:
        if self._image is not None:
            self.set_image(None)
        else:
            self.choose_image()

    def choose_image(self) -> None:
        """Ask for an example image and search by it."""
        path = choose_file(self, "Search by an example image", "", IMAGE_FILTER)
        if path:
            self.set_image(path, preview(path))

    # ----- requests --------------------------------------------------------------------------------
    def schedule(self) -> None:
        self.refine.set_both_kinds(bool(self._image) and bool(self.query.text().strip()))
        self.timer.start()

    def current(self) -> SearchRequest:
        after, before = self.refine.date_range
        return SearchRequest(
            text=self.query.text(),
            image=self._image,
            image_weight=self.refine.image_weight,
            folder=self.refine.folder_filter,
            after=after,
            before=before,
            cutoff_offset=self.refine.cutoff_offset,
            sort=self.refine.sort_order,
        )

    def flush(self) -> None:
        """Search now (the timer fired, Enter was pressed, or an image was dropped)."""
        self.timer.stop()
        request = self.current()
        if request.is_empty:
            self.cleared.emit()
        else:
            self.requested.emit(request)
