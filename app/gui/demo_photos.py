"""``python -m app.gui.demo_photos OUT --photos N``: the demo library's photos, for the first run.

Run by the window as a child process (``processes.StepProcess``): rendering scenes uses a process pool,
which is better kept out of a GUI process. Writes the synthetic world's scenes into album folders
under ``OUT/photos`` exactly as ``multigrain demo`` does (dates, caption sidecars) and prints
``D/N`` progress lines; the window then adds ``OUT/photos`` to the library and indexes it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def make_demo_photos(out: Path, photos: int, seed: int = 7, workers: int = 2) -> Path:
    from app.demo import _photos  # the layout `multigrain demo` uses: one definition of the albums
    from world import generate_world

    world = out / "world"
    shutil.rmtree(world, ignore_errors=True)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 0.5:
            last[0] = now
            print(f"rendering scenes {done}/{total}", flush=True)

    generate_world(world, photos, seed, test_size=photos, val_size=0, workers=workers, progress=progress)
    records = json.loads((world / "retrieval" / "test.json").read_text())
    folder = _photos(world, out, records)
    shutil.rmtree(world, ignore_errors=True)  # the photos are copies; the world's records are not needed
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.gui.demo_photos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", help="folder for the demo (its photos go to OUT/photos)")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.photos < 8:
        print("--photos must be at least 8", file=sys.stderr)
        return 2
    folder = make_demo_photos(Path(args.out).resolve(), args.photos, args.seed, args.workers)
    print(f"wrote {folder}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
