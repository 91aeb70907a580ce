"""Stands in for ``python -m app.gui.demo_photos OUT --photos N``: a few small JPEGs, with progress."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/app: photo_files

from photo_files import write_jpeg


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    count = 6
    album = out / "photos" / "2024 demo"
    album.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write_jpeg(album / f"scene{i}.jpg", (40 * i, 120, 200 - 30 * i))
        print(f"rendering scenes {i + 1}/{count}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
