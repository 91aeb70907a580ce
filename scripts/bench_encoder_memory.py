#!/usr/bin/env python
"""Peak memory and speed of indexing's encoder under onnxruntime's arena, memory-pattern and thread settings.

    .venv/bin/python scripts/bench_encoder_memory.py --bundle BUNDLE [--batches 3] [--runs 2]

Each setting runs in a new process (``--child``), settings alternating run after run so all see the
same machine: the bundle's runtime with that ``SessionTuning`` and thread count opens the graphs an
index run opens (``INDEX_GRAPHS``), encodes one warm-up batch, then ``--batches`` batches of
``--batch`` preprocessed images the way the indexer does (``encode_images``, then ``encode_regions``
over the candidate boxes) and the captions of one batch (``encode_texts``). Decoding is left out: it
is the same for every setting. Printed (medians over runs): resident memory with the sessions open,
the peak while opening them, the peak while encoding (VmHWM, reset through /proc/self/clear_refs
after the sessions open), resident memory after encoding, and images encoded per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from memory_probe import memory_mb

REPO = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, tuple[dict[str, object], int]] = {  # name -> (SessionTuning fields, threads)
    "arena on, pattern on (onnxruntime's defaults)": (
        {"arena": True, "memory_pattern": True, "shrink_arena": False},
        0,
    ),
    "arena off": ({"arena": False, "memory_pattern": True}, 0),
    "memory pattern off": ({"arena": True, "memory_pattern": False, "shrink_arena": False}, 0),
    "arena off, pattern off": ({"arena": False, "memory_pattern": False}, 0),
    "arena grows as requested (shared)": (
        {"arena": True, "memory_pattern": True, "shrink_arena": False, "arena_extend": "requested"},
        0,
    ),
    "arena shrinks after each call (the runtime's default)": (
        {"arena": True, "memory_pattern": True, "shrink_arena": True},
        0,
    ),
    "pattern off, arena shrinks": (
        {"arena": True, "memory_pattern": False, "shrink_arena": True},
        0,
    ),
    "arena shrinks, 1 thread": (
        {"arena": True, "memory_pattern": True, "shrink_arena": True},
        1,
    ),
}


def reset_peak() -> bool:
    """Start VmHWM again from the present resident size (Linux 4.0+); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def child(bundle: Path, name: str, batches: int, batch: int) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    import numpy as np

    from app.index_library import INDEX_GRAPHS
    from core.region_boxes import boxes_for
    from export.runtime import Runtime, SessionTuning

    fields, threads = SETTINGS[name]
    runtime = Runtime(bundle, "cpu", threads, verify_hashes=False, tuning=SessionTuning(**fields))  # type: ignore[arg-type]
    runtime.open_graphs(INDEX_GRAPHS)
    opened = memory_mb()
    s = runtime.image_size
    pixels = np.random.default_rng(0).standard_normal((batch, 3, s, s)).astype(np.float32)
    captions = [f"a photo of a red car parked by house number {i}" for i in range(batch)]

    def one_batch() -> None:
        _, tokens = runtime.encode_images(pixels, batch_size=batch)
        runtime.encode_regions(tokens, boxes_for(batch))

    one_batch()  # warm-up: the arenas and memory patterns settle on the first call
    runtime.encode_texts(captions)
    reset = reset_peak()
    started = time.perf_counter()
    for _ in range(batches):
        one_batch()
    elapsed = time.perf_counter() - started
    runtime.encode_texts(captions)
    end = memory_mb()
    return {
        "opened_rss": opened["rss"],
        "open_peak": opened["peak"],
        "encode_peak": end["peak"] if reset else float("nan"),
        "end_rss": end["rss"],
        "images_per_s": batches * batch / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per run")
    parser.add_argument("--batch", type=int, default=16, help="images per batch (the indexer's default)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", action="append", help="a setting's name (repeatable; default all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    if args.child:
        print(json.dumps(child(bundle, args.child, args.batches, args.batch)))
        return 0

    names = args.only or list(SETTINGS)
    found: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for run in range(args.runs):
        for name in names:
            print(f"run {run + 1}: {name}", file=sys.stderr)
            command = [sys.executable, __file__, "--bundle", str(bundle), "--child", name]
            command += ["--batches", str(args.batches), "--batch", str(args.batch)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name}: {done.stderr[-2000:]}")
            found[name].append(json.loads(done.stdout.strip().splitlines()[-1]))

    from export.bundle import read_manifest

    identity = read_manifest(bundle)["identity"]
    print(f"{identity}: {args.batches} batches of {args.batch} images per run, medians of {args.runs} runs")
    header = ("setting", "sessions open", "peak opening", "peak encoding", "after", "images/s")
    rows = []
    for name, runs in found.items():

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        each = ", ".join(format(r["images_per_s"], ".2f") for r in runs)
        rows.append(
            (
                name,
                f"{med('opened_rss'):.0f} MB",
                f"{med('open_peak'):.0f} MB",
                f"{med('encode_peak'):.0f} MB",
                f"{med('end_rss'):.0f} MB",
                f"{med('images_per_s'):.2f} (runs: {each})",
            )
        )
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(f"{c:{w}s}" for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
