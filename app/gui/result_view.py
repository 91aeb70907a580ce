"""One result, large: the photo with the query's grounded box and the best-matching region drawn on it.

The photo is decoded on a worker (a 12-megapixel JPEG takes a while) and scaled for display there;
the box head then grounds the query's words in it on another worker call (``app.grounding``). Each
``show_row`` bumps a token, so a slow answer for the previous photo is dropped when it arrives.

Honest boxes. The grounded box is drawn solid only when its ITM confidence reaches the bundle's
calibrated threshold (``ViewSettings.box_confidence``, ``multigrain tune-view``); below it the view
says it is not sure where the thing is and draws a faint dashed guess (on the world's validation split
such boxes were still right 65 % of the time, so hiding them would hide more right boxes than wrong).
The best candidate region is drawn only when the bundle measured it to help, for words, on a match
(not a weaker one), and only while there is no sure box.

Keys: Left/Right step through the results, Escape closes, Enter opens the photo in the system viewer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.grounding import Grounding
from app.gui.bundles import ModelHolder
from app.gui.errors import short
from app.gui.results_model import format_date
from app.gui.search_engine import WEAKER_GROUP, ResultRow
from app.gui.tasks import Pool, run_task
from app.gui.thumb_loader import pil_to_qimage
from app.query import split_terms
from app.reason_words import reason_sentence
from core.search_settings import ViewSettings

DISPLAY_SIDE = 1600  # the photo is scaled to at most this many pixels for the screen
BOX = QColor("#ff4d4f")
UNSURE = QColor(255, 214, 102, 200)  # the faint guess below the confidence threshold
REGION = QColor("#2f9bff")


@dataclass(frozen=True)
class Shown:
    """A decoded photo for display."""

    image: QImage
    width: int  # the photo's own size (the box is in its pixels)
    height: int


def load_photo(path: str) -> Shown:
    """Worker thread: decode upright, scale for display."""
    from app.library.decode import decode_image

    decoded = decode_image(path, DISPLAY_SIDE)
    image = decoded.image
    if max(image.size) > DISPLAY_SIDE:
        image = image.copy()
        image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return Shown(pil_to_qimage(image), decoded.width, decoded.height)


def ground(holder: ModelHolder, path: str, text: str, db_path: str | None = None) -> Grounding:
    """Worker thread: where ``text`` is in the photo (box in the decoded image's pixels), knowing the
    library's taught names (``db_path``), so "Rex" is boxed as the Rex it was taught."""
    from app.grounding import ground_image
    from app.library.decode import decode_image
    from app.personal.usage import names_at

    runtime = holder.get()
    size = int(runtime.image_size)
    names = names_at(db_path, runtime) if db_path else None
    return ground_image(runtime, decode_image(path, 2 * size).image, text, names=names)


def fitted_rect(image: QImage | None, area: QSize) -> QRectF:
    """Where ``image`` goes when fitted, centred, into a widget of size ``area`` (empty: no image)."""
    if image is None or image.isNull():
        return QRectF()
    size = image.size().scaled(area, Qt.AspectRatioMode.KeepAspectRatio)
    return QRectF(
        (area.width() - size.width()) / 2, (area.height() - size.height()) / 2, size.width(), size.height()
    )


def box_rect(target: QRectF, box: tuple[float, float, float, float]) -> QRectF:
    """A box given as fractions (x, y, w, h) of a photo drawn in ``target``, in widget coordinates."""
    x, y, w, h = box
    return QRectF(
        target.x() + x * target.width(),
        target.y() + y * target.height(),
        w * target.width(),
        h * target.height(),
    )


class PhotoCanvas(QWidget):
    """Paints the photo fitted to the widget, the best region (dashed) and the grounded box."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(240, 200))
        self.image: QImage | None = None
        self.region: tuple[float, float, float, float] | None = None
        self.region_label = "best region"  # what the dashed box is: the words' best region, or a match
        self.grounding: Grounding | None = None
        self.sure = True  # the grounded box reached the calibrated confidence
        self.label = ""
        self.message = ""

    def sizeHint(self) -> QSize:
        return QSize(560, 420)

    def image_rect(self) -> QRectF:
        return fitted_rect(self.image, self.size())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#1d2026"))
        target = self.image_rect()
        if target.isEmpty():
            painter.setPen(QColor("#aab0ba"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message or "Loading…")
            return
        painter.drawImage(target, self.image)  # type: ignore[arg-type]
        if self.region is not None:
            rect = box_rect(target, self.region)
            pen = QPen(REGION, 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor(47, 155, 255, 28))
            painter.drawRect(rect)
            self._tag(painter, rect, self.region_label, REGION, below=True)
        if self.grounding is not None:
            x, y, w, h = self.grounding.fraction
            rect = QRectF(
                target.x() + x * target.width(),
                target.y() + y * target.height(),
                w * target.width(),
                h * target.height(),
            )
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if self.sure:
                painter.setPen(QPen(BOX, 3))
                painter.drawRect(rect)
                self._tag(painter, rect, self.label, BOX, below=False)
            else:
                painter.setPen(QPen(UNSURE, 1.5, Qt.PenStyle.DotLine))
                painter.drawRect(rect)
                self._tag(painter, rect, "not sure", QColor(90, 90, 90, 200), below=False)

    def _tag(self, painter: QPainter, rect: QRectF, text: str, colour: QColor, below: bool) -> None:
        font = QFont(self.font())
        font.setBold(True)
        metrics = QFontMetrics(font)
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(60, int(self.width() * 0.6)))
        width, height = metrics.horizontalAdvance(text) + 10, metrics.height() + 4
        x = min(max(rect.left(), 0.0), self.width() - width)
        y = rect.bottom() + 2 if below else rect.top() - height
        if y < 0:
            y = rect.top() + 2
        if y + height > self.height():
            y = rect.bottom() - height - 2
        tag = QRectF(QPointF(x, y), QSize(width, height))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(tag, 3, 3)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)


def open_path(path: str, what: str = "photo") -> str | None:
    """Open ``path`` in the system's application; a sentence for the window when that fails."""
    if not os.path.exists(path):
        return f"Could not open {os.path.basename(path) or path}: the {what} is no longer on disk."
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
        return f"Could not open {os.path.basename(path) or path}: no application on this system opens it."
    return None


def read_caption(db_path: str, photo_id: int) -> str:
    """Worker thread: the caption shown for a photo (its own connection, read only)."""
    from app.edit_caption import photo_caption
    from app.library.db import open_db

    db = open_db(db_path, writable=False)
    try:
        return photo_caption(db, photo_id)
    finally:
        db.close()


class ResultView(QWidget):
    step = Signal(int)  # -1: previous result, +1: next
    closed = Signal()
    similar = Signal(object)  # ResultRow: find photos like it
    failed = Signal(str)  # a sentence: opening the photo or its folder did not work
    caption_edited = Signal(int, str, bool)  # photo id, the new caption, write an XMP sidecar too
    marked = Signal(int, object)  # photo id, True (right) / False (wrong) / None (no mark)
    teach = Signal(object)  # ResultRow: teach a name from this photo

    def __init__(self, holder: ModelHolder, pool: Pool | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultView")
        self.holder = holder
        self.pool = pool
        self.row: ResultRow | None = None
        self.text = ""
        self._token = 0
        self.grounding: Grounding | None = None
        self.view_settings = ViewSettings()  # the bundle's calibration (the window sets it)
        self.db_path: str | None = None  # the library, for the caption (the window sets it)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.canvas = PhotoCanvas()
        self.title = QLabel()
        self.title.setObjectName("resultTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setObjectName("resultDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.box_line = QLabel()
        self.box_line.setObjectName("groundingLine")
        self.box_line.setWordWrap(True)

        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open the photo in the system's viewer (Enter)")
        self.open_button.clicked.connect(self.open_photo)
        self.folder_button = QPushButton("Show in folder")
        self.folder_button.clicked.connect(self.open_folder)
        self.copy_button = QPushButton("Copy path")
        self.copy_button.clicked.connect(self.copy_path)
        self.similar_button = QPushButton("Find similar")
        self.similar_button.setObjectName("findSimilar")
        self.similar_button.setToolTip("Photos that look like this one")
        self.similar_button.clicked.connect(lambda: self.row is not None and self.similar.emit(self.row))
        self.right_button = QPushButton("✓ Right")
        self.right_button.setObjectName("markRight")
        self.right_button.setCheckable(True)
        self.right_button.setToolTip("A right result: move the results toward it (+)")
        self.right_button.clicked.connect(lambda: self.toggle_mark(True))
        self.wrong_button = QPushButton("✗ Wrong")
        self.wrong_button.setObjectName("markWrong")
        self.wrong_button.setCheckable(True)
        self.wrong_button.setToolTip("A wrong result: move the results away from it (−)")
        self.wrong_button.clicked.connect(lambda: self.toggle_mark(False))
        self.mark: bool | None = None  # the shown photo's mark
        self.teach_button = QPushButton("Teach a name…")
        self.teach_button.setObjectName("teachButton")
        self.teach_button.setToolTip("Give the thing in this photo a name (Rex, my bike) to search for it")
        self.teach_button.clicked.connect(lambda: self.row is not None and self.teach.emit(self.row))
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous result (Left)")
        self.prev_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next result (Right)")
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Back to the results (Escape)")
        self.close_button.clicked.connect(self.closed.emit)
        for button in (
            self.open_button,
            self.folder_button,
            self.copy_button,
            self.similar_button,
            self.teach_button,
            self.right_button,
            self.wrong_button,
            self.prev_button,
            self.next_button,
            self.close_button,
        ):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the view
        for button in (self.prev_button, self.next_button):
            button.setFixedWidth(36)

        buttons = QHBoxLayout()
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)
        buttons.addSpacing(8)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.similar_button)
        buttons.addWidget(self.teach_button)
        buttons.addSpacing(8)
        buttons.addWidget(self.right_button)
        buttons.addWidget(self.wrong_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addWidget(self.box_line)
        layout.addLayout(self._build_caption())
        layout.addLayout(buttons)

    def _build_caption(self) -> QHBoxLayout:
        self.caption = QLineEdit()
        self.caption.setObjectName("caption")
        self.caption.setPlaceholderText("Add a caption: it is searched too")
        self.caption.textEdited.connect(lambda _: self.save_caption_button.setEnabled(True))
        self.caption.returnPressed.connect(self.save_caption)
        self.caption_xmp = QCheckBox("XMP sidecar")
        self.caption_xmp.setObjectName("captionXmp")
        self.caption_xmp.setToolTip("Also write the caption to the photo's .xmp sidecar, for other programs")
        self.save_caption_button = QPushButton("Save")
        self.save_caption_button.setObjectName("saveCaption")
        self.save_caption_button.setEnabled(False)
        self.save_caption_button.clicked.connect(self.save_caption)
        for widget in (self.caption_xmp, self.save_caption_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row = QHBoxLayout()
        row.addWidget(self.caption, 1)
        row.addWidget(self.caption_xmp)
        row.addWidget(self.save_caption_button)
        return row

    def save_caption(self) -> None:
        if self.row is not None:
            self.save_caption_button.setEnabled(False)
            self.caption_edited.emit(
                self.row.photo_id, self.caption.text().strip(), self.caption_xmp.isChecked()
            )
            self.setFocus()

    def caption_saved(self, photo_id: int, text: str, sidecar: str | None) -> None:
        if self.row is not None and self.row.photo_id == photo_id:
            self.caption.setText(text)
            self.save_caption_button.setEnabled(False)

    # ----- showing ---------------------------------------------------------------------------------
    def show_row(self, row: ResultRow, query_text: str, searched: bool = True, like: str = "") -> None:
        """Show ``row``; ground the positive words of ``query_text`` in it (``searched``: the row comes
        from a search, not from browsing; ``like``: the file name of the photo it is like, for a "more
        like this" search, whose rows say what made them match)."""
        self._token += 1
        token = self._token
        self.row = row
        self.text = split_terms(query_text)[0]
        self.grounding = None
        self.canvas.image, self.canvas.grounding, self.canvas.sure = None, None, True
        self.canvas.region = row.region if self._region_helps(row) else None
        self.canvas.region_label = "best region"
        self.canvas.message = "Loading…"
        self.canvas.update()
        self.title.setText(os.path.basename(row.path))
        # Raw numbers live here only, for the curious; a browsed photo (no query) has none.
        facts = (
            [f"score {row.score:.3f}" + (f", z {row.z:.1f}" if row.z is not None else "")] if searched else []
        )
        if row.group == WEAKER_GROUP:
            facts.insert(0, "a weaker match (below the line)")
        if row.width and row.height:
            facts.append(f"{row.width} × {row.height}")
        if row.taken_at:
            facts.append(format_date(row.taken_at))
        self.details.setText(" · ".join(facts) + f"\n{os.path.dirname(row.path)}")
        if row.reason is not None and not self.text:
            self.box_line.setText(reason_sentence(row.reason, like or "the example"))
            self.canvas.region = row.reason.box if row.group != WEAKER_GROUP else None
            self.canvas.region_label = f"like {like}" if like else "the matched part"
        else:
            self.box_line.setText(
                "Finding the words in the photo…" if self.text else "Grounding needs words in the query."
            )
        for button in (self.right_button, self.wrong_button):
            button.setVisible(searched)  # marks move a search; browsing has no query to move
        self.caption.clear()
        self.save_caption_button.setEnabled(False)
        if self.db_path is not None:
            db_path, photo_id = self.db_path, row.photo_id
            run_task(
                lambda: read_caption(db_path, photo_id),
                lambda text: self._caption_loaded(token, text),
                lambda err: None,  # no caption shown; the photo itself is what matters here
                pool=self.pool,
                context=self,
            )
        run_task(
            lambda: load_photo(row.path),
            lambda shown: self._photo_loaded(token, shown),
            lambda err: self._photo_failed(token, err),
            pool=self.pool,
            context=self,
        )
        if self.text:
            text, library = self.text, self.db_path
            run_task(
                lambda: ground(self.holder, row.path, text, library),
                lambda g: self._grounded(token, g),
                lambda err: self._ground_failed(token, err),
                pool=self.pool,
                context=self,
            )

    def _caption_loaded(self, token: int, text: str) -> None:
        if token == self._token and not self.save_caption_button.isEnabled():  # not while being edited
            self.caption.setText(text)

    def _photo_loaded(self, token: int, shown: Shown) -> None:
        if token == self._token:
            self.canvas.image = shown.image
            self.canvas.update()

    def _photo_failed(self, token: int, error: BaseException) -> None:
        if token == self._token:
            self.canvas.message = short(error)
            self.canvas.update()

    def _grounded(self, token: int, g: Grounding) -> None:
        if token != self._token:
            return
        self.grounding = g
        sure = g.confidence >= self.view_settings.box_confidence
        self.canvas.grounding, self.canvas.sure = g, sure
        self.canvas.label = g.text
        if sure:
            self.canvas.region = None  # a sure box says more than the coarse region
        self.canvas.update()
        x, y, w, h = g.fraction
        where = (
            f"{round(100 * w)} × {round(100 * h)} % of the photo at ({round(100 * x)} %, {round(100 * y)} %)"
        )
        numbers = (
            f"confidence {g.confidence:.1f}, calibrated line {self.view_settings.box_confidence:.2f}; "
            f"box score {g.score:.2f}"
        )
        if sure:
            self.box_line.setText(f"“{g.text}”: {where} ({numbers})")
        else:
            self.box_line.setText(
                f"Not sure where “{g.text}” is in this photo: the dotted box is only a guess ({numbers})."
            )

    def _region_helps(self, row: ResultRow) -> bool:
        """The best region is drawn only where measured to help: for words, when the bundle says so, and
        on a match (it was measured on photos that hold the thing; a weaker match may not, and its best
        region would mark empty sand)."""
        return bool(self.text) and self.view_settings.best_region and row.group != WEAKER_GROUP

    def _ground_failed(self, token: int, error: BaseException) -> None:
        if token == self._token:
            self.box_line.setText(short(error))

    # ----- marks ---------------------------------------------------------------------------------
    def show_mark(self, mark: bool | None) -> None:
        """The shown photo's mark (the window keeps the marks; this only shows them)."""
        self.mark = mark
        self.right_button.setChecked(mark is True)
        self.wrong_button.setChecked(mark is False)

    def toggle_mark(self, right: bool) -> None:
        """Mark the shown photo right (or wrong); the same again takes the mark off."""
        if self.row is None:
            return
        mark = None if self.mark is right else right
        self.show_mark(mark)
        self.marked.emit(self.row.photo_id, mark)

    # ----- actions ---------------------------------------------------------------------------------
    def open_photo(self) -> None:
        if self.row is not None and (problem := open_path(self.row.path)):
            self.failed.emit(problem)

    def open_folder(self) -> None:
        if self.row is not None and (problem := open_path(os.path.dirname(self.row.path), "folder")):
            self.failed.emit(problem)

    def copy_path(self) -> None:
        if self.row is not None:
            QGuiApplication.clipboard().setText(self.row.path)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Left:
            self.step.emit(-1)
        elif key == Qt.Key.Key_Right:
            self.step.emit(1)
        elif key == Qt.Key.Key_Escape:
            self.closed.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_photo()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal) and self.right_button.isVisible():
            self.toggle_mark(True)
        elif key == Qt.Key.Key_Minus and self.wrong_button.isVisible():
            self.toggle_mark(False)
        else:
            super().keyPressEvent(event)
