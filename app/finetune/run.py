"""``multigrain fine-tune-library``: fine-tune the checkpoint behind a bundle on the library's records,
with torch in a child process (``engine.finetune.job``).

This process (no torch) checks what a person can get wrong before a model loads: the bundle records a
checkpoint that is still there with the same weights, the records folder is one ``export-labels``
wrote, and the output is neither that checkpoint nor a folder holding something else. The child derives
the settings, trains, and moves the result into place only when it finished; Ctrl+C is passed on to it,
and whatever the output folder held before stays as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.source_checkpoint import source_checkpoint
from app.torch_child import run_engine_module
from core import finetune
from core.errors import KnownError
from export.bundle import read_manifest

EPOCHS = 3  # engine.finetune.plan.EPOCHS: a few passes over the photos


class FineTuneCancelled(KnownError):
    """Ctrl+C while fine-tuning: the output folder is as it was."""


@dataclass(frozen=True)
class FineTuneResult:
    out: Path
    checkpoint: Path  # the checkpoint it started from
    estimate: finetune.Estimate | None  # with ``estimate``: what the timed steps predict


def check_records(records: Path) -> None:
    if not (records / finetune.IMAGE_TEXT).is_file():
        raise KnownError(
            f"{records} holds no training records ({finetune.IMAGE_TEXT} is missing): write them with "
            "`multigrain export-labels FOLDER`"
        )


def check_output(out: Path, checkpoint: Path) -> None:
    """Refuse an output that would overwrite the start, or a folder that is not a checkpoint."""
    if out.resolve() == checkpoint.resolve():
        raise KnownError(
            f"{out} is the checkpoint the bundle was exported from; write the fine-tuned model to another "
            "folder (the bundle and the names taught for it need that checkpoint as it is)"
        )
    if out.exists() and not out.is_dir():
        raise KnownError(f"{out} is a file: give a folder for the fine-tuned checkpoint")
    if out.is_dir() and any(out.iterdir()) and not (out / "meta.json").is_file():
        raise KnownError(
            f"{out} already holds other files: give a new folder (an earlier fine-tune there is replaced)"
        )


def fine_tune_library(
    bundle: Path,
    records: Path,
    out: Path,
    *,
    epochs: int = EPOCHS,
    estimate: bool = False,
    threads: int = 0,
    log: Callable[[str], None] = print,
) -> FineTuneResult:
    """Fine-tune the checkpoint of ``bundle`` on ``records`` into ``out``; with ``estimate``, only time
    a few steps and report the expected length (nothing is written)."""
    manifest = read_manifest(bundle)
    identity = str(manifest.get("identity", bundle.name))
    checkpoint, _ = source_checkpoint(manifest, identity, "fine-tuning")
    records, out = records.expanduser().absolute(), out.expanduser().absolute()
    check_records(records)
    check_output(out, checkpoint)
    args = ["--checkpoint", str(checkpoint), "--records", str(records), "--out", str(out)]
    args += ["--epochs", str(epochs), "--threads", str(threads)] + (["--estimate"] if estimate else [])
    found: list[finetune.Estimate] = []

    def forward(line: str) -> None:
        parsed = finetune.parse_estimate(line)
        if parsed is not None:
            found.append(parsed)
        log(line)

    try:
        code, tail = run_engine_module("engine.finetune.job", args, forward)
    except KeyboardInterrupt:
        code, tail = 130, []
    finally:
        shutil.rmtree(finetune.staging_folder(out), ignore_errors=True)  # after a child that was killed
    if code == 130:
        raise FineTuneCancelled(f"cancelled: {out} is as it was")
    if code != 0:
        last = tail[-1] if tail else f"exit code {code}"
        raise KnownError(last if last.startswith("fine-tuning") else f"fine-tuning failed: {last}")
    if estimate and not found:
        last = tail[-1] if tail else "no output"
        raise KnownError(f"the fine-tune's timed steps gave no estimate: {last}")
    return FineTuneResult(out, checkpoint, found[0] if found else None)
