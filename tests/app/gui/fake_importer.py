"""Stands in for ``python -m cli.main`` in the models dialog: ``import-xvlm`` and ``export`` with the real
commands' arguments, printing progress lines, writing a checkpoint folder and a bundle whose manifest
reads as valid (its graphs are not real). ``FAKE_IMPORT_DELAY`` seconds pass between lines; a
checkpoint whose name contains "bad" is refused the way the real importer refuses one.
``export-things OUT ...`` prints the real command's step lines and writes its argv (JSON) to OUT; Ctrl+C
stops it as it stops the real one (``OUT.interrupted`` records that it came), and a library whose file
name contains "nonames" is refused."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def manifest(name: str, variant: str) -> dict[str, object]:
    return {
        "format_version": 1,
        "identity": f"{name}-{variant}-000000000000",
        "model": name,
        "config": {"name": name},
        "variant": variant,
        "image_size": 32,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "max_tokens": 8,
        "max_words": 8,
        "embed_dim": 8,
        "token_grid": {"grid": 4, "patch_stride": 8, "num_tokens": 17, "width": 3},
        "graphs": {"vision": {"file": "vision.onnx"}},
        "files": {"vision.onnx": "0" * 64, "vocab.txt": "0" * 64},
    }


def export_things(argv: list[str], delay: float) -> int:
    # Ctrl+C as a fresh `python -m cli.main` has it, even where the test process left SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out, db = Path(argv[1]), argv[argv.index("--db") + 1]
    try:
        if "nonames" in Path(db).name:
            print("multigrain export-things: the library has no taught names for the model m-1", flush=True)
            return 2
        print("[1/3] names to carry: Rex (dog)", flush=True)
        time.sleep(delay)
        print("[2/3] exporting models/demo as int8 (torch, in a child process)", flush=True)
        time.sleep(delay)
    except KeyboardInterrupt:
        Path(f"{out}.interrupted").touch()
        print("cancelled: no bundle was written", flush=True)
        return 130
    out.write_text(json.dumps(argv))
    print(f"[3/3] done: {out}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    delay = float(os.environ.get("FAKE_IMPORT_DELAY", "0.01"))
    command = argv[0]
    if command == "import-xvlm":
        checkpoint, out = Path(argv[1]), Path(argv[argv.index("--out") + 1])
        config = argv[argv.index("--config") + 1]
        if "bad" in checkpoint.name:
            print(f"multigrain import-xvlm: {checkpoint}: not an X-VLM checkpoint", flush=True)
            return 2
        for i in range(1, 4):
            print(f"loading tensors {i}/3", flush=True)
            time.sleep(delay)
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"name": config}))
        print(f"wrote {out}", flush=True)
        return 0
    if command == "export":
        checkpoint, out = Path(argv[1]), Path(argv[2])
        variant = argv[argv.index("--variant") + 1]
        name = json.loads((checkpoint / "config.json").read_text())["name"]
        out.mkdir(parents=True)
        for percent in (25, 50, 75, 100):
            print(f"exporting graphs {percent}%", flush=True)
            time.sleep(delay)
        (out / "manifest.json").write_text(json.dumps(manifest(name, variant)))
        print(f"wrote {out}", flush=True)
        return 0
    if command == "export-things":
        return export_things(argv, delay)
    print(f"unknown command {command}", flush=True)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
