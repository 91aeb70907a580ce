"""``bench-index``: the indexing rate of 12-megapixel JPEGs beside the encoder-only rate, per thread split.

For each core count (the process's own affinity, as ``taskset -c`` sets it) and each split of threads
(``app.library.split``), in alternating rounds so that a machine's changing load falls on all of them:

- encoder only: the split's encoder calls over pixels already preprocessed in memory (vision graph and
  regions, as the indexer calls them), images per second;
- indexing: a first index of the same photos with the app's ``Indexer`` (hash, decode, EXIF, thumbnail,
  preprocess, encode, regions, commit) into a fresh library, photos per second, and its share of the
  encoder-only rate of the same split.

A first table gives each stage's cost per photo on one thread, so that the split can be reasoned about;
the last column gives the CPU time of the whole process per photo (median over rounds), which a busy
machine inflates less than the wall clock.
The photos are made as ``bench-search --big-bundle`` makes them (world scenes resized to 4000 x 3000,
JPEG quality 90), which are smoother, so smaller and quicker to decode, than camera photos.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from app.home import resolve_bundle
from app.library.db import open_db
from app.library.decode import decode_image
from app.library.hashing import content_hash
from app.library.indexer import DRAFT_FACTOR, Indexer
from app.library.split import Split, default_split
from app.library.thumbs import save_thumbnail
from core.region_boxes import boxes_for


@dataclass(frozen=True)
class Case:
    name: str
    split: Split
    draft_factor: float


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cases_for(cores: int) -> list[Case]:
    """The splits compared on ``cores``: the indexer's before this benchmark, one onnxruntime call on
    every core at a batch of 1, and the default (when it differs from the second)."""
    chosen = default_split(cores)
    one_call = Split(cores, 1, cores, 1)
    cases = [Case("before: 2 decoders, 1 call x all cores, batch 16, draft 2x", Split(2, 1, cores, 16), 2.0)]
    if chosen == one_call:
        return [*cases, Case(f"default: {chosen}", chosen, DRAFT_FACTOR)]
    return [
        *cases,
        Case(str(one_call), one_call, DRAFT_FACTOR),
        Case(f"default: {chosen}", chosen, DRAFT_FACTOR),
    ]


def stage_costs(photos: list[Path], runtime: Any, work: Path) -> list[list[str]]:
    """Rows: each stage's median milliseconds per photo on one thread, with the JPEG draft at 2x the
    model's side (before) and at ``DRAFT_FACTOR``; and how far the model's input is from the input a
    full decode gives (mean absolute difference, in 8-bit grey levels)."""
    grey = float(np.mean(runtime.manifest["image_std"])) * 255 if hasattr(runtime, "manifest") else 255.0
    columns = []
    for factor in (2.0, DRAFT_FACTOR):
        side = max(int(np.ceil(factor * runtime.image_size)), 256)
        times: dict[str, list[float]] = {"read + sha256": [], "decode (draft, EXIF, colour)": []}
        times["thumbnail"], times["preprocess"], drift = [], [], []
        for i, path in enumerate(photos[:8]):
            t = time.perf_counter()
            content_hash(str(path))
            times["read + sha256"].append(time.perf_counter() - t)
            t = time.perf_counter()
            decoded = decode_image(path, side)
            times["decode (draft, EXIF, colour)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            save_thumbnail(decoded.image, work / "stage-thumbs", f"{factor}{i:060x}")
            times["thumbnail"].append(time.perf_counter() - t)
            t = time.perf_counter()
            pixels = runtime.preprocess([decoded.image])
            times["preprocess"].append(time.perf_counter() - t)
            full = runtime.preprocess([decode_image(path).image])
            drift.append(float(np.abs(pixels - full).mean()) * grey)
        shutil.rmtree(work / "stage-thumbs", ignore_errors=True)
        ms = {name: 1e3 * statistics.median(v) for name, v in times.items()}
        cells = [f"{v:.1f}" for v in ms.values()]
        cells[1] += f" ({decoded.image.width} x {decoded.image.height})"
        columns.append([*cells, f"{sum(ms.values()):.1f}", f"{statistics.mean(drift):.2f}"])
    names = [*times, "decode side, total", "model input vs a full decode's, grey levels"]
    return [[name, *(column[r] for column in columns)] for r, name in enumerate(names)]


@dataclass(frozen=True)
class Rate:
    per_s: float  # images or photos a second (wall clock)
    cpu_ms: float  # CPU time of this process (all its threads) per image or photo


def encoder_rate(runtime: Any, pixels: np.ndarray, split: Split) -> Rate:
    """The split's encoder calls over ``pixels`` (vision graph and regions)."""

    def encode(part: np.ndarray) -> None:
        _, tokens = runtime.encode_images(part, batch_size=split.run_batch)
        runtime.encode_regions(tokens, boxes_for(len(part)))

    encode(pixels[:1])  # sessions warm
    size = int(np.ceil(len(pixels) / split.encoders))
    parts = [pixels[i : i + size] for i in range(0, len(pixels), size)]
    threads = [threading.Thread(target=encode, args=(part,)) for part in parts]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    n = len(pixels)
    return Rate(n / (time.perf_counter() - started), 1e3 * (time.process_time() - cpu) / n)


def fresh_indexer(runtime: Any, work: Path, split: Split, **options: Any) -> tuple[Database, Indexer]:
    """An empty library in ``work`` (emptied first) and an indexer on it with ``split``'s threads."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = open_db(work / "library.db")
    threads = {"workers": split.decoders, "encoders": split.encoders, "run_batch": split.run_batch}
    return db, Indexer(db, runtime, work / "thumbs", **threads, **options)


def index_rate(runtime: Any, photos: Path, work: Path, case: Case) -> Rate:
    """Photos per second of a first index of ``photos`` into a fresh library with ``case``'s split."""
    db, indexer = fresh_indexer(runtime, work, case.split)
    indexer.draft_side = max(int(np.ceil(case.draft_factor * runtime.image_size)), indexer.thumb_size)
    started, cpu = time.perf_counter(), time.process_time()
    report = indexer.index([photos])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    n = report.counts.encoded
    return Rate(n / seconds, 1e3 * cpu / max(n, 1))


def _pinned(cores: int) -> Callable[[], None]:
    """Pin this process (and the threads it starts from now on) to its first ``cores`` allowed cores;
    returns the undo."""
    allowed = sorted(os.sched_getaffinity(0))
    if cores > len(allowed):
        raise SystemExit(f"bench-index: {cores} cores asked, this process may use {len(allowed)}")
    os.sched_setaffinity(0, allowed[:cores])
    return lambda: os.sched_setaffinity(0, allowed)


def run_bench_index(args: argparse.Namespace) -> int:
    from app.bench import generated_photos, twelve_megapixel
    from app.library.encoder import load_runtime

    bundle = resolve_bundle(args.bundle)
    scratch = None if args.work else tempfile.TemporaryDirectory(prefix="multigrain-bench-index-")
    work = Path(args.work) if args.work else Path(scratch.name)  # type: ignore[union-attr]
    cores_list = [int(c) for c in args.cores.split(",") if c.strip()]
    try:
        generated_photos(work / "world", max(args.photos, 24))
        folder = work / f"12mp-{args.photos}"
        twelve_megapixel(work / "world" / "images" / "test", folder, args.photos)
        photos = sorted(folder.glob("*.jpg"))
        mb = sum(p.stat().st_size for p in photos) / len(photos) / 1e6
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"bench-index: {len(photos)} JPEGs of 4000 x 3000 ({mb:.2f} MB each), bundle {bundle.name}")
        print(f"load average at the start: {load}")
        stage_runtime = load_runtime(bundle, providers="cpu", threads=1)
        print_table(
            ["stage, one thread (ms a photo)", "draft 2x (before)", f"draft {DRAFT_FACTOR:g}x"],
            stage_costs(photos, stage_runtime, work),
        )
        rows = []
        for cores in cores_list:
            undo = _pinned(cores)
            try:
                rows += _measure_cores(bundle, folder, work, cores, args.rounds, load_runtime)
            finally:
                undo()
        print()
        print_table(
            [
                "cores",
                "split",
                "encoder only, images/s (rounds)",
                "indexing, photos/s (rounds)",
                "indexing / encoder",
                "CPU ms a photo, encoder / indexing",
            ],
            rows,
        )
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0


def _measure_cores(
    bundle: Path, folder: Path, work: Path, cores: int, rounds: int, load_runtime: Any
) -> list[list[str]]:
    photos = sorted(folder.glob("*.jpg"))
    cases = cases_for(cores)
    runtimes: dict[int, Any] = {}
    for case in cases:  # sessions made while pinned: their threads keep the pinning
        if case.split.intra_op not in runtimes:
            runtimes[case.split.intra_op] = load_runtime(bundle, providers="cpu", threads=case.split.intra_op)
    first = next(iter(runtimes.values()))
    side = max(int(np.ceil(DRAFT_FACTOR * first.image_size)), 256)
    pixels = first.preprocess([decode_image(p, side).image for p in photos])
    enc: dict[str, list[Rate]] = {c.name: [] for c in cases}
    idx: dict[str, list[Rate]] = {c.name: [] for c in cases}
    for r in range(rounds):
        for case in cases:
            runtime = runtimes[case.split.intra_op]
            enc[case.name].append(encoder_rate(runtime, pixels, case.split))
            idx[case.name].append(index_rate(runtime, folder, work / "library", case))
            rates = f"{enc[case.name][-1].per_s:.2f} / {idx[case.name][-1].per_s:.2f}"
            _log(f"  {cores} cores, round {r + 1}, {case.name}: encoder / indexing {rates}")
    rows = []
    for case in cases:
        e, i = enc[case.name], idx[case.name]
        e_rate, i_rate = statistics.median(x.per_s for x in e), statistics.median(x.per_s for x in i)
        rows.append(
            [
                str(cores),
                case.name,
                f"{e_rate:.2f} ({', '.join(f'{x.per_s:.2f}' for x in e)})",
                f"{i_rate:.2f} ({', '.join(f'{x.per_s:.2f}' for x in i)})",
                f"{i_rate / e_rate:.0%}",
                f"{statistics.median(x.cpu_ms for x in e):.0f} / "
                f"{statistics.median(x.cpu_ms for x in i):.0f}",
            ]
        )
    return rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
