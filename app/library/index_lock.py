"""One indexer per library at a time: an exclusive lock on ``<db>.indexing``, held for the whole run.

Two indexers on one library would each plan the same photos and encode them twice (seen: 568 encodes
for 300 photos). The lock is ``flock`` on a small file beside the database, never on the database
itself: SQLite's POSIX locks belong to the process and any other lock or close on the database file
would drop them (``app.home``). ``flock`` locks belong to the open file, so the kernel releases this one
when the indexer's process ends in any way, kill -9 included, and a later run takes it at once. The
file holds who took it (pid, host, start), for the message the next indexer shows and for ``status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.library.errors import LibraryError

try:
    import fcntl
except ImportError:  # Windows: no flock; one indexer per library is then not enforced
    fcntl = None  # type: ignore[assignment]


class IndexerBusyError(LibraryError):
    """Another process is indexing this library."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%H:%M", time.localtime(self.since))
        return f"process {self.pid} on {self.host}, since {when}"


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".indexing")


def _read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text())
        return Holder(int(data["pid"]), str(data["host"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def index_lock(db_path: Path | None) -> Iterator[None]:
    """Hold the library's index lock for the ``with`` block, or raise ``IndexerBusyError`` at once
    (``db_path`` None: an in-memory library, which no other process can index)."""
    if fcntl is None or db_path is None:
        yield
        return
    path = lock_path(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            who = holder.describe() if holder else "another process"
            raise IndexerBusyError(
                f"{db_path}: another Multigrain is indexing this library ({who}); wait for it to "
                "finish or stop it, then index again"
            ) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def current_indexer(db_path: Path) -> Holder | None:
    """Who holds the library's index lock now (None: nobody is indexing it)."""
    path = lock_path(db_path)
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path) or Holder(0, "unknown", 0.0)
        return None  # free: the shared lock is released when fd closes
    finally:
        os.close(fd)
