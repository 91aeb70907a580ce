"""Teach a name from the shown photo: the name, its kind word, and its box on the photo.

The box is proposed by grounding the kind word in the photo with the window's model (the result view's
``ground``, on the pool), drawn on the photo; its edges and corners resize it, dragging inside moves it,
and dragging elsewhere on the photo draws another. Teaching runs
``multigrain teach`` as a child process (``StepProcess``: torch never enters the window's process),
with its progress in the dialog and Cancel. Teaching a name the library already knows adds this photo
to the photos it was taught from (teaching again replaces them, so all of them go to the child).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.box_edit import MOVE, drag_box, grip_at
from app.grounding import Grounding
from app.gui.bundles import ModelHolder
from app.gui.errors import short
from app.gui.processes import Step, StepProcess
from app.gui.result_view import Shown, box_rect, fitted_rect, ground, load_photo
from app.gui.tasks import Pool, run_task
from app.gui.teaching import STEP_TITLE, TeachPhoto, taught_photos, teach_command
from app.gui.teaching_dialog import TeachingDialog, failure_sentence
from app.personal.store import Box, NameRow

BOX = QColor("#3ddc84")
MIN_SIDE = 0.02  # a dragged box smaller than this (of the photo) is a click, not a box


def name_key_or_none(name: str) -> str | None:
    """The name's key as the library compares names (any case); None for text that is no name yet."""
    from core.names import BadNameError, name_key

    try:
        return name_key(name)
    except BadNameError:
        return None


GRIP_PX = 8.0  # how near an edge (in screen pixels) a press takes it
HANDLE_PX = 7.0  # the side of the squares drawn on the corners and edge middles
NUDGE = 0.01  # an arrow key moves the box (Shift: resizes it) by this share of the photo
CURSORS = {
    "left": Qt.CursorShape.SizeHorCursor,
    "right": Qt.CursorShape.SizeHorCursor,
    "top": Qt.CursorShape.SizeVerCursor,
    "bottom": Qt.CursorShape.SizeVerCursor,
    "top-left": Qt.CursorShape.SizeFDiagCursor,
    "bottom-right": Qt.CursorShape.SizeFDiagCursor,
    "top-right": Qt.CursorShape.SizeBDiagCursor,
    "bottom-left": Qt.CursorShape.SizeBDiagCursor,
    MOVE: Qt.CursorShape.SizeAllCursor,
}


class BoxCanvas(QWidget):
    """The photo fitted to the widget with the named thing's box. Dragging an edge or a corner resizes
    the box, dragging inside it moves it, and dragging elsewhere draws a new one; the arrow keys move it
    (with Shift, they move its right and bottom edges)."""

    box_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(320, 240))
        self.setMouseTracking(True)  # the cursor shows which grip a press would take
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image: QImage | None = None
        self.box: Box | None = None
        self.message = "Loading…"
        self._start: QPointF | None = None
        self._grip: str | None = None  # the grip the press took (None: a new box)
        self._pressed_box: Box | None = None

    def sizeHint(self) -> QSize:
        return QSize(520, 390)

    def image_rect(self) -> QRectF:
        return fitted_rect(self.image, self.size())

    def fraction_at(self, point: QPointF) -> tuple[float, float]:
        target = self.image_rect()
        x = (point.x() - target.x()) / max(1.0, target.width())
        y = (point.y() - target.y()) / max(1.0, target.height())
        return min(1.0, max(0.0, x)), min(1.0, max(0.0, y))

    def grip_under(self, point: QPointF) -> str | None:
        """The grip a press at ``point`` would take (None: it would draw a new box)."""
        target = self.image_rect()
        if self.box is None or target.isEmpty():
            return None
        x, y = self.fraction_at(point)
        return grip_at(self.box, x, y, GRIP_PX / target.width(), GRIP_PX / target.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#1d2026"))
        target = self.image_rect()
        if target.isEmpty():
            painter.setPen(QColor("#aab0ba"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        painter.drawImage(target, self.image)  # type: ignore[arg-type]
        if self.box is not None:
            rect = box_rect(target, self.box)
            painter.setPen(QPen(BOX, 3))
            painter.setBrush(QColor(61, 220, 132, 30))
            painter.drawRect(rect)
            # Handles on the corners and edge middles say the box can be taken by its edges.
            painter.setPen(QPen(QColor("#1d2026"), 1))
            painter.setBrush(BOX)
            half = HANDLE_PX / 2
            for px in (rect.left(), rect.center().x(), rect.right()):
                for py in (rect.top(), rect.center().y(), rect.bottom()):
                    if (px, py) != (rect.center().x(), rect.center().y()):
                        painter.drawRect(QRectF(px - half, py - half, HANDLE_PX, HANDLE_PX))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self.image_rect().isEmpty():
            self._start = event.position()
            self._grip = self.grip_under(event.position())
            self._pressed_box = self.box

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._start is not None:
            self._drag_to(event.position(), final=False)
        else:
            grip = self.grip_under(event.position())
            self.setCursor(CURSORS.get(grip or "", Qt.CursorShape.CrossCursor))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._start is not None:
            self._drag_to(event.position(), final=True)
            self._start = None
            self._grip = None

    def _drag_to(self, end: QPointF, final: bool) -> None:
        assert self._start is not None
        (x0, y0), (x1, y1) = self.fraction_at(self._start), self.fraction_at(end)
        if self._grip is not None and self._pressed_box is not None:
            box = drag_box(self._pressed_box, self._grip, x1 - x0, y1 - y0, MIN_SIDE)
            if box == self._pressed_box:
                return  # a click on the box keeps it
            self.box = box
        else:
            x, y, w, h = min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
            if w < MIN_SIDE or h < MIN_SIDE:
                return  # a click (or a sliver) keeps the box there is
            self.box = (x, y, w, h)
        self.update()
        if final:
            self.box_changed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {
            Qt.Key.Key_Left: (-NUDGE, 0.0),
            Qt.Key.Key_Right: (NUDGE, 0.0),
            Qt.Key.Key_Up: (0.0, -NUDGE),
            Qt.Key.Key_Down: (0.0, NUDGE),
        }
        step = steps.get(Qt.Key(event.key()))
        if self.box is None or step is None:
            super().keyPressEvent(event)
            return
        resize = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.box = drag_box(self.box, "bottom-right" if resize else MOVE, *step, MIN_SIDE)
        self.update()
        self.box_changed.emit()


class TeachDialog(TeachingDialog):
    taught = Signal(str, str)  # the name, a sentence for the status bar

    def __init__(
        self,
        path: str,
        holder: ModelHolder,
        db_path: Path,
        bundle: Path,
        known: list[NameRow],
        pool: Pool | None = None,
        program: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``path``: the photo; ``known``: the library's taught names (offered, to add a photo to one);
        ``program``: the command before ``teach`` (tests pass a quick fake)."""
        super().__init__(parent)
        self.setObjectName("teachDialog")
        self.setWindowTitle("Teach a name")
        self.path = path
        self.holder = holder
        self.db_path = Path(db_path)
        self.bundle = bundle
        self.pool = pool
        self.program = program
        self.process: StepProcess | None = None
        self.command: list[str] = []
        self._token = 0  # grounding answers for an older kind word are dropped
        # The kind word last proposed for: leaving the field asks again only when the word changed, so
        # a box the person drew is not replaced by a new proposal for the same word.
        self._asked: str | None = None

        self.name = QComboBox()
        self.name.setObjectName("teachName")
        self.name.setEditable(True)
        self.known = {name_key_or_none(row.name): row for row in known}
        self.name.addItems([row.name for row in known])
        self.name.setCurrentText("")
        self.name.currentTextChanged.connect(self._name_changed)
        self.name.lineEdit().setPlaceholderText("as you will type it in searches, e.g. Rex")
        self.kind = QLineEdit()
        self.kind.setObjectName("teachKind")
        self.kind.setPlaceholderText("what it is, e.g. dog")
        self.kind.editingFinished.connect(lambda: self.propose_box(again=False))
        self.find_button = QPushButton("Find it")
        self.find_button.setObjectName("teachFind")
        self.find_button.setToolTip("Propose a box by finding the kind word in the photo")
        self.find_button.clicked.connect(lambda: self.propose_box(again=True))
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.kind, 1)
        kind_row.addWidget(self.find_button)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("It is a", kind_row)

        self.about_name = QLabel()
        self.about_name.setObjectName("teachAboutName")
        self.about_name.setWordWrap(True)
        self.canvas = BoxCanvas()
        self.canvas.box_changed.connect(self._box_drawn)
        self.note = QLabel("Say what it is, and the box is proposed; or drag on the photo to draw it.")
        self.note.setObjectName("teachNote")
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("teachProgress")
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.teach_button = QPushButton("Teach")
        self.teach_button.setObjectName("teachStart")
        self.teach_button.setDefault(True)
        self.teach_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("teachCancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.teach_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.about_name)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)

        run_task(
            lambda: load_photo(path),
            self._photo_loaded,
            self._photo_failed,
            pool=pool,
            context=self,
        )

    def _name_changed(self, text: str) -> None:
        """A name the library knows: say that this photo is added to its photos, and take its kind."""
        row = self.known.get(name_key_or_none(text.strip())) if text.strip() else None
        self.about_name.setText("")
        if row is None:
            return
        if not self.kind.text().strip():
            self.kind.setText(row.kind)
            self.propose_box(again=False)
        count = "1 photo" if row.photos == 1 else f"{row.photos} photos"
        self.about_name.setText(
            f"{row.name} was taught from {count}: teaching it again adds this photo to them "
            "(all of them are used)."
        )

    # ----- the box ---------------------------------------------------------------------------------
    @property
    def box(self) -> Box | None:
        return self.canvas.box

    def propose_box(self, again: bool = True) -> None:
        """Find the kind word in the photo; its box becomes the proposal (``again``: even when it was
        proposed for this word already; Find it asks again, leaving the field does not)."""
        kind = self.kind.text().strip()
        if not kind or self.running or (kind == self._asked and not again):
            return
        self._asked = kind
        self._token += 1
        token, path, holder = self._token, self.path, self.holder
        self.note.setText(f"Finding “{kind}” in the photo…")
        run_task(
            lambda: ground(holder, path, kind),
            lambda g: self._grounded(token, g),
            lambda err: self._ground_failed(token, err),
            pool=self.pool,
            context=self,
        )

    def _grounded(self, token: int, g: Grounding) -> None:
        if token != self._token:
            return
        self.canvas.box = tuple(round(v, 4) for v in g.fraction)  # type: ignore[assignment]
        self.canvas.update()
        self.note.setText(
            f"The green box is where “{g.text}” was found. Drag its edges or corners to fit it, drag "
            "inside it to move it, or drag elsewhere on the photo to draw another."
        )

    def _ground_failed(self, token: int, error: BaseException) -> None:
        if token == self._token:
            self.note.setText(f"No box was proposed ({short(error)}): drag on the photo to draw it.")

    def _box_drawn(self) -> None:
        self._token += 1  # a proposal still on its way must not replace the drawn box
        self.note.setText("Your box is used. Drag its edges to fit it, or drag elsewhere to draw it again.")

    def _photo_loaded(self, shown: Shown) -> None:
        self.canvas.image = shown.image
        self.canvas.update()

    def _photo_failed(self, error: BaseException) -> None:
        self.canvas.message = short(error)
        self.canvas.update()

    # ----- teaching --------------------------------------------------------------------------------
    def start(self) -> None:
        name, kind = self.name.currentText().strip(), self.kind.text().strip()
        if not name or not kind:
            self.note.setText("Give the name and say what it is (e.g. Rex, a dog).")
            return
        if self.box is None:
            self.note.setText("Draw the box around it first (drag on the photo), or press Find it.")
            return
        self.teach_button.setEnabled(False)
        self._token += 1  # the box is chosen: a proposal still on its way must not move it
        db_path, path = self.db_path, self.path
        run_task(
            lambda: taught_photos(db_path, name, path),
            lambda earlier: self.run_teaching(name, kind, earlier),
            lambda err: self.run_teaching(name, kind, []),
            pool=self.pool,
            context=self,
        )

    def run_teaching(self, name: str, kind: str, earlier: list[TeachPhoto]) -> None:
        """Start the child: this photo and box, after the photos the name was taught from before."""
        assert self.box is not None
        photos = [*earlier, TeachPhoto(os.path.abspath(self.path), self.box)]
        self.command = teach_command(name, kind, photos, self.db_path, self.bundle, self.program)
        count = f"{len(photos)} photos" if len(photos) > 1 else "this photo"
        self.note.setText(f"Teaching {name} from {count}; the model loads first (it takes a while)…")
        for widget in (self.name, self.kind, self.find_button, self.teach_button):
            widget.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the child counts its steps (loading the model first)
        self.progress.show()
        self.process = StepProcess([Step(STEP_TITLE, self.command)], parent=self)
        self.process.progress.connect(self.show_progress)
        self.process.output.connect(self._output)
        self.process.finished.connect(lambda ok, message: self._finished(ok, message, name, len(photos)))
        self.process.start()

    def _output(self, line: str) -> None:
        self.note.setText(line.strip())

    def _finished(self, ok: bool, message: str, name: str, photos: int) -> None:
        self.progress.hide()
        if ok:
            count = "1 photo" if photos == 1 else f"{photos} photos"
            self.taught.emit(name, f"Taught {name} from {count}: search for it by name now")
            self.accept()
            return
        for widget in (self.name, self.kind, self.find_button, self.teach_button):
            widget.setEnabled(True)
        if message == "cancelled":
            self.note.setText("Cancelled: nothing was taught or stored.")
        else:
            self.note.setText(failure_sentence(message))
