"""The query: a text field with live results, an example image, and the refinements beside the grid.

``SearchPanel`` is the bar above the results (the text, the example image or library photo);
``RefineBox`` holds the weight of text against image, the strictness (the relevance cutoff in plain
words), the sort order, how an empty query browses the library, and the folder and date filters.
Any change restarts a short timer (``DEBOUNCE_MS``); when it fires, one ``SearchRequest`` goes out, so
typing "red car" searches once after the pause rather than seven times.

Marks (relevance feedback): the person marks results right or wrong; the marks belong to the query, so
they go out with every request until the words or the example change, and a change of marks searches
at once (no pause: a click is not a keystroke). The marks chip says how many there are and forgets them.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QDate, QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QImageReader, QKeyEvent, QPixmap
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
    QStackedWidget,
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
# Strictness in words, each an offset to the bundle's calibrated z (None: no cutoff). "Balanced" is the
# calibrated cutoff itself (tune-search: about 1 % of non-matching world pairs pass it); "Strict" asks
# one robust standard deviation more. Photos below the cutoff still show, under "Weaker matches".
STRICTNESS: tuple[tuple[str, float | None, str], ...] = (
    ("Strict", 1.0, "Only clear matches above the line; the rest under “Weaker matches”."),
    ("Balanced", 0.0, "The model's calibrated line between matches and weaker photos."),
    ("Show all", None, "Every photo, best first, with no line drawn."),
)
DEFAULT_STRICTNESS = "Balanced"
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


def strictness_offset(name: str) -> float | None:
    """A strictness's offset to the calibrated z (None: no cutoff); an unknown name is Balanced."""
    for known, offset, _ in STRICTNESS:
        if known == name:
            return offset
    return 0.0


class RefineBox(QGroupBox):
    changed = Signal()

    def __init__(self, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__("Refine", parent)
        self.prefs = prefs
        self._calibrated_z = 3.0
        self._tuned = True
        self._tuned_weight = 0.5  # the bundle's measured default, used until the person moves the slider
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)

        self.weight = QSlider(Qt.Orientation.Horizontal)
        self.weight.setObjectName("imageWeight")
        self.weight.setRange(0, 100)
        stored_weight = prefs.image_weight
        self.weight.setValue(round((stored_weight if stored_weight is not None else 0.5) * 100))
        self.weight_label = QLabel()
        self.weight.valueChanged.connect(self._weight_moved)
        form.addRow(self.weight_label, self.weight)

        self.strictness = QComboBox()
        self.strictness.setObjectName("strictness")
        for name, _, explained in STRICTNESS:
            self.strictness.addItem(name, name)
            self.strictness.setItemData(self.strictness.count() - 1, explained, Qt.ItemDataRole.ToolTipRole)
        found = self.strictness.findData(prefs.strictness)
        self.strictness.setCurrentIndex(found if found >= 0 else self.strictness.findData(DEFAULT_STRICTNESS))
        self.strictness.currentIndexChanged.connect(self._strictness_changed)
        form.addRow("Matches", self.strictness)

        self.browse = QComboBox()
        self.browse.setObjectName("browse")
        self.browse.addItem("Timeline (by month)", "month")
        self.browse.addItem("By folder", "folder")
        self.browse.setCurrentIndex(max(0, self.browse.findData(prefs.browse)))
        self.browse.setToolTip("How the library shows when the search box is empty")
        self.browse.currentIndexChanged.connect(self._browse_changed)

        self.sort = QComboBox()
        self.sort.setObjectName("sort")
        self.sort.addItem("Best match first", "score")
        self.sort.addItem("Newest first", "date")
        self.sort.setCurrentIndex(max(0, self.sort.findData(prefs.sort)))
        self.sort.currentIndexChanged.connect(self._sort_changed)
        # One row for both orders: the sort of a search's results, or how an empty query browses.
        self.order = QStackedWidget()
        self.order.addWidget(self.sort)
        self.order.addWidget(self.browse)
        self.order.setSizePolicy(self.sort.sizePolicy())
        self.order.setMaximumHeight(self.sort.sizeHint().height())
        form.addRow("Order", self.order)

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
        self._show_strictness()

    # ----- values ----------------------------------------------------------------------------------
    @property
    def image_weight(self) -> float:
        return self.weight.value() / 100.0

    @property
    def cutoff_offset(self) -> float | None:
        return strictness_offset(str(self.strictness.currentData()))

    @property
    def browse_order(self) -> str:
        return str(self.browse.currentData())

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

    def set_photo_query(self, photo: bool) -> None:
        """A library photo alone as the query ranks every photo by likeness, with no line to move
        (``app.similar.ranked_like`` says why): the strictness does nothing there, so it is greyed."""
        self.strictness.setEnabled(not photo)

    def set_browsing(self, browsing: bool) -> None:
        """An empty query browses the library: the order row offers the timeline's orders."""
        self.order.setCurrentWidget(self.browse if browsing else self.sort)

    def set_calibrated_z(self, z: float, tuned: bool) -> None:
        self._calibrated_z = z
        self._tuned = tuned
        self._show_strictness()

    def set_default_image_weight(self, weight: float) -> None:
        """The bundle's measured text/image balance: the slider takes it unless the person set one."""
        self._tuned_weight = weight
        if self.prefs.image_weight is None:
            self.weight.blockSignals(True)
            self.weight.setValue(round(weight * 100))
            self.weight.blockSignals(False)
            self._weight_moved(self.weight.value(), emit=False)

    def set_folders(self, folders: list[FolderStatus]) -> None:
        current = self.folder_filter
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("All folders", None)
        for folder in folders:
            self._add_folder(os.path.basename(folder.path.rstrip(os.sep)) or folder.path, folder.path)
            for sub in folder.subfolders:  # indented under it, named from the folder down
                self._add_folder("    " + os.path.relpath(sub, folder.path), sub)
        found = self.folder.findData(current) if current else 0
        self.folder.setCurrentIndex(max(0, found))
        self.folder.blockSignals(False)
        if current and found < 0:
            self.changed.emit()  # the filtered folder was removed

    def _add_folder(self, label: str, path: str) -> None:
        self.folder.addItem(label, path)
        self.folder.setItemData(self.folder.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    def set_span(self, first: str | None, last: str | None) -> None:
        """The library's own span of dates (``YYYY-MM-DD``) as the date range's default, so turning the
        range on hides nothing until it is narrowed; a range in use is left alone."""
        if self.use_dates.isChecked() or not first or not last:
            return
        for edit, day in ((self.after, first), (self.before, last)):
            edit.blockSignals(True)
            edit.setDate(QDate.fromString(day, "yyyy-MM-dd"))
            edit.blockSignals(False)

    # ----- reactions -------------------------------------------------------------------------------
    def _weight_moved(self, value: int, emit: bool = True) -> None:
        self.weight_label.setText(f"Text {100 - value} % · Image {value} %")
        if emit:
            self.prefs.image_weight = value / 100.0
            self.changed.emit()

    def _show_strictness(self) -> None:
        explained = self.strictness.currentData(Qt.ItemDataRole.ToolTipRole) or ""
        untuned = "" if self._tuned else "\n(This model was not tuned: the line is a default.)"
        offset = self.cutoff_offset
        where = "no line" if offset is None else f"robust z ≥ {self._calibrated_z + offset:.1f}"
        self.strictness.setToolTip(f"{explained}{untuned}\nFor the curious: {where}.")

    def _strictness_changed(self) -> None:
        self.prefs.strictness = str(self.strictness.currentData())
        self._show_strictness()
        self.changed.emit()

    def _browse_changed(self) -> None:
        self.prefs.browse = self.browse_order
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
    """The query bar; emits ``requested`` (debounced), ``cleared`` (nothing to search for: the window
    browses the library) and ``into_results`` (Down or Enter: the keys go on to the results)."""

    requested = Signal(object)  # SearchRequest
    cleared = Signal()
    into_results = Signal()
    marks_changed = Signal(object)  # dict photo id -> True (right) / False (wrong)

    def __init__(self, refine: RefineBox, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refine = refine
        self._image: str | None = None
        self._similar: tuple[int, str] | None = None  # a library photo as the example: id, file name
        self._marks: dict[int, bool] = {}  # photo id -> marked right (True) or wrong (False)
        self._marked_query = ""  # the words the marks were given for
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
        self.query.textChanged.connect(self._text_changed)
        self.query.returnPressed.connect(self._enter)
        self.query.installEventFilter(self)

        self.example = QToolButton()
        self.example.setObjectName("exampleImage")
        self.example.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.example.setIconSize(QSize(28, 28))
        self.example.setMinimumHeight(34)
        self.example.clicked.connect(self._chip_clicked)

        self.marks_chip = QToolButton()
        self.marks_chip.setObjectName("marksChip")
        self.marks_chip.setMinimumHeight(34)
        self.marks_chip.clicked.connect(self.clear_marks)
        self.marks_chip.hide()

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.query, 1)
        row.addWidget(self.marks_chip)
        row.addWidget(self.example)
        refine.changed.connect(self.schedule)
        self._show_example()
        refine.set_browsing(True)

    # ----- the example image -----------------------------------------------------------------------
    @property
    def image(self) -> str | None:
        return self._image

    @property
    def similar_to(self) -> int | None:
        return self._similar[0] if self._similar else None

    def set_image(self, path: str | None, preview: QImage | None = None) -> None:
        """Search by this example image (None: no example). Searches at once."""
        self._image = path
        self._similar = None
        self._forget_marks()
        self._show_example(preview)
        self.flush()

    def show_similar(self, photo_id: int, path: str) -> None:
        """Show this library photo as the example, without searching (the window asks the engine): the
        photo is the whole query, so the words go (as they do from the search that is sent)."""
        self.query.blockSignals(True)  # no search for the cleared words
        self.query.clear()
        self.query.blockSignals(False)
        self.timer.stop()
        self._image = None
        self._similar = (photo_id, Path(path).name)
        self._forget_marks()
        self._show_example()
        self.refine.set_browsing(False)

    def _show_example(self, preview: QImage | None = None) -> None:
        if self._similar is not None:
            name = self._similar[1]
            self.example.setText(f"Like {name if len(name) < 18 else name[:15] + '…'}  ✕")
            self.example.setToolTip(f"Photos like {name} from your library\nClick to remove it")
            if preview is not None and not preview.isNull():
                self.example.setIcon(QIcon(QPixmap.fromImage(preview)))
        elif self._image is None:
            self.example.setText("Search by image…")
            self.example.setIcon(QIcon())
            self.example.setToolTip("Choose an example photo, or drop one onto the window")
        else:
            name = Path(self._image).name
            self.example.setText(f"{name if len(name) < 22 else name[:19] + '…'}  ✕")
            self.example.setToolTip(f"Example image: {self._image}\nClick to remove it")
            if preview is not None and not preview.isNull():
                self.example.setIcon(QIcon(QPixmap.fromImage(preview)))
        self._refine_state()

    def _refine_state(self) -> None:
        """Which refinements mean something for the query as it stands."""
        words = bool(self.query.text().strip())
        self.refine.set_both_kinds(self._has_example() and words)
        self.refine.set_photo_query(self._similar is not None and not words)

    def _has_example(self) -> bool:
        return self._image is not None or self._similar is not None

    def _chip_clicked(self) -> None:
        if self._has_example():
            self.set_image(None)
        else:
            self.choose_image()

    def choose_image(self) -> None:
        """Ask for an example image and search by it."""
        path = choose_file(self, "Search by an example image", "", IMAGE_FILTER)
        if path:
            self.set_image(path, preview(path))

    # ----- marks (relevance feedback) ------------------------------------------------------------
    @property
    def marks(self) -> dict[int, bool]:
        return dict(self._marks)

    def set_marks(self, photo_ids: list[int], verdict: bool | None) -> None:
        """Mark these photos right (True) or wrong (False), or unmark them (None); searches at once."""
        before = dict(self._marks)
        for photo_id in photo_ids:
            if verdict is None:
                self._marks.pop(photo_id, None)
            else:
                self._marks[photo_id] = verdict
        if self._marks != before:
            self._marked_query = self.query.text().strip()
            self._marks_shown()
            self.flush()

    def clear_marks(self) -> None:
        """Forget every mark and search again."""
        if self._marks:
            self._forget_marks()
            self.flush()

    def _forget_marks(self) -> None:
        if self._marks:
            self._marks = {}
            self._marks_shown()

    def _text_changed(self, text: str) -> None:
        if self._marks and text.strip() != self._marked_query:  # new words: the marks were for others
            self._forget_marks()
        self.schedule()

    def _marks_shown(self) -> None:
        right = sum(self._marks.values())
        wrong = len(self._marks) - right
        self.marks_chip.setText(f"✓ {right}  ✗ {wrong}  ✕")
        self.marks_chip.setToolTip(
            f"Results moved toward the {right} photo{'s' if right != 1 else ''} marked right and away "
            f"from the {wrong} marked wrong\nClick to forget the marks"
        )
        self.marks_chip.setVisible(bool(self._marks))
        self.marks_changed.emit(dict(self._marks))

    # ----- requests --------------------------------------------------------------------------------
    def schedule(self) -> None:
        self._refine_state()
        self.timer.start()

    def _show_browsing(self, request: SearchRequest) -> None:
        self.refine.set_browsing(request.is_empty)

    def _enter(self) -> None:
        self.flush()
        self.into_results.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        down = isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Down
        if watched is self.query and event.type() == QEvent.Type.KeyPress and down:
            self.into_results.emit()
            return True
        return super().eventFilter(watched, event)

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
            sort=self.refine.sort_order,  # type: ignore[arg-type]
            similar_to=self.similar_to,
            similar_name=self._similar[1] if self._similar else "",
            browse=self.refine.browse_order,  # type: ignore[arg-type]
            right=tuple(sorted(pid for pid, ok in self._marks.items() if ok)),
            wrong=tuple(sorted(pid for pid, ok in self._marks.items() if not ok)),
        )

    def flush(self) -> None:
        """Search now (the timer fired, Enter was pressed, or an image was dropped)."""
        self.timer.stop()
        request = self.current()
        self._show_browsing(request)
        if request.is_empty:
            self.cleared.emit()
        else:
            self.requested.emit(request)
