"""The search side of the window: queries run on one worker thread, results come back as signals.

Threads. Everything here that touches the database or the model runs on the engine's own serial pool:
one thread that opens its own SQLite connection (connections belong to their thread) and keeps the
``Searcher`` with its in-memory vector index. The indexer writes through another connection; WAL
lets this one read meanwhile, from the vector cache it loaded (``refresh`` picks up a new one).

Staleness. Each ``search`` gets a generation number. The worker skips a request that a newer one has
replaced before it started (and again after encoding the query), and the window drops any outcome
whose generation is not the latest, so results of an older keystroke never overwrite newer ones.

Paging. A search ranks every matching photo (cheap: arrays of positions and scores) but turns only
the first page into rows (paths, dates, thumbnails, best region: one store query and a few hundred
region look-ups); the results model asks for further pages as the grid scrolls (``fetch_page``). The
ranking, its date order and the pages are search's own (``app.search.RankedPhotos``), as the CLI's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.gui.bundles import ModelHolder
from app.gui.tasks import Pool, run_task, serial_pool
from app.home import thumbs_dir
from app.library.db import open_db
from app.library.errors import is_io_error
from app.library.faults import library_faults
from app.library.thumbs import thumb_path
from app.query import make_query
from core.search_settings import ViewSettings

if TYPE_CHECKING:  # app.search loads on the worker, when the first search needs it
    from app.search import AppliedCutoff, BrowseOrder, Hit, RankedPhotos, Reason, SortOrder

PAGE = 240  # rows per page: a few screens of thumbnails
# Photos below the cutoff shown after the matches, under a "weaker matches" divider: enough that a
# query with few or no matches still fills several screens, few enough to rank in a millisecond.
WEAKER = 480
WEAKER_GROUP = "Weaker matches"
EPOCH = datetime(1970, 1, 1)  # the index's times count local wall-clock seconds from here
T = TypeVar("T")


@dataclass(frozen=True)
class SearchRequest:
    """What the search panel asks for; dates as ``YYYY-MM-DD``."""

    text: str = ""
    image: str | None = None  # an example image file
    image_weight: float = 0.5
    negative_weight: float = 0.5
    folder: str | None = None
    after: str | None = None
    before: str | None = None
    cutoff_offset: float | None = 0.0  # added to the bundle's calibrated z; None: no cutoff
    sort: SortOrder = "score"
    similar_to: int | None = None  # a library photo as the example (its stored vectors)
    similar_name: str = ""  # ... and its file name, for the window's words
    browse: BrowseOrder = "month"  # how an empty query shows the library
    right: tuple[int, ...] = ()  # photos the person marked right (relevance feedback: ids)
    wrong: tuple[int, ...] = ()  # ... and wrong

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: the window shows the library as a timeline instead."""
        return not self.text.strip() and not self.image and self.similar_to is None


@dataclass(frozen=True)
class ResultRow:
    photo_id: int
    path: str
    score: float
    z: float | None
    taken_at: str | None
    width: int | None
    height: int | None
    region: tuple[float, float, float, float] | None  # best candidate box, fractions (x, y, w, h)
    thumb: str | None  # thumbnail file (may be missing: then the photo itself is decoded)
    group: str | None = None  # the heading it goes under: a month, a folder, "Weaker matches"
    reason: Reason | None = None  # what made it match a photo ("more like this"), None for words


@dataclass
class SearchOutcome:
    generation: int
    request: SearchRequest
    rows: list[ResultRow]  # the first page
    stop: int  # where the next page starts in the ranking
    matched: int
    considered: int
    cutoff: AppliedCutoff
    elapsed_ms: float
    weaker: int = 0  # photos below the cutoff ranked after the matches
    browsing: bool = False  # the library's timeline (an empty query), not a search
    # The index's order, shown at once; the same search re-ordered by the ITM head follows (``refined``).
    refine: bool = False
    refined: bool = False

    @property
    def total(self) -> int:
        """Rows the grid can page through."""
        return self.matched + self.weaker


@dataclass
class Page:
    generation: int
    start: int  # position in the ranking of the first photo asked for
    stop: int  # ... and one past the last: the next page starts there
    rows: list[ResultRow]  # photos removed since the index loaded are left out


@dataclass(frozen=True)
class LibraryState:
    """What the loaded index holds, for the status bar and the relevance slider."""

    identity: str
    photos: int  # photos searchable with this model
    calibrated_z: float
    tuned: bool
    load_ms: float
    view: ViewSettings = field(default_factory=ViewSettings)  # what the result view may claim
    first_day: str | None = None  # the library's oldest and newest photo dates, ``YYYY-MM-DD``
    last_day: str | None = None


@dataclass
class _Ranked:
    """The current search's full ranking, in the order shown (worker side only)."""

    generation: int
    photos: RankedPhotos
    request: SearchRequest


@dataclass
class _Pending:
    """A search whose first photos the ITM head is yet to re-order (worker side only)."""

    generation: int
    ranking: Any
    terms: Any
    request: SearchRequest
    started: float


class _Worker:
    """State used only on the engine's thread."""

    def __init__(self, db_path: Path, holder: ModelHolder) -> None:
        self.db_path, self.holder = db_path, holder
        self.db: Any = None
        self.searcher: Any = None
        self.base_settings: Any = None
        self.model_version = -1
        self.ranked: _Ranked | None = None
        self.pending: _Pending | None = None  # a search shown in the index's order, its re-order to come

    def searcher_now(self) -> Any:
        from app.search import Searcher

        runtime = self.holder.get()
        if self.searcher is None or self.model_version != self.holder.version:
            if self.db is None:
                self.db = open_db(self.db_path, writable=False)
            self.searcher = Searcher(self.db, self.db_path, runtime)
            self.base_settings = self.searcher.settings
            self.model_version = self.holder.version
            self.ranked = None
        return self.searcher

    def state(self, refresh: bool) -> LibraryState:
        started = time.perf_counter()
        searcher = self.searcher_now()
        if refresh:
            searcher.refresh()
            self.ranked = None
        n = searcher.index.n
        return LibraryState(
            searcher.runtime.identity,
            n,
            float(self.base_settings.cutoff.z),
            bool(self.base_settings.tuned),
            (time.perf_counter() - started) * 1e3,
            self.base_settings.view,
            *_span(searcher.index.times),
        )

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = self.searcher = self.ranked = None

    def reopening(self, work: Callable[[], T]) -> T:
        """``work()``; after SQLite's "disk I/O error" (its files changed under the connection), close
        the connection and try once more on a fresh one (``app.library.db.DatabaseIOError``)."""
        try:
            with library_faults(self.db_path):  # a damaged page or a full disk in words, as the indexer
                return work()
        except Exception as err:
            if not is_io_error(err):
                raise
            self.close()
            with library_faults(self.db_path):
                return work()


class SearchEngine(QObject):
    """Runs searches and page fetches on its worker; see the module docstring."""

    results = Signal(object)  # SearchOutcome (of the latest generation only)
    browsed = Signal(object)  # SearchOutcome of an empty query: the library's timeline
    page = Signal(object)  # Page
    failed = Signal(int, object)  # generation, exception
    ready = Signal(object)  # LibraryState, after the index (re)loads
    unavailable = Signal(object)  # exception: no model, a damaged library...
    reopened = Signal(object)  # LibraryState, after ``reopen`` (also emitted as ``ready``)

    def __init__(
        self, db_path: Path, holder: ModelHolder, pool: Pool | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.thumbs_dir = thumbs_dir(self.db_path)
        self.holder = holder
        self._pool = pool if pool is not None else serial_pool()
        self._worker = _Worker(self.db_path, holder)
        self._latest = 0  # written here, read by the worker: an int, so atomic in CPython
        self.state: LibraryState | None = None

    @property
    def latest(self) -> int:
        return self._latest

    # ----- GUI thread -------------------------------------------------------------------------------
    def load(self, refresh: bool = False) -> None:
        """Load (or, after indexing, reload) the library's index; emits ``ready`` or ``unavailable``."""
        worker = self._worker
        run_task(
            lambda: worker.reopening(lambda: worker.state(refresh)),
            self._on_ready,
            self.unavailable.emit,
            pool=self._pool,
            context=self,
        )

    def reopen(self) -> None:
        """Close the connection and open the library afresh (another connection of this process hit
        "disk I/O error": none works again until every one has been closed); emits ``reopened``."""

        def fresh() -> LibraryState:
            self._worker.close()
            return self._worker.state(refresh=True)

        run_task(fresh, self._on_reopened, self.unavailable.emit, pool=self._pool, context=self)

    def search(self, request: SearchRequest) -> int:
        """Start a search; returns its generation. Results arrive through ``results``."""
        self._latest += 1
        generation = self._latest
        run_task(
            lambda: self._worker.reopening(lambda: self._search(generation, request)),
            self._on_results,
            lambda err: self.failed.emit(generation, err),
            pool=self._pool,
            context=self,
        )
        return generation

    def cancel(self) -> None:
        """Forget the searches in flight (their outcomes will be dropped)."""
        self._latest += 1

    def fetch_page(self, generation: int, start: int) -> None:
        run_task(
            lambda: self._worker.reopening(lambda: self._page(generation, start)),
            self._on_page,
            lambda err: self.failed.emit(generation, err),
            pool=self._pool,
            context=self,
        )

    def shutdown(self) -> None:
        """Close the connection on its own thread and wait for the worker to finish."""
        self._latest += 1
        run_task(self._worker.close, lambda _: None, pool=self._pool, context=None)
        wait = getattr(self._pool, "waitForDone", None)
        if wait is not None:
            wait(10_000)

    def _on_ready(self, state: LibraryState) -> None:
        self.state = state
        self.ready.emit(state)

    def _on_reopened(self, state: LibraryState) -> None:
        self._on_ready(state)
        self.reopened.emit(state)

    def _on_results(self, outcome: SearchOutcome | None) -> None:
        if outcome is not None and outcome.generation == self._latest:
            (self.browsed if outcome.browsing else self.results).emit(outcome)
            if outcome.refine:
                generation = outcome.generation
                run_task(
                    lambda: self._worker.reopening(lambda: self._refine(generation)),
                    self._on_results,
                    lambda err: self.failed.emit(generation, err),
                    pool=self._pool,
                    context=self,
                )

    def _on_page(self, page: Page | None) -> None:
        if page is not None and page.generation == self._latest:
            self.page.emit(page)

    # ----- worker thread ----------------------------------------------------------------------------
    def _search(self, generation: int, request: SearchRequest) -> SearchOutcome | None:
        if generation != self._latest:
            return None  # a newer keystroke replaced it while it waited
        started = time.perf_counter()
        query = make_query(
            request.text,
            image=request.image,
            image_weight=request.image_weight,
            negative_weight=request.negative_weight,
            folder=request.folder,
            after=request.after,
            before=request.before,
        )
        worker = self._worker
        searcher = worker.searcher_now()
        base = worker.base_settings
        offset = request.cutoff_offset or 0.0
        searcher.settings = replace(base, cutoff=replace(base.cutoff, z=base.cutoff.z + offset))
        if searcher.index.n == 0:
            from app.search import NO_CUTOFF

            return SearchOutcome(generation, request, [], 0, 0, 0, NO_CUTOFF, 0.0, browsing=request.is_empty)
        use_cutoff = request.cutoff_offset is not None
        if request.is_empty:
            ranked = searcher.browse(query, request.browse)
        elif request.similar_to is not None and query.is_empty:
            from app.similar import ranked_like  # photo, objects and captions fused (docs/similar.md)

            ranked = ranked_like(
                searcher,
                query,
                request.similar_to,
                right=request.right,
                wrong=request.wrong,
                sort=request.sort,
            )
        else:
            terms = searcher.encode(query) if not query.is_empty else None
            if request.similar_to is not None:
                terms = searcher.with_photo(terms, request.similar_to, request.image_weight)
            assert terms is not None  # a request that is not empty has words, an image or a photo
            if request.right or request.wrong:
                terms = searcher.with_feedback(terms, request.right, request.wrong)
            if generation != self._latest:
                return None
            ranking = searcher.rank(
                query, terms, use_cutoff=use_cutoff, limit=None, weaker=WEAKER, leave_out=request.wrong
            )
            # The ITM head's re-order costs a decode and two passes per photo: the index's order is shown
            # first, and the re-order follows (``_refine``) unless a newer keystroke made it unwanted.
            refine = searcher.itm_applies(terms, request.sort)
            if refine:
                worker.pending = _Pending(generation, ranking, terms, request, started)
            # A newer keystroke makes this answer unwanted: the names' re-order stops at its next chunk.
            ranked = searcher.ordered(
                ranking, terms, sort=request.sort, stale=lambda: generation != self._latest, itm=not refine
            )
            return self._outcome(generation, request, ranked, started, refine=refine)
        return self._outcome(generation, request, ranked, started)

    def _outcome(
        self,
        generation: int,
        request: SearchRequest,
        ranked: Any,
        started: float,
        refine: bool = False,
        refined: bool = False,
    ) -> SearchOutcome:
        self._worker.ranked = _Ranked(generation, ranked, request)
        stop = min(PAGE, len(ranked))
        rows = self._rows(ranked.page(0, stop), request, ranked.matched)
        elapsed = (time.perf_counter() - started) * 1e3
        return SearchOutcome(
            generation,
            request,
            rows,
            stop,
            ranked.matched,
            ranked.considered,
            ranked.cutoff,
            elapsed,
            ranked.weaker,
            request.is_empty,
            refine,
            refined,
        )

    def _refine(self, generation: int) -> SearchOutcome | None:
        """The search shown in the index's order, its first photos re-ordered by the ITM head."""
        pending = self._worker.pending
        if pending is None or pending.generation != generation or generation != self._latest:
            return None
        self._worker.pending = None
        searcher = self._worker.searcher_now()
        ranked = searcher.ordered(
            pending.ranking,
            pending.terms,
            sort=pending.request.sort,
            stale=lambda: generation != self._latest,
        )
        if generation != self._latest:
            return None
        return self._outcome(generation, pending.request, ranked, pending.started, refined=True)

    def find_similar(self, row: ResultRow, request: SearchRequest | None = None) -> int:
        """Search for photos like ``row``, from its stored vectors (nothing decoded or encoded again):
        the whole photo, its objects and captions fused (``app.similar``), with ``request``'s filters
        and a fresh start (no marks); returns the generation."""
        base = request if request is not None else SearchRequest()
        return self.search(
            replace(
                base,
                text="",
                image=None,
                similar_to=row.photo_id,
                similar_name=os.path.basename(row.path),
                right=(),
                wrong=(),
            )
        )

    def _page(self, generation: int, start: int) -> Page | None:
        ranked = self._worker.ranked
        if ranked is None or ranked.generation != generation or generation != self._latest:
            return None
        stop = min(start + PAGE, len(ranked.photos))
        rows = self._rows(ranked.photos.page(start, stop), ranked.request, ranked.photos.matched)
        return Page(generation, start, stop, rows)

    def _rows(self, hits: list[Hit], request: SearchRequest, matched: int) -> list[ResultRow]:
        return [
            ResultRow(
                hit.photo_id,
                hit.path,
                hit.score,
                hit.z,
                hit.taken_at,
                hit.width,
                hit.height,
                hit.region,
                str(thumb_path(self.thumbs_dir, hit.content_hash)) if hit.content_hash else None,
                _group(hit, request, matched),
                hit.reason,
            )
            for hit in hits
        ]


def _span(times: Any) -> tuple[str | None, str | None]:
    """The first and last day of the index's times (local wall-clock seconds), or None for none."""
    import numpy as np

    known = times[np.isfinite(times)]
    if known.size == 0:
        return None, None
    first, last = (EPOCH + timedelta(seconds=float(t)) for t in (known.min(), known.max()))
    return first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


def _group(hit: Hit, request: SearchRequest, matched: int) -> str | None:
    """The heading a row goes under: its month or folder when browsing, "Weaker matches" for a photo
    below the cutoff, none for a match."""
    if not request.is_empty:
        return WEAKER_GROUP if hit.rank >= matched else None
    if request.browse == "folder":
        return os.path.dirname(hit.path)
    return month_of(hit.moment)


def month_of(moment: float | None) -> str:
    """Local wall-clock seconds (the index's times: EXIF date, else file time) -> ``'May 2024'``."""
    if moment is None:
        return "Date unknown"
    return (EPOCH + timedelta(seconds=moment)).strftime("%B %Y")
