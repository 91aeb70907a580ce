"""Stands in for ``python -m cli.main`` in the models dialog's fine-tune: ``export-labels``,
``fine-tune-library`` (with and without ``--estimate``) and ``export``, with the real commands'
arguments and line formats, writing folders whose files only look right. Every argv is appended to
``FAKE_FT_LOG``. ``FAKE_FT_DEVICE`` (cpu or cuda) is what the estimate reports; ``FAKE_FT_DELAY`` seconds
pass between training steps; ``FAKE_FT_FAIL`` names a command that fails as the real one does. Ctrl+C
(SIGINT) stops the run as the real command does: exit 130, the output untouched."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, for core.finetune

from fake_importer import manifest

from core.finetune import Estimate, estimate_line, step_line


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def export_labels(argv: list[str]) -> int:
    out = Path(argv[1])
    if os.environ.get("FAKE_FT_FAIL") == "export-labels":
        print("multigrain export-labels: the library has no captions and no taught names to fine-tune on")
        return 2
    (out / "pretrain").mkdir(parents=True)
    (out / "pretrain" / "image_text.jsonl").write_text("{}\n")
    (out / "labels.json").write_text(json.dumps({"library": _value(argv, "--db")}))
    print(f"wrote {out}:\n  image-caption records: 12 photos, 14 captions (pretrain/image_text.jsonl)")
    return 0


def fine_tune(argv: list[str]) -> int:
    out, epochs = Path(argv[1]), int(_value(argv, "--epochs"))
    steps = 4 * epochs
    if "--estimate" in argv:
        device = os.environ.get("FAKE_FT_DEVICE", "cpu")
        print(f"device: {device}")
        print(estimate_line(Estimate(device, steps, 1.5, 10 + 1.5 * steps)))
        return 0
    if os.environ.get("FAKE_FT_FAIL") == "fine-tune-library":
        print("multigrain fine-tune-library: fine-tuning failed: non-finite loss at step 3")
        return 2
    delay = float(os.environ.get("FAKE_FT_DELAY", "0.01"))
    try:
        for step in range(1, steps + 1):
            time.sleep(delay)
            print(step_line(step, steps, 3.0 / step, delay * (steps - step)))
    except KeyboardInterrupt:
        print(f"cancelled: {out} is as it was", file=sys.stderr)
        return 130
    out.mkdir(parents=True)
    (out / "meta.json").write_text(json.dumps({"source": {"kind": "fine-tune"}}))
    (out / "config.json").write_text(json.dumps({"name": "alpha"}))
    print(f"wrote {out}")
    return 0


def export(argv: list[str]) -> int:
    checkpoint, out = Path(argv[1]), Path(argv[2])
    name = json.loads((checkpoint / "config.json").read_text())["name"]
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(manifest(f"{name}-tuned", _value(argv, "--variant"))))
    print(f"wrote {out}")
    return 0


def main(argv: list[str]) -> int:
    # A command started from a background job may have SIGINT ignored; the real CLI takes it anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with open(os.environ["FAKE_FT_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    commands = {"export-labels": export_labels, "fine-tune-library": fine_tune, "export": export}
    if argv[0] not in commands:
        print(f"unknown command {argv[0]}")
        return 2
    return commands[argv[0]](argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
