"""``run_task``: run one function on a worker thread and deliver its result or error on the GUI thread.

Why a relay object: a Qt signal emitted from a worker reaches a slot on the GUI thread only through a
queued connection, and Qt queues a call only when the receiver is a QObject living on another thread.
A plain Python callable has no thread, so the callbacks hang off a small ``_Relay`` created on the
calling (GUI) thread, whose slots call them.

Pools: ``QThreadPool.globalInstance()`` for independent jobs (thumbnails, grounding); ``serial_pool()``
for work on a SQLite connection, which belongs to the thread that opened it; ``SyncPool`` runs tasks
at once on the calling thread, for tests.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

T = TypeVar("T")
log = logging.getLogger("multigrain.gui")


class Pool(Protocol):
    """What ``run_task`` needs of a pool (QThreadPool has it)."""

    def start(self, runnable: QRunnable) -> None: ...


class SyncPool:
    """Runs each task at once on the calling thread: results arrive before ``run_task`` returns."""

    def start(self, runnable: QRunnable) -> None:
        runnable.run()

    def waitForDone(self, msecs: int = -1) -> bool:  # QThreadPool's name
        return True


def serial_pool() -> QThreadPool:
    """A pool of one thread that never expires: every task runs on the same thread, in order.

    SQLite connections may only be used by the thread that opened them; QThreadPool otherwise retires
    idle threads after 30 s and would run the next task on a new one."""
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    pool.setExpiryTimeout(-1)
    return pool


class _Relay(QObject):
    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(
        self,
        on_result: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None,
        context: QObject | None,
    ) -> None:
        # No parent: a relay deleted with its context while a worker emits on it crashed the process
        # (a segfault seen in a clean-clone run). It lives in ``_live`` until it delivers, and delivers
        # nothing once its context is gone.
        super().__init__()
        self._on_result, self._on_error, self._context = on_result, on_error, context
        self.succeeded.connect(self._deliver)
        self.failed.connect(self._fail)

    def _context_alive(self) -> bool:
        return self._context is None or shiboken6.isValid(self._context)

    @Slot(object)
    def _deliver(self, result: object) -> None:
        _live.discard(self)
        if self._context_alive():
            self._on_result(result)

    @Slot(object)
    def _fail(self, error: BaseException) -> None:
        _live.discard(self)
        if not self._context_alive():
            return
        if self._on_error is not None:
            self._on_error(error)
        else:
            log.error("background task failed", exc_info=error)


_live: set[_Relay] = set()  # every relay, kept alive until it delivers


class _Task(QRunnable):
    def __init__(self, func: Callable[[], object], relay: _Relay) -> None:
        super().__init__()
        self._func, self._relay = func, relay

    def run(self) -> None:
        try:
            result = self._func()
        except BaseException as err:  # delivered to the GUI thread, never lost here
            self._emit(self._relay.failed, err)
        else:
            self._emit(self._relay.succeeded, result)

    @staticmethod
    def _emit(signal: Any, value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the relay's context (a closed window) was deleted
            signal.emit(value)


def run_task(
    func: Callable[[], T],
    on_result: Callable[[T], None],
    on_error: Callable[[BaseException], None] | None = None,
    *,
    pool: Pool | None = None,
    context: QObject | None = None,
) -> None:
    """Run ``func()`` on ``pool`` (default: the global pool); then, on this thread, ``on_result(value)``
    or ``on_error(exception)`` (default: log it). With a ``context`` object, nothing is delivered once
    it has been deleted. Call from the GUI thread."""
    relay = _Relay(on_result, on_error, context)
    _live.add(relay)
    (pool or QThreadPool.globalInstance()).start(_Task(func, relay))
