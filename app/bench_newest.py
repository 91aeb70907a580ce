"""``bench-newest``: how long a first index takes to make the newest photos searchable, newest first
against the scan's order, in one run.

The library: ``--photos`` JPEGs (20,000 by default) made from the world's test scenes, each copy given
its own EXIF DateTimeOriginal (so its bytes, hash and vectors are its own) spread over ten years, in
import folders whose names do not follow the dates, and all with the same mtime (a copy's time: what a
folder copied from a card or a phone looks like). One photo in twenty has no EXIF date and an mtime
years older than the rest, so it is dated by mtime and never among the newest.

For each order the same first index runs into a fresh library; after each committed batch (checked at
most every 0.2 s) the benchmark counts the newest ``--newest`` photos committed. When all are, it builds
the vector cache as a search would (``vectorcache.build`` on its own connection), checks that the cache
holds every one of them, and stops the run. Searchable after = committed + that build.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from app import vectorcache
from app.bench_index import fresh_indexer, print_table
from app.home import resolve_bundle
from app.library.db import open_db
from app.library.indexer import Progress
from app.library.split import default_split
from core.region_boxes import BOX_SET_NAME

_COPY_MTIME_NS = 1_760_000_000 * 10**9  # every copy's mtime: the moment of the copy


def _exif_segment(taken: datetime) -> bytes:
    """A JPEG APP1 segment holding only DateTimeOriginal."""
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    data = exif.tobytes()
    return b"\xff\xe1" + struct.pack(">H", len(data) + 2) + data


def make_library(world: Path, root: Path, n: int, seed: int = 5) -> list[tuple[datetime, str]]:
    """``n`` dated JPEGs under ``root`` (made once); returns (date taken, path), newest first."""
    sources = [p.read_bytes() for p in sorted((world / "images" / "test").glob("*.jpg"))]
    rng = random.Random(seed)
    start = datetime(2015, 1, 1)
    dated: list[tuple[datetime, str]] = []
    for i in range(n):
        folder = root / f"import-{rng.randrange(40):02d}"
        path = folder / f"IMG_{i:05d}.jpg"
        data = sources[i % len(sources)]
        if i % 20 == 19:  # no EXIF: dated by an mtime older than every EXIF date
            taken = start - timedelta(days=400 + i % 300)
            body = data[:2] + struct.pack(">HH", 0xFFFE, 6) + i.to_bytes(4, "big") + data[2:]  # a comment
            mtime_ns = int((taken - datetime(1970, 1, 1)).total_seconds()) * 10**9
        else:
            taken = start + timedelta(seconds=rng.randrange(10 * 365 * 86400))
            body = data[:2] + _exif_segment(taken) + data[2:]
            mtime_ns = _COPY_MTIME_NS + rng.randrange(60) * 10**9  # copied within a minute
            dated.append((taken, str(path)))
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        os.utime(path, ns=(mtime_ns, mtime_ns))
    dated.sort(reverse=True)
    return dated


@dataclass
class Outcome:
    order: str
    first_s: float  # the first batch committed
    committed_s: float  # the newest photos all committed
    build_s: float  # the vector cache built from the library at that moment
    done_before: int  # photos committed by then
    in_cache: int  # of the newest, how many the cache holds


def time_to_newest(
    runtime: Any, photos: Path, work: Path, newest: list[tuple[datetime, str]], newest_first: bool
) -> Outcome:
    db_path = work / "library.db"
    db, indexer = fresh_indexer(runtime, work, default_split(), newest_first=newest_first)
    wanted = {path for _, path in newest}
    since = newest[-1][0].isoformat()  # the oldest of them: a count by date reads no path
    cancel = threading.Event()
    state: dict[str, float] = {"check": 0.0}
    outcome = Outcome("newest first" if newest_first else "scan order", 0.0, 0.0, 0.0, 0, 0)
    started = time.perf_counter()

    def progress(p: Progress) -> None:
        now = time.perf_counter()
        if p.done and not outcome.first_s:
            outcome.first_s = now - started
        last = p.done >= p.total  # the run's last batch is always checked, however soon after the last check
        if cancel.is_set() or not p.done or (now - state["check"] < 0.2 and not last):
            return
        state["check"] = now
        query = "SELECT count(*) FROM photos WHERE status = 'ok' AND taken_at >= ?"
        if db.execute(query, [since]).fetchone()[0] < len(wanted):
            return
        outcome.committed_s = time.perf_counter() - started
        outcome.done_before = p.done
        reader = open_db(db_path, writable=False)  # as a search process opens the library
        t = time.perf_counter()
        info = vectorcache.build(reader, db_path, runtime.identity, BOX_SET_NAME)
        outcome.build_s = time.perf_counter() - t
        ids = np.fromfile(info.path / "ids.i64", dtype="<i8") if info.n else np.zeros(0, np.int64)
        held = set(ids.tolist())
        paths = {path for pid, path in reader.execute("SELECT id, path FROM photos") if pid in held}
        outcome.in_cache = len(wanted & paths)
        reader.close()
        cancel.set()

    indexer.index([photos], progress=progress, cancel=cancel)
    db.close()
    return outcome


def run_bench_newest(args: argparse.Namespace) -> int:
    from app.bench import generated_photos
    from app.library.dates import newest_first
    from app.library.encoder import load_runtime
    from app.library.scan import scan_folders

    bundle = resolve_bundle(args.bundle)
    split = default_split()
    runtime = load_runtime(bundle, providers="cpu", threads=split.intra_op)
    scratch = None if args.work else tempfile.TemporaryDirectory(prefix="multigrain-bench-newest-")
    work = Path(args.work) if args.work else Path(scratch.name)  # type: ignore[union-attr]
    try:
        generated_photos(work / "world", 200)
        root = work / f"library-{args.photos}"
        print(f"bench-newest: making {args.photos:,} dated JPEGs in {root}", file=sys.stderr, flush=True)
        newest = make_library(work / "world", root, args.photos)[: args.newest]
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"bench-newest: {args.photos:,} JPEGs, the newest {args.newest:,} by EXIF date; "
            f"{runtime.identity}"
        )
        print(f"split: {split}; load average at the start: {load}")
        files = scan_folders([str(root)]).files
        t = time.perf_counter()
        newest_first(files, lambda f: f.path, lambda f: f.mtime_ns)
        dating = time.perf_counter() - t
        print(
            f"reading the dates of {len(files):,} files (EXIF header, else mtime) and sorting: "
            f"{dating:.2f} s "
            f"({1e6 * dating / len(files):.0f} us a file)"
        )
        outcomes = [time_to_newest(runtime, root, work / "index", newest, flag) for flag in (False, True)]
        print()
        header = [
            "order",
            "first batch committed",
            f"newest {args.newest:,} committed",
            "+ cache build",
            "= searchable after",
            "photos indexed by then",
            "in the cache",
        ]
        rows = [
            [
                o.order,
                f"{o.first_s:.1f} s",
                f"{o.committed_s:.1f} s",
                f"{o.build_s:.2f} s",
                f"{o.committed_s + o.build_s:.1f} s",
                f"{o.done_before:,}",
                f"{o.in_cache:,}",
            ]
            for o in outcomes
        ]
        scan, first = outcomes
        ratio = (scan.committed_s + scan.build_s) / max(first.committed_s + first.build_s, 1e-9)
        rows.append(["scan order / newest first", "", "", "", f"{ratio:.1f}x", "", ""])

        print_table(header, rows)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0
