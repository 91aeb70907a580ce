"""The one index use case: scan and encode photos, then their captions, then refresh the vector cache.

Every front end calls ``index_library``: the CLI's ``index``, the window's indexer, ``tune-search`` and
the demo. A run that was cancelled still embeds the captions of what it encoded and refreshes the
cache, so the batches done so far are searchable at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlite_utils import Database

from app import vectorcache
from app.library import store
from app.library.captions import CaptionReport, TextEncoder, index_captions
from app.library.encoder import ImageEncoder
from app.library.indexer import Indexer, IndexReport, Progress
from app.library.regions import BOX_SET_NAME

INDEX_GRAPHS = ("vision", "concepts", "text")  # photos, their regions, their captions


class Model(ImageEncoder, TextEncoder, Protocol):
    """A runtime that encodes photos and captions (the bundle runtime, or a test's fake)."""


@dataclass(frozen=True)
class LibraryUpdate:
    report: IndexReport
    captions: CaptionReport
    cache: vectorcache.CacheInfo  # the refreshed vector cache (``cache.n`` photos searchable)


def index_library(
    db: Database,
    db_path: str | Path,
    runtime: Model,
    folders: Sequence[str] | None,
    thumbs: Path,
    batch_size: int = 16,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> LibraryUpdate:
    """Index ``folders`` (None: every folder of the library) with ``runtime`` and make them searchable."""
    runtime.open_graphs(INDEX_GRAPHS)  # a swapped or damaged graph is refused before any photo is read
    indexer = Indexer(db, runtime, thumbs, batch_size=batch_size)
    report = indexer.index(folders, progress, cancel)
    captions = index_captions(db, runtime, since=store.run_started_at(db, report.run_id))
    cache = vectorcache.build(db, db_path, runtime.identity, BOX_SET_NAME)
    return LibraryUpdate(report, captions, cache)
