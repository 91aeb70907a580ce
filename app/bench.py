"""``bench-search``: one table of what search costs, beside the targets for a 2-core machine.

- indexing rate: generated world JPEGs decoded and indexed with the bundle on CPU (and, with
  ``--big-bundle``, 12-megapixel JPEGs with that bundle), through the app's ``Indexer``;
- text search latency p50/p95 end to end (text encoder + ranking with regions + results) for libraries
  of synthetic random unit vectors of each size, in the cache layout the app uses at that size;
- memory of the in-memory matrices per size (and the process's resident growth when loading);
- bytes per photo of a real library database holding N photos' vectors, and of its vector cache;
- app start to first search: ``multigrain search`` run as a new process on that N-photo library.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.blockfile import MAP_BUDGET
from app.home import REPO, resolve_bundle
from app.library import store
from app.library.db import open_db
from app.library.indexer import Indexer
from app.query import make_query
from app.search import Searcher
from app.vectorcache import EXACT_LIMIT, CacheInfo, CacheWriter, read_info
from app.vectors import VectorIndex, load_index
from core.region_boxes import BOX_SET_NAME, BOXES

TARGETS = {
    "search_100k_ms": 30.0,
    "search_1m_ms": 300.0,
    "start_100k_s": 2.0,
    "bytes_per_photo": 8000,
}
_CHUNK = 8192


def _rss() -> tuple[int, int]:
    """Resident bytes of this process: (anonymous, file-backed). File pages are the page cache's and the
    kernel reclaims them under pressure; anonymous ones are what the app really holds."""
    found = {"RssAnon": 0, "RssFile": 0}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in found:
                found[key] = int(value.split()[0]) * 1024
    return found["RssAnon"], found["RssFile"]


def _unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----- indexing -----------------------------------------------------------------------------------------
def generated_photos(folder: Path, count: int, seed: int = 11) -> list[str]:
    """``count`` scenes of the synthetic world (JPEGs as the generator writes them) and their captions."""
    from world import generate_world

    if not (folder / "retrieval" / "test.json").is_file():
        generate_world(folder, count, seed, test_size=count, val_size=0, workers=2)
    records = json.loads((folder / "retrieval" / "test.json").read_text())
    return [c for r in records for c in r["caption"]]


def twelve_megapixel(src: Path, dst: Path, count: int) -> None:
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(src.glob("*.jpg"))[:count]):
        target = dst / f"{i:04d}.jpg"
        if not target.exists():
            with Image.open(path) as image:
                image.convert("RGB").resize((4000, 3000), Image.BICUBIC).save(target, "JPEG", quality=90)


def index_rate(runtime: Any, photos: Path, work: Path) -> dict[str, float]:
    """Photos per second of a first index of ``photos`` (decode, thumbnail, encode, regions, commit)."""
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "library.db"
    for leftover in work.glob("library.db*"):
        leftover.unlink()
    db = open_db(db_path)
    started = time.perf_counter()
    report = Indexer(db, runtime, work / "thumbs").index([photos])
    seconds = time.perf_counter() - started
    store.checkpoint(db)
    db.close()
    n = report.counts.encoded
    return {"photos": n, "rate": n / seconds, "db_bytes_per_photo": db_path.stat().st_size / max(n, 1)}


# ----- synthetic libraries ------------------------------------------------------------------------------
def synthetic_cache(path: Path, n: int, dim: int, seed: int = 0) -> CacheInfo:
    """A vector cache of ``n`` photos of random unit vectors, in the layout the app picks for ``n``."""
    k = len(BOXES)
    if read_info(path) is None:  # absent, or left by another version
        shutil.rmtree(path, ignore_errors=True)
        rng = np.random.default_rng(seed)
        writer = CacheWriter(path, n, k, dim, n <= EXACT_LIMIT)
        pool_g, pool_r = _unit(rng, (_CHUNK, dim)), _unit(rng, (_CHUNK, k, dim))
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            shift = (
                s // _CHUNK
            ) % _CHUNK  # rows repeat across chunks, rolled: cheap to make, same cost to scan
            g, r = np.roll(pool_g, shift, axis=0)[: e - s], np.roll(pool_r, shift, axis=0)[: e - s]
            writer.add(np.arange(s, e) + 1, np.zeros(e - s), np.zeros(e - s), g, r)
        writer.finish(np.zeros(0, np.int64), np.zeros((0, dim), np.float32))
    info = read_info(path)
    assert info is not None
    return info


def synthetic_db(path: Path, n: int, identity: str, dim: int, seed: int = 1) -> None:
    """A library database of ``n`` photos with random vectors, written as the indexer writes them; one
    already there is reused only if it holds vectors of ``identity`` (a bundle exported again has a new
    identity, and a library of the old one would be measured as empty)."""
    if path.is_file():
        db = open_db(path)
        held = store.hashes_with_vectors(db, [f"{0:064x}"], identity, BOX_SET_NAME) if n else {"-"}
        db.close()
        if held:
            return
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    db = open_db(path)
    folder = store.add_folder(db, "/home/someone/Pictures")
    k = len(BOXES)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        g, r = _unit(rng, (e - s, dim)), _unit(rng, (e - s, k, dim))
        with db.atomic():
            for i in range(s, e):
                digest = f"{i:064x}"
                store.put_vectors(db, digest, identity, g[i - s], BOX_SET_NAME, r[i - s])
                record = store.PhotoRecord(
                    f"/home/someone/Pictures/{2000 + i % 25}/IMG_{i:08d}.jpg",
                    folder,
                    3_500_000,
                    1_700_000_000_000_000_000 + i,
                    "ok",
                    digest,
                    4032,
                    3024,
                    f"{2000 + i % 25}-05-01T12:00:00",
                )
                store.save_photo(db, record)
    store.checkpoint(db)
    db.close()


def latency(searcher: Searcher, texts: list[str]) -> dict[str, float]:
    searcher.search(make_query(texts[0]), top=20)  # first call: sessions warm up
    wall, cpu = [], []
    for text in texts:
        t, c = time.perf_counter(), time.process_time()
        searcher.search(make_query(text), top=20)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "p50": 1e3 * float(np.percentile(wall, 50)),
        "p95": 1e3 * float(np.percentile(wall, 95)),
        "cpu_p50": 1e3 * float(np.percentile(cpu, 50)),
    }


def start_to_first_search(db_path: Path, bundle: Path, text: str, runs: int = 3) -> list[float]:
    """Seconds from launching ``multigrain search`` to its exit with results (warm page cache)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "search",
                text,
                "--db",
                str(db_path),
                "--bundle",
                str(bundle),
                "--top",
                "10",
                "--json",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"search failed: {result.stderr}")
    return times


# ----- the command --------------------------------------------------------------------------------------
Row = tuple[str, str, str]  # what was measured, the measurement, the target


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace) -> int:
    from app.library.encoder import load_runtime

    bundle = resolve_bundle(args.bundle)
    runtime = load_runtime(bundle, providers="cpu")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    scratch = None if args.work else tempfile.TemporaryDirectory(prefix="multigrain-bench-")
    work = Path(args.work) if args.work else Path(scratch.name)  # type: ignore[union-attr]
    rows: list[Row] = []
    try:
        _log(f"bench-search: {runtime.identity}, work folder {work}")
        if args.index_compare:
            rows += index_compare_rows(runtime, args.index_compare, args.queries, work, args.index_threads)
        if args.only_index_compare:
            print_table(rows)
            return 0
        texts = generated_photos(work / "world", args.index_photos)
        rows += indexing_rows(runtime, args.big_bundle, work)
        queries = texts[: args.queries]
        for n in sizes:
            rows += search_rows(runtime, n, queries, work)
        rows += library_rows(runtime, bundle, args.start_size, queries[0], work)
    finally:
        if scratch is not None:
            scratch.cleanup()
    print_table(rows)
    return 0


def index_compare_rows(runtime: Any, sizes: str, queries: int, work: Path, threads: int) -> list[Row]:
    """The hand-written vector index against faiss over synthetic libraries (``index_compare``)."""
    from app.index_compare import compare_rows, lines_row
    from app.settings import load_settings

    shipped = (getattr(runtime, "manifest", None) or {}).get("search_settings")
    settings = load_settings(runtime.identity, shipped)
    rows = []
    for n in (int(s) for s in sizes.split(",") if s.strip()):
        _log(f"  {n} photos: both vector indexes (built once into the work folder)")
        rows += compare_rows(work, n, len(BOXES), runtime.embed_dim, settings, queries, _rss, threads)
    return [*rows, lines_row(REPO)]


def indexing_rows(runtime: Any, big_bundle: str | None, work: Path) -> list[Row]:
    """Indexing rate over the world's test JPEGs, and over 12-megapixel copies with ``big_bundle``."""
    from app.library.encoder import load_runtime

    idx = index_rate(runtime, work / "world" / "images" / "test", work / "index")
    rows = [(f"indexing, {runtime.identity}, {idx['photos']} world JPEGs", f"{idx['rate']:.1f} photos/s", "")]
    if big_bundle:
        big = load_runtime(resolve_bundle(big_bundle), providers="cpu")
        twelve_megapixel(work / "world" / "images" / "test", work / "12mp", 24)
        r = index_rate(big, work / "12mp", work / "index12")
        rows.append((f"indexing, {big.identity}, 12 MP JPEGs", f"{r['rate']:.2f} photos/s", ""))
    return rows


def search_rows(runtime: Any, n: int, queries: list[str], work: Path) -> list[Row]:
    """Text search latency and memory over a synthetic cache of ``n`` photos."""
    _log(f"  {n} photos: building a synthetic cache")
    dim = runtime.embed_dim
    info = synthetic_cache(work / f"cache-{n}", n, dim)
    empty_db = open_db(work / "empty.db")
    gc.collect()
    before = _rss()
    t = time.perf_counter()
    index = VectorIndex(info)
    load_s = time.perf_counter() - t
    # The index's latency: the ITM head's re-order costs per photo re-ordered, not per library photo, and
    # these synthetic photos have no files (measured on real ones in docs/similar.md).
    searcher = Searcher(empty_db, work / "empty.db", runtime, index=index, itm_head=0)
    lat = latency(searcher, queries)
    after = _rss()
    grown = (after[0] - before[0], after[1] - before[1])
    held = sum(index.memory_bytes().values())
    exact = index.exact
    del searcher, index
    empty_db.close()
    gc.collect()
    target = {100_000: TARGETS["search_100k_ms"], 1_000_000: TARGETS["search_1m_ms"]}.get(n)
    mode = "exact regions" if exact else "two-stage: global, then regions of a shortlist"
    mapped = n * len(BOXES) * dim  # int8 region rows: mapped whole under blockfile's budget, else read
    how = "mapped whole" if mapped <= MAP_BUDGET else "read for shortlists"
    return [
        (
            f"text search, {n:,} photos ({mode})",
            f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms (CPU p50 {lat['cpu_p50']:.1f} ms)",
            f"p50 <= {target:g} ms" if target else "",
        ),
        (
            f"  memory, {n:,} photos",
            f"{held / 1e6:.1f} MB held ({held / n:,.0f} B/photo) + {mapped / 1e6:.0f} MB int8 rows "
            f"{how}; RSS +{grown[0] / 1e6:.0f} MB anon +{grown[1] / 1e6:.0f} MB file; "
            f"open {load_s:.2f} s",
            "",
        ),
    ]


def library_rows(runtime: Any, bundle: Path, n: int, query: str, work: Path) -> list[Row]:
    """Bytes per photo in the database and its cache, the cache rebuild, and app start to first search."""
    db_path = work / f"library-{n}.db"
    _log(f"  {n} photos: writing a library database")
    synthetic_db(db_path, n, runtime.identity, runtime.embed_dim)
    db_bytes = db_path.stat().st_size / n
    t = time.perf_counter()
    db = open_db(db_path)
    index = load_index(db, db_path, runtime.identity, BOX_SET_NAME)
    build_s = time.perf_counter() - t
    cache_bytes = sum(f.stat().st_size for f in index.info.path.iterdir()) / n
    del index
    db.close()
    starts = start_to_first_search(db_path, bundle, query)
    return [
        (
            f"library database, {n:,} photos (vectors incl. 14 regions: float16 global, int8 regions)",
            f"{db_bytes:,.0f} B/photo",
            f"<= {TARGETS['bytes_per_photo']:,} B/photo",
        ),
        (f"vector cache beside it (int8), {n:,} photos", f"{cache_bytes:,.0f} B/photo", ""),
        (f"cache rebuild from the database, {n:,} photos", f"{build_s:.1f} s", ""),
        (
            f"app start to first search, {n:,} photos (new process, cache fresh)",
            f"median {np.median(starts):.2f} s (runs: {', '.join(f'{s:.2f}' for s in starts)})",
            f"<= {TARGETS['start_100k_s']:g} s",
        ),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    mwidth = max(len(r[1]) for r in rows)
    print(f"{'measure':{width}s}  {'measured':{mwidth}s}  target")
    print(f"{'-' * width}  {'-' * mwidth}  {'-' * 20}")
    for name, value, target in rows:
        print(f"{name:{width}s}  {value:{mwidth}s}  {target}")
