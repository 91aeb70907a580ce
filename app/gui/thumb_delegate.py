"""Paints one result: the thumbnail (or a placeholder while it loads), its name and date; or a heading.

Scores are not painted: a raw cosine means nothing to a person (they are in the details pane). A
heading (a month, a folder, "Weaker matches") is painted as a label on its own cell.

Every cell has the same size (``CELL``), so the view can lay out 100,000 rows without asking for each
one's size hint.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.gui.results_model import Role, format_date

CELL = QSize(184, 214)
THUMB = QSize(168, 150)  # the image area inside a cell
MARGIN = 8
PLACEHOLDER = QColor("#e6e8ec")
HEADING = QColor(47, 155, 255, 22)
RULE = QColor("#2f9bff")
RIGHT = QColor("#1f9d55")  # a photo marked right
WRONG = QColor("#d64545")  # ... and wrong


class ThumbDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._small = QFont()
        self._small.setPointSizeF(max(7.0, self._small.pointSizeF() * 0.85))

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CELL)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        cell = QRect(option.rect).adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        palette = option.palette  # type: ignore[attr-defined]
        heading = index.data(Role.Heading)
        if heading is not None:
            self._draw_heading(painter, cell, str(heading), palette.text().color())
            painter.restore()
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        if selected:
            painter.setPen(QPen(palette.highlight().color(), 2))
            painter.setBrush(palette.highlight().color().lighter(185))
            painter.drawRoundedRect(QRectF(cell), 8, 8)

        area = QRect(
            cell.left() + (cell.width() - THUMB.width()) // 2,
            cell.top() + MARGIN // 2,
            THUMB.width(),
            THUMB.height(),
        )
        shown = self._draw_image(painter, area, index.data(Role.Thumb))
        mark = index.data(Role.Mark)
        if mark is not None:
            self._draw_mark(painter, shown, bool(mark))

        text_top = area.bottom() + 6
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        name = metrics.elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
            Qt.TextElideMode.ElideMiddle,
            cell.width() - 12,
        )
        painter.setPen(palette.text().color())
        painter.setFont(option.font)  # type: ignore[attr-defined]
        painter.drawText(
            QRect(cell.left() + 6, text_top, cell.width() - 12, metrics.height()),
            Qt.AlignmentFlag.AlignCenter,
            name,
        )
        date = format_date(index.data(Role.TakenAt))
        if date:
            painter.setFont(self._small)
            painter.setPen(palette.placeholderText().color())
            small = QFontMetrics(self._small)
            painter.drawText(
                QRect(cell.left() + 6, text_top + metrics.height(), cell.width() - 12, small.height()),
                Qt.AlignmentFlag.AlignCenter,
                date,
            )
        painter.restore()

    def _draw_image(self, painter: QPainter, area: QRect, image: QImage | None) -> QRect:
        """Draws the image fitted into ``area`` (or a placeholder); returns where it went."""
        if image is None or image.isNull():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(PLACEHOLDER)
            painter.drawRoundedRect(QRectF(area), 6, 6)
            if image is not None:  # loaded, and unreadable
                painter.setPen(QColor("#8a8f98"))
                painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "unreadable")
            return area
        size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(
            area.left() + (area.width() - size.width()) // 2,
            area.top() + (area.height() - size.height()) // 2,
            size.width(),
            size.height(),
        )
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(target), 6, 6)
        painter.save()
        painter.setClipPath(clip)
        painter.drawImage(target, image)
        painter.restore()
        return target

    def _draw_mark(self, painter: QPainter, image: QRect, right: bool) -> None:
        """The person's mark in the image's top-right corner: a green tick (right) or a red cross."""
        badge = QRectF(image.right() - 30, image.top() + 6, 24, 24)
        painter.setPen(QPen(QColor("white"), 2))
        painter.setBrush(RIGHT if right else WRONG)
        painter.drawEllipse(badge)
        font = QFont(self._small)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "✓" if right else "✗")

    def _draw_heading(self, painter: QPainter, cell: QRect, text: str, colour: QColor) -> None:
        """A group's label: a rule on the left and the text in large bold, wrapped to the cell."""
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(HEADING)
        painter.drawRoundedRect(QRectF(cell), 8, 8)
        painter.setBrush(RULE)
        painter.drawRoundedRect(QRectF(cell.left(), cell.top(), 5, cell.height()), 2, 2)
        font = QFont(self._small)
        font.setPointSizeF(self._small.pointSizeF() * 1.45)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(colour)
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWrapAnywhere
        painter.drawText(cell.adjusted(16, 8, -8, -8), int(flags), text)
