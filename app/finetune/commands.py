"""Handlers of ``multigrain export-labels`` and ``multigrain fine-tune-library`` (arguments: cli/main.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from app.commands import _library_command, open_library
from app.home import resolve_bundle
from app.terminal import shown


@_library_command
def export_labels(args: argparse.Namespace) -> int:
    from app.finetune.labels import export_labels as write_labels
    from app.finetune.labels import report_lines

    db, db_path = open_library(args, must_exist=True, writable=False)
    try:
        report = write_labels(db, db_path, args.out)
    finally:
        db.close()
    for line in report_lines(report):
        print(line)
    print(
        f"fine-tune on them: multigrain fine-tune-library CHECKPOINT_OUT --records {shown(str(report.out))} "
        "--from-bundle BUNDLE --estimate"
    )
    return 0


def fine_tune_library(args: argparse.Namespace) -> int:
    from app.finetune.run import FineTuneCancelled
    from app.finetune.run import fine_tune_library as run

    # Ctrl+C (or the window's interrupt) reaches the torch child even when this process was started
    # with SIGINT ignored, as a shell's background job is.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    bundle = resolve_bundle(args.from_bundle)
    out = Path(args.out)
    try:
        result = run(
            bundle,
            Path(args.records),
            out,
            epochs=args.epochs,
            estimate=args.estimate,
            threads=args.threads,
        )
    except FineTuneCancelled as err:
        print(str(err), file=sys.stderr)
        return 130
    if result.estimate is not None:
        print(f"to start it: the same command without --estimate (from {shown(str(result.checkpoint))})")
        return 0
    print(
        f"next: multigrain export {shown(str(out))} BUNDLE_OUT --variant int8, then index your folders "
        "with --bundle BUNDLE_OUT (docs: README, Fine-tuning on your photos)"
    )
    return 0
