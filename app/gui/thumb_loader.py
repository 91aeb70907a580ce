"""Thumbnails for the results grid: loaded off the GUI thread, kept in an LRU cache by bytes.

The grid asks for the thumbnails it paints (``request``); a miss returns None at once (the delegate
draws a placeholder) and queues a load. Loads run newest-first on a few pool threads, and the queue
keeps only the latest requests, so a fast scroll through 100,000 results loads what is on screen now,
not everything it passed. A loaded image is scaled to the cell and emitted with ``loaded(key)``.

Worker threads produce ``QImage``s (safe off the GUI thread, unlike QPixmap); the delegate draws them.
The indexer's thumbnail JPEG is read when there is one; otherwise the photo is decoded (reduced).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from PySide6.QtCore import QObject, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage

from app.gui.tasks import Pool, run_task
from core.errors import KnownError

BROKEN = QImage()  # cached for files that cannot be read: a null image, drawn as "unreadable"


@dataclass(frozen=True)
class ThumbJob:
    key: str  # the photo's path
    thumb: str | None  # the indexer's thumbnail file


def pil_to_qimage(image: object) -> QImage:
    """An RGB PIL image -> a QImage that owns its pixels."""
    rgb = image.convert("RGB")  # type: ignore[attr-defined]
    data = rgb.tobytes("raw", "RGB")
    width, height = rgb.size
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def load_thumbnail(job: ThumbJob, size: QSize) -> QImage:
    """Worker thread: the thumbnail scaled to fit ``size``, or ``BROKEN``."""
    image = QImage(job.thumb) if job.thumb else QImage()
    if image.isNull():
        from app.library.decode import decode_image

        try:
            image = pil_to_qimage(decode_image(job.key, 2 * max(size.width(), size.height())).image)
        except KnownError:
            return BROKEN
    if image.width() > size.width() or image.height() > size.height():
        image = image.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return image


class ThumbLoader(QObject):
    loaded = Signal(str)

    def __init__(
        self,
        size: QSize,
        budget_bytes: int = 64 << 20,
        workers: int = 2,
        queue_limit: int = 400,
        pool: Pool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.budget_bytes = budget_bytes
        self.workers = workers
        self.queue_limit = queue_limit
        self._pool = pool if pool is not None else QThreadPool.globalInstance()
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._bytes = 0
        self._queue: OrderedDict[str, ThumbJob] = OrderedDict()  # newest last
        self._running: set[str] = set()
        self._pump_scheduled = False

    def request(self, key: str, thumb: str | None) -> QImage | None:
        """The cached image (``BROKEN`` for an unreadable file), or None after queueing a load."""
        image = self._cache.get(key)
        if image is not None:
            self._cache.move_to_end(key)
            return image
        if key not in self._running:
            self._queue.pop(key, None)
            self._queue[key] = ThumbJob(key, thumb)
            while len(self._queue) > self.queue_limit:
                self._queue.popitem(last=False)  # scrolled past long ago
            self._schedule()
        return None

    def clear_queue(self) -> None:
        """Drop queued loads (new results replace the old ones)."""
        self._queue.clear()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def _schedule(self) -> None:
        # Loads start from the event loop, never inside the model's ``data()`` that asked for them.
        if not self._pump_scheduled:
            self._pump_scheduled = True
            QTimer.singleShot(0, self, self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        while self._queue and len(self._running) < self.workers:
            key, job = self._queue.popitem(last=True)  # newest first: what is on screen now
            self._running.add(key)
            size = QSize(self.size)
            run_task(
                lambda job=job, size=size: load_thumbnail(job, size),
                lambda image, key=key: self._done(key, image),
                lambda _err, key=key: self._done(key, BROKEN),
                pool=self._pool,
                context=self,
            )

    def _done(self, key: str, image: QImage) -> None:
        self._running.discard(key)
        self._store(key, image)
        self.loaded.emit(key)
        if self._queue:
            self._schedule()

    def _store(self, key: str, image: QImage) -> None:
        self._cache[key] = image
        self._bytes += image.sizeInBytes()
        while self._bytes > self.budget_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.sizeInBytes()
