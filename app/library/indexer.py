"""The indexer: library folders -> photo rows, thumbnails and vectors, incrementally.

One run:
1. Scan the folders (``scan.py``). A folder that is missing (an unplugged drive) or a subfolder that
   cannot be listed keeps its known photos; only files that are really gone are removed.
2. Decide per file: a known file with the same size and mtime_ns that is indexed for this model (or
   failed before) is not read at all; every other file becomes a task, first written as 'pending'.
   Tasks are ordered newest first (EXIF date taken, else mtime; ``dates.py``), so on a first index
   of years of photos the recent ones are searchable within seconds, not after the whole run.
3. Tasks go through a pipeline in batches: decoder threads read (hash), decode, thumbnail and
   preprocess the files of batch N+1 (Pillow and numpy release the GIL) while batch N is encoded, cut
   into one part per encoder thread (onnxruntime releases the GIL too). At most ``PREFETCH`` batches
   wait decoded, which bounds memory. How many threads of each kind, and onnxruntime's own threads,
   is ``split.py``'s choice, measured.
4. Per batch, content hashes that already have vectors for this model (a renamed or moved photo, a
   duplicate) are not encoded again; the rest are encoded once per distinct hash, global and region
   embeddings. The batch's vectors and photo rows are committed in one transaction, so a killed
   indexer loses at most the batch in flight and the next run resumes from the 'pending' rows.
5. A file that fails (unreadable, not an image, truncated, too large, a broken link) is recorded with
   status 'error' and its message, and the run goes on. Environment failures that concern every
   photo (thumbnail folder unwritable, the model failing) stop the run as a ``KnownError``.
6. After a complete run, vectors and thumbnails that no photo uses any more are deleted.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from app.library import store, store_cache
from app.library.dates import newest_first
from app.library.db import folder_prefix
from app.library.decode import decode_image
from app.library.encoder import ImageEncoder
from app.library.hashing import content_hash
from app.library.index_lock import index_lock
from app.library.scan import ScanProblem, ScanResult, library_spelling, scan_folders
from app.library.thumbs import THUMB_SIZE, prune_thumbnails, save_thumbnail
from core.errors import KnownError
from core.region_boxes import BOX_SET_NAME, boxes_for

PREFETCH = 2  # batches decoded ahead of the one being encoded
# A JPEG is decoded reduced (draft) with both sides at least this many times the model's input side.
# Why 1.9 and not 2: the commonest 12-megapixel sensors (4000 x 3000, 4032 x 3024) reach 750 and 756
# pixels at 1/4 scale, just under 2 x 384; with 2 they were decoded at 1/2 scale, 4 times the pixels,
# and decode, thumbnail and preprocess took twice as long (58 against 29 ms a photo on one core). The
# model's input then differs from a full decode's by 0.18 grey levels on average instead of 0.08
# (``multigrain bench-index``), far below what JPEG compression itself changes.
DRAFT_FACTOR = 1.9


@dataclass(frozen=True)
class Progress:
    done: int  # files processed in this run (indexed or failed)
    total: int  # files this run has to process (new, changed, pending)
    rate: float  # files per second so far
    eta_s: float | None  # seconds left at that rate; None before the first batch
    current: str  # the last file of the batch just committed
    searchable: int = 0  # photos of the library a search finds now (with vectors of this model)


ProgressCallback = Callable[[Progress], None]


@dataclass
class IndexReport:
    run_id: int
    status: str  # 'done' or 'cancelled'
    counts: store.RunCounts
    problems: list[ScanProblem] = field(default_factory=list)  # from the scan (photo files included)
    missing_folders: list[str] = field(default_factory=list)


_Vectors = dict[str, tuple[np.ndarray, np.ndarray]]  # content hash -> (global (D,), regions (K, D))


@dataclass(frozen=True)
class _Task:
    path: str
    folder_id: int
    size: int
    mtime_ns: int


@dataclass
class _Prepared:
    """A task after its worker thread: preprocessed pixels and metadata, or the error message."""

    task: _Task
    content_hash: str | None = None
    pixels: np.ndarray | None = None  # (3, S, S) float32
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    error: str | None = None


class Indexer:
    """Indexes folders into the library ``db`` with ``runtime``; see the module docstring.

    Use from one thread (the one that opened ``db``); ``workers`` threads only decode, ``encoders``
    threads only encode (``batch_size`` photos a commit, ``run_batch`` images an onnxruntime call;
    None: ``batch_size``). ``newest_first`` False keeps the scan's order (for benchmarks).
    """

    def __init__(
        self,
        db: Database,
        runtime: ImageEncoder,
        thumbs_dir: str | Path,
        batch_size: int = 16,
        workers: int = 2,
        thumb_size: int = THUMB_SIZE,
        newest_first: bool = True,
        encoders: int = 1,
        run_batch: int | None = None,
    ) -> None:
        if batch_size < 1 or workers < 1 or encoders < 1 or (run_batch is not None and run_batch < 1):
            raise ValueError("batch_size, workers, encoders and run_batch must be at least 1")
        self.db = db
        self.runtime = runtime
        self.thumbs_dir = Path(thumbs_dir)
        self.batch_size = batch_size
        self.workers = workers
        self.encoders = encoders
        self.run_batch = run_batch or batch_size
        self.thumb_size = thumb_size
        self.newest_first = newest_first  # False: the scan's (name) order, for benchmarks to compare
        self.model = runtime.identity
        # JPEG draft never below DRAFT_FACTOR times the model's input side, nor below the thumbnail.
        self.draft_side = max(math.ceil(DRAFT_FACTOR * int(runtime.image_size)), thumb_size)

    # ----- one run ---------------------------------------------------------------------------------
    def index(
        self,
        folders: Sequence[str | Path] | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        retry_errors: bool = False,
        follow_links: bool = False,
    ) -> IndexReport:
        """Index ``folders`` (added to the library if new; None: every folder of the library).

        ``progress`` is called on this thread after each committed batch; ``cancel`` is honoured between
        batches; ``retry_errors`` reads again files that failed before even if they did not change.
        Returns the run's report; raises a ``KnownError`` for failures that concern every photo.
        """
        with index_lock(store.database_file(self.db)):
            return self._locked_index(folders, progress, cancel, retry_errors, follow_links)

    def _locked_index(
        self,
        folders: Sequence[str | Path] | None,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        retry_errors: bool,
        follow_links: bool,
    ) -> IndexReport:
        library = store.list_folders(self.db)
        if folders is None:
            folders = [folder.path for folder in library]
        known = {os.path.realpath(folder.path): folder.path for folder in library}
        roots = [library_spelling(os.path.abspath(os.fspath(folder)), known) for folder in folders]
        folder_ids = {root: store.add_folder(self.db, root) for root in roots}
        run_id = store.start_run(self.db, self.model)
        report = IndexReport(run_id, "failed", store.RunCounts())
        try:
            self._run(report, roots, folder_ids, progress, cancel, retry_errors, follow_links)
        except BaseException:
            # The failed run is still recorded; a database error here must not hide the first one.
            with contextlib.suppress(sqlite3.Error):
                store.finish_run(self.db, run_id, "failed", report.counts)
            raise
        store.finish_run(self.db, run_id, report.status, report.counts)
        return report

    def _run(
        self,
        report: IndexReport,
        roots: list[str],
        folder_ids: dict[str, int],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        retry_errors: bool,
        follow_links: bool,
    ) -> None:
        scan = scan_folders(roots, cancel, follow_links)
        report.problems, report.missing_folders = scan.problems, scan.missing_roots
        if scan.cancelled:  # an incomplete scan says nothing about which files are gone
            report.status = "cancelled"
            return
        known: dict[str, store.PhotoState] = {}
        for root in roots:
            if root not in scan.missing_roots:
                known.update(store.photo_states(self.db, root, self.model, BOX_SET_NAME))

        todo, unchanged = self._plan(scan, known, folder_ids, retry_errors)
        if self.newest_first:
            ordered = newest_first(todo, _path_of, _mtime_of, lambda: cancel is not None and cancel.is_set())
            if ordered is None:  # cancelled while reading dates: nothing was written yet
                report.status = "cancelled"
                return
            todo = ordered
        failed, known_failures = self._record_scan_problems(scan, {} if retry_errors else known, folder_ids)
        unchanged += known_failures
        removed = self._remove_vanished(scan, known)
        store.mark_pending(self.db, [(t.path, t.folder_id, t.size, t.mtime_ns) for t in todo])
        report.counts = store.RunCounts(
            total=len(scan.files) + failed + known_failures,
            unchanged=unchanged,
            failed=failed,
            removed=removed,
        )

        finished = self._pipeline(todo, report, progress, cancel)
        if finished:
            with self.db.atomic():
                # A renamed or moved folder: its old name is gone and its photos were found again.
                gone = [f.path for f in store.list_folders(self.db) if not os.path.isdir(f.path)]
                moved = store.drop_moved_photos(self.db, gone)
                report.counts = replace(report.counts, removed=report.counts.removed + moved)
                store.prune_vectors(self.db)
            prune_thumbnails(self.thumbs_dir, store.known_hashes(self.db))
        report.status = "done" if finished else "cancelled"

    def _plan(
        self,
        scan: ScanResult,
        known: dict[str, store.PhotoState],
        folder_ids: dict[str, int],
        retry_errors: bool,
    ) -> tuple[list[_Task], int]:
        """Files to read in this run, and how many are skipped as unchanged."""
        todo: list[_Task] = []
        unchanged = 0
        for found in scan.files:
            state = known.get(found.path)
            if state is not None and (state.size, state.mtime_ns) == (found.size, found.mtime_ns):
                indexed = state.status == "ok" and state.has_vectors
                if indexed or (state.status == "error" and not retry_errors):
                    unchanged += 1
                    continue
            todo.append(_Task(found.path, folder_ids[found.root], found.size, found.mtime_ns))
        return todo, unchanged

    def _record_scan_problems(
        self, scan: ScanResult, known: dict[str, store.PhotoState], folder_ids: dict[str, int]
    ) -> tuple[int, int]:
        """Photo-named entries the scan could not read (broken links, loops, FIFOs): rows with status
        'error'. Returns (new failures, failures already recorded): an entry unchanged since a run that
        recorded it is counted unchanged, like a photo that failed to decode, not failed on every run."""
        problems = [p for p in scan.problems if p.is_photo]
        new = [p for p in problems if not _already_failed(known.get(p.path), p)]
        now = time.time()
        with self.db.atomic():
            for p in new:
                row = store.PhotoRecord(
                    p.path, folder_ids[p.root], p.size, p.mtime_ns, "error", error=p.message
                )
                store.save_photo(self.db, row, now)
        return len(new), len(problems) - len(new)

    def _remove_vanished(self, scan: ScanResult, known: dict[str, store.PhotoState]) -> int:
        """Delete rows of known photos the scan did not find, except under folders it could not list."""
        present = {f.path for f in scan.files} | {p.path for p in scan.problems if p.is_photo}
        blind = tuple(folder_prefix(d) for d in scan.unreadable_dirs)
        gone = [s.id for path, s in known.items() if path not in present and not path.startswith(blind)]
        store.delete_photos(self.db, gone)
        return len(gone)

    # ----- the pipeline ----------------------------------------------------------------------------
    def _pipeline(
        self,
        todo: list[_Task],
        report: IndexReport,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> bool:
        """Decode ahead in threads, encode and commit batch by batch; False if cancelled."""
        batches = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        started, done = time.monotonic(), 0
        # Photos a search finds now; the tasks were marked 'pending', so none of them is counted yet.
        searchable = store_cache.count_cached_photos(self.db, self.model)
        if progress is not None:
            progress(Progress(0, len(todo), 0.0, None, "", searchable))
        decoders = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="multigrain-decode")
        encoders = ThreadPoolExecutor(max_workers=self.encoders, thread_name_prefix="multigrain-encode")
        waiting: deque[list[Future[_Prepared]]] = deque()
        submitted = 0

        def submit_next() -> None:
            nonlocal submitted
            if submitted < len(batches):
                waiting.append([decoders.submit(self._prepare, task) for task in batches[submitted]])
                submitted += 1

        try:
            for _ in range(PREFETCH):
                submit_next()
            while waiting:
                if cancel is not None and cancel.is_set():
                    return False
                futures = waiting.popleft()
                submit_next()  # keeps the decoders busy while this batch is encoded
                prepared = [future.result() for future in futures]
                report.counts = self._commit(prepared, report.counts, encoders)
                searchable += sum(p.error is None for p in prepared)  # tasks were 'pending': not counted
                done += len(prepared)
                if progress is not None:
                    elapsed = max(time.monotonic() - started, 1e-9)
                    rate = done / elapsed
                    eta = (len(todo) - done) / rate if rate > 0 else None
                    progress(Progress(done, len(todo), rate, eta, prepared[-1].task.path, searchable))
            return True
        finally:
            decoders.shutdown(wait=True, cancel_futures=True)
            encoders.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, task: _Task) -> _Prepared:
        """Worker thread: hash, decode, thumbnail, preprocess one file. File problems become the result's
        ``error``; a thumbnail folder that cannot be written raises (it concerns every photo)."""
        try:
            digest = content_hash(task.path)
            decoded = decode_image(task.path, self.draft_side)
        except KnownError as err:  # UnreadableFileError, DecodeError
            return _Prepared(task, error=str(err))
        save_thumbnail(decoded.image, self.thumbs_dir, digest, self.thumb_size)
        pixels = self.runtime.preprocess([decoded.image])[0]
        return _Prepared(task, digest, pixels, decoded.width, decoded.height, decoded.taken_at)

    def _commit(
        self, prepared: list[_Prepared], counts: store.RunCounts, encoders: ThreadPoolExecutor
    ) -> store.RunCounts:
        """Encode what is new in one batch and commit its vectors and rows in one transaction."""
        good = [p for p in prepared if p.error is None]
        have = store.hashes_with_vectors(self.db, (p.content_hash for p in good), self.model, BOX_SET_NAME)
        fresh: dict[str, _Prepared] = {}
        for p in good:
            if p.content_hash not in have and p.content_hash not in fresh:
                fresh[p.content_hash] = p  # duplicates in one batch are encoded once
        vectors = self._encode_parts(list(fresh.values()), encoders)
        now = time.time()
        with self.db.atomic():
            for digest, (embedding, regions) in vectors.items():
                store.put_vectors(self.db, digest, self.model, embedding, BOX_SET_NAME, regions)
            for p in prepared:
                store.save_photo(self.db, _record(p), now)
        return replace(
            counts,
            encoded=counts.encoded + len(fresh),
            reused=counts.reused + len(good) - len(fresh),
            failed=counts.failed + len(prepared) - len(good),
        )

    def _encode_parts(self, items: list[_Prepared], encoders: ThreadPoolExecutor) -> _Vectors:
        """``items`` cut into one part per encoder thread, encoded at once (see ``split.py``)."""
        size = max(1, math.ceil(len(items) / self.encoders))
        parts = [encoders.submit(self._encode, items[i : i + size]) for i in range(0, len(items), size)]
        vectors: _Vectors = {}
        for part in parts:
            vectors.update(part.result())
        return vectors

    def _encode(self, items: list[_Prepared]) -> _Vectors:
        """Encoder thread: content hash -> (global (D,), regions (K, D)) for ``items``."""
        if not items:
            return {}
        pixels = np.stack([p.pixels for p in items])
        embeds, tokens = self.runtime.encode_images(pixels, batch_size=self.run_batch)
        regions = self.runtime.encode_regions(tokens, boxes_for(len(items)))
        dim = self.runtime.embed_dim
        if embeds.shape != (len(items), dim) or regions.shape[::2] != (len(items), dim):
            raise RuntimeError(f"encoder returned {embeds.shape} and {regions.shape} for {len(items)} images")
        return {p.content_hash: (embeds[i], regions[i]) for i, p in enumerate(items)}


def _record(p: _Prepared) -> store.PhotoRecord:
    t = p.task
    if p.error is not None:
        return store.PhotoRecord(t.path, t.folder_id, t.size, t.mtime_ns, "error", error=p.error)
    return store.PhotoRecord(
        t.path, t.folder_id, t.size, t.mtime_ns, "ok", p.content_hash, p.width, p.height, p.taken_at
    )


def _already_failed(state: store.PhotoState | None, problem: ScanProblem) -> bool:
    """The entry was recorded as an error by an earlier run and has not changed since."""
    return (
        state is not None
        and state.status == "error"
        and (state.size, state.mtime_ns) == (problem.size, problem.mtime_ns)
    )


def _path_of(task: _Task) -> str:
    return task.path


def _mtime_of(task: _Task) -> int:
    return task.mtime_ns
