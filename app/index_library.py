"""The one index use case: scan and encode photos, then their captions, then refresh the vector cache;
and its inverse, forgetting folders (``forget_folders``).

Every front end calls ``index_library``: the CLI's ``index``, the window's indexer, ``tune-search`` and
the demo. A run that was cancelled still embeds the captions of what it encoded and refreshes the
cache, so the batches done so far are searchable at once. A run that changed the library ends with a
backup (``integrity.backup``: a quick check, then SQLite's online backup; the newest few are kept).
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
from app.library.integrity import backup, list_backups
from app.library.split import Split, split_for
from core.region_boxes import BOX_SET_NAME

INDEX_GRAPHS = ("vision", "concepts", "text")  # photos, their regions, their captions


class Model(ImageEncoder, TextEncoder, Protocol):
    """A runtime that encodes photos and captions (the bundle runtime, or a test's fake)."""


@dataclass(frozen=True)
class LibraryUpdate:
    report: IndexReport
    captions: CaptionReport
    cache: vectorcache.CacheInfo  # the refreshed vector cache (``cache.n`` photos searchable)
    backup: Path | None  # the backup this run made (None: nothing changed)


def index_library(
    db: Database,
    db_path: str | Path,
    runtime: Model,
    folders: Sequence[str] | None,
    thumbs: Path,
    batch_size: int = 16,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    follow_links: bool = False,
    retry_errors: bool = False,
    split: Split | None = None,
) -> LibraryUpdate:
    """Index ``folders`` (None: every folder of the library) with ``runtime`` and make them searchable.
    ``follow_links``: follow symbolic links that leave the folders (``scan``); ``retry_errors``: read
    again the files that could not be read, even unchanged (a changed one is always read again);
    ``split``: threads for decoding and encoding (default: ``split_for(runtime)``)."""
    runtime.open_graphs(INDEX_GRAPHS)  # a swapped or damaged graph is refused before any photo is read
    split = split or split_for(runtime)
    indexer = Indexer(
        db,
        runtime,
        thumbs,
        batch_size=batch_size,
        workers=split.decoders,
        encoders=split.encoders,
        run_batch=split.run_batch,
    )
    report = indexer.index(folders, progress, cancel, retry_errors=retry_errors, follow_links=follow_links)
    captions = index_captions(db, runtime, since=store.run_started_at(db, report.run_id))
    cache = vectorcache.build(db, db_path, runtime.identity, BOX_SET_NAME)
    counts = report.counts
    changed = counts.total != counts.unchanged or counts.removed or captions.updated or captions.removed
    saved = None
    if changed or not list_backups(Path(db_path)):
        saved = backup(db.conn, Path(db_path))
    return LibraryUpdate(report, captions, cache, saved)


def forget_folders(db: Database, db_path: str | Path, identity: str | None, folders: Sequence[str]) -> None:
    """Remove ``folders`` (as the library spells them) and their photos from the library (the files are
    not touched) and refresh the vector cache of ``identity``, so no search shows them again."""
    with db.atomic():
        for folder in folders:
            store.remove_folder(db, folder)
        store.prune_vectors(db)
    if identity:
        vectorcache.build(db, db_path, identity, BOX_SET_NAME)
