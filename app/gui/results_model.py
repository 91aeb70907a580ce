"""The results grid's model: one row per matching photo, filled a page at a time.

A search may match 100,000 photos. The model holds the rows fetched so far and says it can fetch more
(``canFetchMore``) while the ranking has more; the view calls ``fetchMore`` as it scrolls near the end,
which asks the search engine for the next page (on its worker) and inserts the rows when they come.
Thumbnails are asked of the ``ThumbLoader`` when a row's ``ThumbRole`` is read (that is, painted),
so a 100k-photo timeline loads only the thumbnails scrolled into view.

Headings. Rows carry the group they belong to (a month or a folder of the timeline, "Weaker matches"
after a search's matches); where the group changes the model puts a heading item, which the delegate
paints as a label and which cannot be selected. ``row_at`` answers None for a heading.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
)

from app.gui.search_engine import Page, ResultRow, SearchOutcome
from app.gui.thumb_loader import ThumbLoader

Index = QModelIndex | QPersistentModelIndex
PHOTO_MIME = "application/x-multigrain-photo-ids"  # comma-separated photo ids of a drag from the grid


class Role(IntEnum):
    Path = Qt.ItemDataRole.UserRole + 1
    Score = Qt.ItemDataRole.UserRole + 2
    PhotoId = Qt.ItemDataRole.UserRole + 3
    Thumb = Qt.ItemDataRole.UserRole + 4  # QImage (null: unreadable) or None while loading
    Z = Qt.ItemDataRole.UserRole + 5
    TakenAt = Qt.ItemDataRole.UserRole + 6
    Region = Qt.ItemDataRole.UserRole + 7  # best candidate box (x, y, w, h) fractions, or None
    Row = Qt.ItemDataRole.UserRole + 8  # the whole ResultRow
    Heading = Qt.ItemDataRole.UserRole + 9  # the heading's text on a heading item, else None
    Mark = Qt.ItemDataRole.UserRole + 10  # True: marked right, False: marked wrong, None: not marked


# Kept as module names too, as other code and tests spell them.
PathRole, ScoreRole, PhotoIdRole, ThumbRole = Role.Path, Role.Score, Role.PhotoId, Role.Thumb
ZRole, TakenAtRole, RegionRole, RowRole = Role.Z, Role.TakenAt, Role.Region, Role.Row


def format_date(taken_at: str | None) -> str:
    if not taken_at:
        return ""
    try:
        return datetime.fromisoformat(taken_at).strftime("%d %b %Y")
    except ValueError:
        return taken_at[:10]


@dataclass(frozen=True)
class Heading:
    """A group's label among the rows (a month, a folder, "Weaker matches")."""

    text: str


Item = ResultRow | Heading


class ResultsModel(QAbstractListModel):
    def __init__(
        self,
        thumbs: ThumbLoader | None = None,
        fetch: Callable[[int, int], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``fetch(generation, start)``: ask for the page starting at ``start`` (answer: ``add_page``)."""
        super().__init__(parent)
        self._thumbs = thumbs
        self._fetch = fetch
        self._rows: list[Item] = []
        self._row_of_path: dict[str, int] = {}
        self._generation = -1
        self._matched = 0
        self._total = 0  # rows the ranking holds: the matches and any weaker photos
        self._next = 0  # ranking position where the next page starts
        self._pending = False
        self._marks: dict[int, bool] = {}  # photo id -> marked right / wrong (relevance feedback)
        if thumbs is not None:
            thumbs.loaded.connect(self._thumb_loaded)

    # ----- filling ---------------------------------------------------------------------------------
    def set_outcome(self, outcome: SearchOutcome) -> None:
        """Replace the rows with a new search's first page."""
        self.beginResetModel()
        self._rows, self._row_of_path = [], {}
        self._append(outcome.rows)
        self._generation = outcome.generation
        self._matched = outcome.matched
        self._total = outcome.total
        self._next = outcome.stop
        self._pending = False
        self.endResetModel()
        if self._thumbs is not None:
            self._thumbs.clear_queue()

    def set_marks(self, marks: dict[int, bool]) -> None:
        """The person's marks, painted on the thumbnails."""
        self._marks = dict(marks)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0), [int(Role.Mark)])

    def mark_of(self, photo_id: int) -> bool | None:
        return self._marks.get(photo_id)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows, self._row_of_path = [], {}
        self._generation, self._matched, self._total, self._next, self._pending = -1, 0, 0, 0, False
        self.endResetModel()

    def add_page(self, page: Page) -> None:
        if page.generation != self._generation or page.start != self._next:
            return  # an answer for older results, or a repeated one
        self._pending = False
        self._next = page.stop
        if page.rows:
            first = len(self._rows)
            added = len(self._with_headings(page.rows))
            self.beginInsertRows(QModelIndex(), first, first + added - 1)
            self._append(page.rows)
            self.endInsertRows()

    def _last_group(self) -> str | None:
        last = next((item for item in reversed(self._rows) if isinstance(item, ResultRow)), None)
        return last.group if last is not None else None

    def _with_headings(self, rows: list[ResultRow]) -> list[Item]:
        """``rows`` with a heading before each one whose group differs from the row before it."""
        items: list[Item] = []
        group = self._last_group()
        for i, row in enumerate(rows):
            starts = row.group != group if (self._rows or i) else row.group is not None
            if starts and row.group is not None:
                items.append(Heading(row.group))
            group = row.group
            items.append(row)
        return items

    def _append(self, rows: list[ResultRow]) -> None:
        for item in self._with_headings(rows):
            if isinstance(item, ResultRow):
                self._row_of_path[item.path] = len(self._rows)
            self._rows.append(item)

    @property
    def matched(self) -> int:
        return self._matched

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def total(self) -> int:
        return self._total

    def row_at(self, row: int) -> ResultRow | None:
        """The photo at ``row``; None past the end or on a heading."""
        item = self._rows[row] if 0 <= row < len(self._rows) else None
        return item if isinstance(item, ResultRow) else None

    def is_heading(self, row: int) -> bool:
        return 0 <= row < len(self._rows) and isinstance(self._rows[row], Heading)

    def photo_count(self) -> int:
        """Photos among the rows (headings left out)."""
        return sum(isinstance(item, ResultRow) for item in self._rows)

    # ----- QAbstractListModel ----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def canFetchMore(self, parent: Index) -> bool:
        return (
            not parent.isValid()
            and self._fetch is not None
            and not self._pending
            and self._next < self._total
        )

    def fetchMore(self, parent: Index) -> None:
        if self.canFetchMore(parent) and self._fetch is not None:
            self._pending = True
            self._fetch(self._generation, self._next)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid() or self.is_heading(index.row()):
            return Qt.ItemFlag.NoItemFlags  # a heading: painted, never selected or stepped onto
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled  # onto the search box: find similar; elsewhere: the files
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def mimeTypes(self) -> list[str]:
        return [PHOTO_MIME, "text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """The dragged photos: their ids (for "find similar") and their files (for other programs)."""
        rows = [row for index in indexes if (row := self.row_at(index.row())) is not None]
        mime = QMimeData()
        mime.setData(PHOTO_MIME, QByteArray(",".join(str(row.photo_id) for row in rows).encode()))
        mime.setUrls([QUrl.fromLocalFile(row.path) for row in rows])
        return mime

    def row_of_id(self, photo_id: int) -> ResultRow | None:
        return next((i for i in self._rows if isinstance(i, ResultRow) and i.photo_id == photo_id), None)

    def roleNames(self) -> dict[int, bytes]:
        names = dict(super().roleNames())
        names.update({int(role): role.name[0].lower().encode() + role.name[1:].encode() for role in Role})
        return names

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or index.column() != 0:
            return None
        row = self._rows[index.row()]
        if isinstance(row, Heading):
            return row.text if role in (Qt.ItemDataRole.DisplayRole, Role.Heading) else None
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(row.path)
        if role == Qt.ItemDataRole.ToolTipRole:  # scores only in the details pane, for the curious
            date = format_date(row.taken_at)
            return row.path + (f"\n{date}" if date else "")
        if role == Role.Heading:
            return None
        if role == Role.Path:
            return row.path
        if role == Role.Score:
            return row.score
        if role == Role.PhotoId:
            return row.photo_id
        if role == Role.Z:
            return row.z
        if role == Role.TakenAt:
            return row.taken_at
        if role == Role.Region:
            return row.region
        if role == Role.Row:
            return row
        if role == Role.Mark:
            return self._marks.get(row.photo_id)
        if role == Role.Thumb:
            return self._thumbs.request(row.path, row.thumb) if self._thumbs is not None else None
        return None

    def _thumb_loaded(self, key: str) -> None:
        row = self._row_of_path.get(key)
        if row is not None and row < len(self._rows):
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [int(Role.Thumb)])
