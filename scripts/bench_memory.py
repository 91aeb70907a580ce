#!/usr/bin/env python
"""Where the window's memory goes with 100,000 photos: a breakdown, optionally against another commit.

    .venv/bin/python scripts/bench_memory.py --bundle bundles/demo-int8 --work /tmp/bg [--against DIR]

``--against DIR``: a checkout of another commit (``git worktree add /tmp/oldmem 717928a``); every
measurement runs in new processes importing that checkout's code and this one's, alternately, and the
table shows both side by side. The libraries are bench_gui.py's (synthetic, with fresh vector caches;
written into ``--work`` if missing).

Two kinds of child process, each measured ``--runs`` times per checkout (medians are printed):

1. the window, as bench_gui.py starts it (100,000 photos): resident memory once ready to search and
   after one text search with its first screen of thumbnails; then, per group from /proc/self/smaps,
   the mapped files' resident pages (each vector cache file, shared libraries...), the model graphs
   whose onnxruntime sessions are open, and the thumbnail cache's bytes;
2. the same parts step by step without a window, each step's growth of private and mapped memory:
   Python + Qt + the app's modules, the model runtime, the search index (vector cache), the text
   graph's session, one text search, then each other graph's session (what opening it would cost);
   and the time to rank a text query (``Searcher.rank``: scores, shortlist, cutoff), ``SEARCHES`` times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_gui import make_library, window_for  # bench_gui puts this checkout on sys.path
from gui_wait import wait
from memory_probe import mapped_files_mb, memory_mb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QUERY = "a dog on the grass"
SEARCHES = 30  # rankings timed per step-by-step run
GRAPHS = ("text", "vision", "concepts", "itm", "box")


def _use_code(root: Path) -> None:
    """Import the app from ``root`` (this checkout or the one measured against)."""
    sys.path[:0] = [str(root)]


# ----- child 1: the window --------------------------------------------------------------------------------
def child_window(db_path: Path, bundle: Path, work: Path) -> dict[str, object]:
    from PySide6.QtTest import QTest

    app, window = window_for(db_path, bundle, work)
    wait(app, lambda: window.isVisible(), 60, "the window")
    wait(app, lambda: window.engine.state is not None, 120, "the index")
    ready = memory_mb()
    runtime = window.engine.holder.get()
    at_ready = sorted(getattr(runtime, "_sessions", {}))
    QTest.keyClicks(window.search.query, QUERY)
    window.search.flush()
    wait(app, lambda: window.model.generation == window.engine.latest, 60, "results")
    for _ in range(30):  # the first screen's thumbnails are requested and drawn
        app.processEvents()
        time.sleep(0.01)
    after = memory_mb()
    files = mapped_files_mb()
    thumbs_mb = getattr(window.thumbs, "_bytes", 0) / 2**20
    result = {
        "ready": ready,
        "after": after,
        "files": files,
        "sessions_ready": at_ready,
        "sessions_after": sorted(getattr(runtime, "_sessions", {})),
        "thumbs_mb": thumbs_mb,
    }
    window.close()
    return result


# ----- child 2: step by step ------------------------------------------------------------------------------
def child_steps(db_path: Path, bundle: Path) -> dict[str, object]:
    steps: list[tuple[str, dict[str, float]]] = [("start", memory_mb())]

    def step(name: str) -> None:
        steps.append((name, memory_mb()))

    import onnxruntime  # noqa: F401
    from PySide6.QtWidgets import QApplication

    import app.gui.main_window  # noqa: F401  (its imports: what the window loads before any model)

    qt = QApplication.instance() or QApplication([sys.argv[0]])
    step("Python, Qt, onnxruntime and the app's modules")
    from app.library.db import open_db
    from app.library.encoder import load_runtime
    from app.query import make_query
    from app.search import Searcher
    from app.vectors import load_index
    from core.region_boxes import BOX_SET_NAME

    step("search modules (app.search, app.vectors, onnx, sqlite_utils...)")
    runtime = load_runtime(bundle, providers="cpu")
    step("model runtime (manifest; no session)")
    db = open_db(db_path, writable=False)
    index = load_index(db, db_path, runtime.identity, BOX_SET_NAME)
    step("search index opened (vector cache)")
    files_index = mapped_files_mb()
    runtime.session("text")  # type: ignore[attr-defined]
    step("session: text")
    searcher = Searcher(db, db_path, runtime, index=index)
    searcher.search(make_query(QUERY), top=20)
    step("one text search (scores, shortlist, hits)")
    files_search = mapped_files_mb()
    query = make_query(QUERY)
    terms = searcher.encode(query)
    times = []
    for _ in range(SEARCHES):  # the ranking alone: scores, shortlist (its int8 rows read), cutoff
        started = time.perf_counter()
        searcher.rank(query, terms)
        times.append((time.perf_counter() - started) * 1e3)
    for graph in GRAPHS[1:]:
        if graph in runtime.manifest["graphs"]:  # type: ignore[attr-defined]
            runtime.session(graph)  # type: ignore[attr-defined]
            step(f"session: {graph} (not needed for a text search)")
    del qt
    return {"steps": steps, "files_index": files_index, "files_search": files_search, "rank_ms": times}


# ----- the parent -----------------------------------------------------------------------------------------
def run_child(code: Path, kind: str, db_path: Path, bundle: Path, work: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", kind, "--code", str(code), "--db", str(db_path)]
    command += ["--bundle", str(bundle), "--work", str(work)]
    result = subprocess.run(command, cwd=code, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"child failed ({code}, {kind}): {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def window_rows(runs: list[dict]) -> dict[str, str]:
    """Measure -> text, medians over runs."""
    rows: dict[str, str] = {}
    for when in ("ready", "after"):
        label = "ready to search" if when == "ready" else "after one text search"
        rss = med([r[when]["rss"] for r in runs])
        anon = med([r[when]["anon"] for r in runs])
        file = med([r[when]["file"] for r in runs])
        rows[f"window RSS, {label}"] = f"{rss:.0f} MB = {anon:.0f} private + {file:.0f} mapped"
    rows["  peak RSS (VmHWM)"] = f"{med([r['after']['peak'] for r in runs]):.0f} MB"
    groups = sorted({g for r in runs for g in r["files"]})
    for group in groups:
        rows[f"  mapped, {group}"] = f"{med([r['files'].get(group, 0.0) for r in runs]):.1f} MB"
    rows["  sessions open when ready"] = ", ".join(runs[0]["sessions_ready"]) or "none"
    rows["  sessions open after the search"] = ", ".join(runs[0]["sessions_after"]) or "none"
    rows["  thumbnail cache"] = f"{med([r['thumbs_mb'] for r in runs]):.1f} MB"
    return rows


def step_rows(runs: list[dict]) -> dict[str, str]:
    rows: dict[str, str] = {}
    names = [name for name, _ in runs[0]["steps"]][1:]
    for i, name in enumerate(names, start=1):
        anon = med([r["steps"][i][1]["anon"] - r["steps"][i - 1][1]["anon"] for r in runs])
        file = med([r["steps"][i][1]["file"] - r["steps"][i - 1][1]["file"] for r in runs])
        rows[f"step: {name}"] = f"+{anon:.0f} private, +{file:.0f} mapped"
    for key, label in (("files_index", "index opened"), ("files_search", "after the search")):
        for group in sorted({g for r in runs for g in r[key] if g.startswith("vector cache")}):
            value = med([r[key].get(group, 0.0) for r in runs])
            rows[f"  {group} resident, {label}"] = f"{value:.1f} MB"
    ranks = [t for r in runs for t in r["rank_ms"]]
    rows["ranking one text query (no window), ms"] = (
        f"p50 {statistics.median(ranks):.1f}, p90 {sorted(ranks)[int(0.9 * (len(ranks) - 1))]:.1f}"
    )
    last = runs[0]["steps"][-1][1]
    rows["step total (no window)"] = f"{last['rss']:.0f} MB (peak {last['peak']:.0f})"
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="bundles/demo-int8")
    parser.add_argument("--work", required=True, help="scratch folder with bench_gui.py's libraries")
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--against", help="a checkout of another commit, measured alongside")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", choices=("window", "steps"), help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work, bundle = Path(args.work).resolve(), Path(args.bundle).resolve()
    if args.child:
        _use_code(Path(args.code))
        db = Path(args.db)
        out = child_window(db, bundle, work) if args.child == "window" else child_steps(db, bundle)
        print(json.dumps(out))
        return 0

    from export.bundle import read_manifest

    manifest = read_manifest(bundle)
    db_path = work / f"lib-{args.photos}.db"
    make_library(db_path, args.photos, str(manifest["identity"]), int(manifest["embed_dim"]))
    codes = {"this checkout": REPO}
    if args.against:
        codes = {f"against ({Path(args.against).name})": Path(args.against).resolve(), **codes}
    results: dict[str, dict[str, list[dict]]] = {name: {"window": [], "steps": []} for name in codes}
    for _ in range(args.runs):  # alternately, so both see the same machine
        for kind in ("window", "steps"):
            for name, code in codes.items():
                print(f"{name}: {kind}", file=sys.stderr)
                results[name][kind].append(run_child(code, kind, db_path, bundle, work))

    tables = {name: {**window_rows(r["window"]), **step_rows(r["steps"])} for name, r in results.items()}
    measures = list(dict.fromkeys(m for t in tables.values() for m in t))
    print(f"model: {manifest['identity']}, {args.photos:,} photos, medians of {args.runs} runs")
    width = max(len(m) for m in measures)
    cols = [max(len(n), *(len(t.get(m, "-")) for m in measures)) for n, t in tables.items()]
    print(f"{'measure':{width}s}  " + "  ".join(f"{n:{c}s}" for n, c in zip(tables, cols, strict=True)))
    print(f"{'-' * width}  " + "  ".join("-" * c for c in cols))
    for m in measures:
        cells = "  ".join(f"{t.get(m, '-'):{c}s}" for t, c in zip(tables.values(), cols, strict=True))
        print(f"{m:{width}s}  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
