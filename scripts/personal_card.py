#!/usr/bin/env python
"""Write a checkpoint's ``personal_card.json`` from a ``multigrain bench-personal --out`` JSON, so that
concept packs of names taught on that checkpoint quote the teaching method's measured figures.

    .venv/bin/python scripts/personal_card.py /tmp/wtf-data/bench-seed1.json --checkpoint models/demo \
        --source "multigrain bench-personal --checkpoint models/demo ... --out /tmp/wtf-data/bench-seed1.json"

The card records the sha256 of the checkpoint's weights as they are now: run it only when the bench ran
on these very weights (the bench JSON does not record their hash; compare its date with the weights').
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.personal.card import CARD_FILE, card_from_bench
from core.hashing import sha256_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", help="the JSON bench-personal --out wrote")
    parser.add_argument("--checkpoint", default="models/demo", help="the checkpoint folder it measured")
    parser.add_argument("--source", required=True, help="the commands that produced the bench JSON")
    parser.add_argument("--measured", help="the date it was measured (default: the JSON's modification date)")
    args = parser.parse_args()
    bench_file, folder = Path(args.bench), Path(args.checkpoint)
    bench = json.loads(bench_file.read_text())
    measured = args.measured or datetime.fromtimestamp(bench_file.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    card = card_from_bench(bench, sha256_file(folder / "model.safetensors"), args.source, measured)
    (folder / CARD_FILE).write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {folder / CARD_FILE}: {', '.join(card['methods'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
