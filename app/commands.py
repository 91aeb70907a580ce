"""Handlers of the app's commands (index, search, ground, status, demo, tune-search, bench-search,
bench-ground).

Arguments are declared in ``cli/main.py``. Known problems (no bundle, a damaged library, a bad photo) are
``KnownError``s, which ``cli.main`` prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.home import NoBundleError, resolve_bundle, thumbs_dir
from app.terminal import json_path, json_text, shown
from core.errors import KnownError


# ----- shared -----------------------------------------------------------------------------------------
def db_path_of(args: argparse.Namespace) -> Path:
    from app.legacy import default_library

    return Path(args.db).expanduser() if getattr(args, "db", None) else default_library()


def _library_command(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that uses the library: a full disk or a damaged database anywhere in it is one sentence
    (see ``app.library.faults``), not a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from app.library.faults import library_faults

        with library_faults(db_path_of(args)):
            return handler(args)

    return run


def open_library(args: argparse.Namespace, must_exist: bool, writable: bool = True) -> tuple[Any, Path]:
    """The library ``--db`` names (default: the app's); ``writable`` False for commands that only read."""
    from app.library.db import open_db

    path = db_path_of(args)
    if must_exist and not path.is_file():
        raise KnownError(f"no library at {path}: index a folder first (`multigrain index FOLDER`)")
    return open_db(path, writable=writable), path


def load_model(args: argparse.Namespace, threads: int = 0) -> Any:
    """The bundle's runtime on CPU; ``threads``: onnxruntime's intra-op threads (0: its default)."""
    from app.library.encoder import load_runtime

    return load_runtime(resolve_bundle(getattr(args, "bundle", None)), providers="cpu", threads=threads)


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


class _CancelOnInterrupt:
    """First Ctrl-C asks the indexer to stop after its current batch; a second one interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> threading.Event:
        def handler(signum: int, frame: Any) -> None:
            if self.event.is_set():
                raise KeyboardInterrupt
            self.event.set()
            print("\ncancelling after the current batch (Ctrl-C again to stop at once)", file=sys.stderr)

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, handler)
        return self.event

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _ProgressLine:
    """Index progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        final = p.done == p.total
        if not self.tty and not final and now - self.last < 5.0:
            return
        self.last = now
        text = (
            f"indexed {p.done}/{p.total} photos  {p.rate:.1f} photos/s  ETA {_duration(p.eta_s)}  "
            f"{p.searchable} searchable (newest first)"
        )
        print(("\r" + text + "\x1b[K") if self.tty else text, end="" if self.tty else "\n", file=sys.stderr)
        if self.tty and final:
            print(file=sys.stderr)


# ----- index ------------------------------------------------------------------------------------------
@_library_command
def index(args: argparse.Namespace) -> int:
    from app.index_library import index_library

    retry = bool(getattr(args, "retry_failed", False))
    if not args.paths and not retry:
        raise KnownError("name the folders to index (or --retry-failed to read the unreadable files again)")
    folders = [os.path.abspath(os.path.expanduser(p)) for p in args.paths]
    for folder in folders:
        if not os.path.isdir(folder):
            raise KnownError(f"{shown(folder)}: not a folder (give the folders that hold your photos)")
    from app.library.split import default_split

    runtime = load_model(args, threads=default_split().intra_op)  # only this run uses it
    db, db_path = open_library(args, must_exist=False)
    with _CancelOnInterrupt() as cancel:
        update = index_library(
            db,
            db_path,
            runtime,
            folders or None,  # none named (--retry-failed): every folder of the library
            thumbs_dir(db_path),
            args.batch_size,
            _ProgressLine(),
            cancel,
            follow_links=getattr(args, "follow_links", False),
            retry_errors=retry,
        )
    report = update.report
    c = report.counts
    print(
        f"{c.total} photos found: {c.encoded} encoded, {c.reused} reused, {c.unchanged} unchanged, "
        f"{c.failed} failed, {c.removed} removed"
    )
    for problem in report.problems[:5]:
        print(f"  problem: {shown(problem.path)}: {problem.message}", file=sys.stderr)
    for folder in report.missing_folders:
        print(f"  folder not found (its photos are kept): {shown(folder)}", file=sys.stderr)
    if update.captions.updated or update.captions.embedded:
        print(f"captions: {update.captions.found} photos with captions, {update.captions.embedded} embedded")
    print(f"library {shown(str(db_path))}: {update.cache.n} photos searchable with {runtime.identity}")
    if report.status == "cancelled":
        print("cancelled: the batches done so far are saved; run the same command again to continue")
        return 130
    return 0


def forget(args: argparse.Namespace) -> int:
    """Remove folders and their photos from the library (the files stay where they are)."""
    from app.index_library import forget_folders
    from app.library import store
    from app.library.scan import library_spelling
    from export.bundle import read_manifest

    db, db_path = open_library(args, must_exist=True)
    try:
        stored = [f.path for f in store.list_folders(db)]
        known = {os.path.realpath(f): f for f in stored}
        chosen = []
        for path in args.folders:
            absolute = os.path.abspath(os.path.expanduser(path))
            spelled = absolute if absolute in stored else library_spelling(absolute, known)
            if spelled not in stored:
                listing = ", ".join(shown(f) for f in stored) or "none"
                raise KnownError(f"{shown(absolute)} is not a folder of the library (its folders: {listing})")
            chosen.append(spelled)
        identity = None
        with contextlib.suppress(KnownError):  # no model: the vectors go, the cache is rebuilt later
            identity = str(read_manifest(resolve_bundle(getattr(args, "bundle", None)))["identity"])
        forget_folders(db, db_path, identity, chosen)
    finally:
        db.close()
    for folder in chosen:
        print(f"forgot {shown(folder)} and its photos (the files are untouched)")
    return 0


# ----- search -----------------------------------------------------------------------------------------
@_library_command
def search(args: argparse.Namespace) -> int:
    from app.query import Query, make_query
    from app.search import Searcher

    def query_with(image_weight: float) -> Query:
        return make_query(
            args.query or "",
            image=args.image,
            image_weight=image_weight,
            negative_weight=args.negative_weight,
            folder=args.folder,
            after=args.after,
            before=args.before,
        )

    query = query_with(0.5 if args.image_weight is None else args.image_weight)  # a bad query fails first
    if args.folder and not os.path.isdir(args.folder):
        print(
            f"warning: {shown(args.folder)} is not a folder here: only photos indexed from it can match",
            file=sys.stderr,
        )
    db, db_path = open_library(args, must_exist=True, writable=False)
    runtime = load_model(args)
    # --rerank K asks for the ITM head on the first K (all of them, however long); 0 turns off the
    # bundle's own (``itm_head``, within a time budget), which runs when it is not given.
    itm_head = None if args.rerank is None else 0
    searcher = Searcher(db, db_path, runtime, name_rerank=args.name_rerank, itm_head=itm_head)
    if args.image_weight is None:  # the bundle's measured balance of text and image (``tune-view``)
        query = query_with(searcher.settings.view.image_weight)
    if searcher.index.n == 0:
        raise KnownError(
            f"no photos in {db_path} are indexed with {runtime.identity}: run `multigrain index FOLDER`"
        )
    rerank = args.rerank or 0
    response = searcher.search(query, args.top, sort=args.sort, rerank=rerank, use_cutoff=not args.all)
    if args.json:
        out = {
            "query": {
                "text": query.text,
                "negatives": list(query.negatives),
                "image": json_path(args.image) if args.image else None,
            },
            "model": runtime.identity,
            "matched": response.matched,
            "considered": response.considered,
            "cutoff": asdict(response.cutoff),
            "timings_ms": {k: round(v, 2) for k, v in asdict(response.timings_ms).items()},
            "results": [_hit_json(hit) for hit in response.hits],
        }
        print(json_text(out))
        return 0
    cut = response.cutoff
    note = f"z >= {cut.z} ({cut.source})" if cut.source != "none" else "no cutoff"
    print(f"{response.matched} of {response.considered} photos match [{note}]")
    for rank, hit in enumerate(response.hits, 1):
        z = f"{hit.z:5.1f}" if hit.z is not None else "    -"
        itm = f" itm {hit.itm:5.2f}" if hit.itm is not None else ""
        date = (hit.taken_at or "")[:10]
        print(
            f"{rank:3d}  {hit.score:6.3f}  z {z}{itm}  {date:10s}  {shown(hit.path)}{_missing(hit.missing)}"
        )
    return 0


def _missing(missing: bool) -> str:
    """What a result line says of a photo whose file is not reachable now (``library.presence``)."""
    return "  (missing: its folder is not reachable)" if missing else ""


def _hit_json(hit: Any) -> dict[str, Any]:
    """One search result as ``search --json`` prints it (the content hash only names a thumbnail)."""
    out = {**asdict(hit), "path": json_path(hit.path), "cosines": hit.cosines.to_json()}
    del out["content_hash"]
    return out


# ----- similar ----------------------------------------------------------------------------------------
@_library_command
def similar(args: argparse.Namespace) -> int:
    """``multigrain similar PHOTO``: the library's photos most like one of its photos, with what made each
    match; ``--right``/``--wrong`` move the query toward or away from marked photos (feedback)."""
    from app.library import store
    from app.library.presence import presence
    from app.reason_words import reason_short
    from app.search import Searcher
    from app.similar import NotInLibrary, similar_photos

    db, db_path = open_library(args, must_exist=True, writable=False)
    runtime = load_model(args)
    searcher = Searcher(db, db_path, runtime)
    index = searcher.index
    ids = _library_ids(db, [args.photo, *args.right, *args.wrong])
    query, right = ids[0], tuple(ids[1 : 1 + len(args.right)])
    wrong = tuple(ids[1 + len(args.right) :])
    parts_at = searcher.part_cache.parts_at(runtime, searcher.decode_positions, index)
    try:
        found = similar_photos(
            index,
            query,
            top=args.top + len(wrong),
            right=right,
            wrong=wrong,
            parts_at=parts_at,
            parts=args.parts,
        )
        matches = [m for m in found if m.photo_id not in wrong][: args.top]  # as the window: not shown
    except NotInLibrary as err:
        raise KnownError(f"{shown(args.photo)}: {err}") from err
    paths = store.photo_paths(db, [m.photo_id for m in matches])
    found = [(m, paths[m.photo_id]) for m in matches if m.photo_id in paths]
    with_presence = [(m, path, presence(path)) for m, path in found]  # one stat per photo
    shown_matches = [(m, path, state) for m, path, state in with_presence if state != "deleted"]
    if args.json:
        results = [
            {
                "path": json_path(path),
                "score": m.score,
                "reason": m.reason.to_json(),
                "missing": state == "unreachable",
            }
            for m, path, state in shown_matches
        ]
        print(json_text({"photo": json_path(args.photo), "results": results}))
        return 0
    for rank, (m, path, state) in enumerate(shown_matches, 1):
        missing = _missing(state == "unreachable")
        print(f"{rank:3d}  {m.score:6.2f}  {reason_short(m.reason):38s}  {shown(path)}{missing}")
    return 0


def _library_ids(db: Any, photos: list[str]) -> list[int]:
    """The library ids of photo files given on the command line (one sentence for one it lacks)."""
    from app.library import store

    by_path = {path: pid for pid, path in store.photo_paths(db).items()}
    ids = []
    for photo in photos:
        spelled = os.path.abspath(os.path.expanduser(photo))
        pid = by_path.get(spelled, by_path.get(os.path.realpath(spelled)))
        if pid is None:
            raise KnownError(f"{shown(photo)} is not in the library: index its folder first")
        ids.append(pid)
    return ids


# ----- ground -----------------------------------------------------------------------------------------
def ground(args: argparse.Namespace) -> int:
    from app.drawing import draw_box
    from app.grounding import ground_image
    from app.library.decode import DecodeError, decode_image
    from app.personal.usage import names_at
    from core.zoom import zoom_from_args

    zoom = zoom_from_args(args)
    runtime = load_model(args)
    try:
        decoded = decode_image(args.photo)
    except DecodeError as err:
        raise DecodeError(f"{shown(args.photo)}: {err}") from err
    g = ground_image(runtime, decoded.image, args.text, zoom, names_at(db_path_of(args), runtime))
    if args.json:
        print(json_text(asdict(g)))
    else:
        x0, y0, x1, y1 = g.box
        print(
            f"{args.text!r} in {shown(args.photo)}: box ({x0}, {y0})-({x1}, {y1}) of {g.width}x{g.height}, "
            f"score {g.score:.3f}, confidence (ITM logit) {g.confidence:.2f}"
        )
    if args.out:
        out = Path(args.out)
        try:
            draw_box(decoded.image, g.box, f"{args.text} {g.score:.2f}").save(out)
        except (OSError, ValueError) as err:
            raise KnownError(f"cannot write {shown(str(out))}: {err}") from err
        print(f"wrote {shown(str(out))}")
    return 0


# ----- status -----------------------------------------------------------------------------------------
@_library_command
def status(args: argparse.Namespace) -> int:
    from app import vectorcache
    from app.bundle_check import checked_bundle
    from app.library import integrity, store
    from app.library.index_lock import current_indexer
    from app.library.runs import last_run
    from app.settings import load_settings
    from core.region_boxes import BOX_SET_NAME

    path = db_path_of(args)
    identity = None
    try:
        bundle = resolve_bundle(getattr(args, "bundle", None))
        manifest = checked_bundle(bundle).manifest  # hashes and identity, cached by size and mtime
        identity = str(manifest["identity"])
        print(f"model bundle: {shown(str(bundle))} ({identity})")
        s = load_settings(identity, manifest.get("search_settings"))
        print(
            f"search settings: w_global {s.w_global:g}, w_region {s.w_region:g}, w_caption {s.w_caption:g}, "
            f"cutoff z {s.cutoff.z:g}; {s.source}"
        )
    except NoBundleError as err:
        print(f"model bundle: none ({err})")
    except KnownError as err:  # a damaged or edited bundle
        print(f"model bundle: refused: {err}")
    if not path.is_file():
        print(f"library: none yet at {shown(str(path))} (`multigrain index FOLDER` creates it)")
        return 0
    db, _ = open_library(args, must_exist=True, writable=False)
    print(f"library: {shown(str(path))} ({path.stat().st_size / 1e6:.1f} MB)")
    health = integrity.check_library(path, db.conn)
    reason = health.problems[0] if health.problems else integrity.damage_reason(path)
    if reason is not None:  # its counts cannot be trusted, nor perhaps read
        raise integrity.damaged_error(path, reason)
    backups = integrity.list_backups(path)
    latest = f", newest backup {backups[0].name}" if backups else ", no backup yet"
    print(f"integrity: sound (quick_check, {health.seconds:.1f} s){latest}")
    counts = store.photo_counts_by_status(db)
    print(
        f"photos: {counts.get('ok', 0)} indexed, {counts.get('error', 0)} unreadable, "
        f"{counts.get('pending', 0)} pending"
    )
    for folder_path, n in store.photos_per_folder(db):
        print(f"  folder {shown(folder_path)}: {n} photos")
    for model, n in store.vectors_per_model(db):
        print(f"vectors: {n} for {model}")
    print(f"captions: {store.count_captions(db)}")
    run = last_run(db)
    if run:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at))
        if run.status == "interrupted":
            print(f"last index run: {when}, interrupted (its process ended; `multigrain index` resumes it)")
        elif run.status == "running":  # its counts are written when it ends
            print(f"last index run: {when}, running" + (f" on {run.host}" if run.host else ""))
        else:
            counts = f"{run.total} files, {run.encoded} encoded, {run.failed} failed"
            print(f"last index run: {when}, {run.status}, {counts}")
    indexing = current_indexer(path)
    if indexing is not None:
        print(f"indexing now: {indexing.describe()}")
    if identity:
        fresh = vectorcache.find_fresh(db, path, identity, BOX_SET_NAME)
        if fresh is None:
            print("vector cache: stale or missing (rebuilt by the next search)")
        else:
            layout = "exact regions" if fresh.exact else "two-stage regions"
            size = vectorcache.cache_bytes(fresh) / 1e6
            print(f"vector cache: fresh, {fresh.n} photos, {layout}, {size:.1f} MB at {fresh.path}")
    return 0


# ----- larger commands in their own modules ----------------------------------------------------------
def bench_search(args: argparse.Namespace) -> int:
    from app.bench import run_bench

    return run_bench(args)


def bench_index(args: argparse.Namespace) -> int:
    from app.bench_index import run_bench_index

    return run_bench_index(args)


def bench_newest(args: argparse.Namespace) -> int:
    from app.bench_newest import run_bench_newest

    return run_bench_newest(args)


def bench_similar(args: argparse.Namespace) -> int:
    from app.bench_similar import run_bench_similar

    return run_bench_similar(args)


def bench_ground(args: argparse.Namespace) -> int:
    from app.bench_ground import run_bench_ground

    return run_bench_ground(args)
