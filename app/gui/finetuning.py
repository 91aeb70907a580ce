"""What the window needs to fine-tune the active model on the library, without widgets: whether it can,
where one attempt's files go, and the command lines of its two stages.

Fine-tuning needs torch, which the window's process never imports: it runs the commands a person would
type (README, "Fine-tuning on your photos") as child processes, in two stages with a question between:
1. ``export-labels`` (the library's captions and names as records), then ``fine-tune-library
   --estimate`` (a few timed steps: how long, and whether the child found a GPU);
2. ``fine-tune-library`` (the run) and ``export`` (a bundle of the same variant as the active one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.gui.processes import Step, app_command
from app.gui.settings import data_dir, user_bundles_dir
from app.source_checkpoint import torch_work_refusal
from export.bundle import BundleError, read_manifest

EPOCHS = 3  # app.finetune.run.EPOCHS


@dataclass(frozen=True)
class Attempt:
    """One fine-tune's files: all new, so a cancel or a failure removes them and touches nothing else."""

    source: Path  # the active bundle, whose checkpoint the run starts from
    variant: str  # of the active bundle; the new bundle gets the same
    work: Path  # this attempt's scratch folder (the records), removed when it ends
    checkpoint: Path  # the fine-tuned checkpoint (kept: teaching names on the new bundle needs it)
    bundle: Path  # the new bundle, listed in the Models dialog

    @property
    def records(self) -> Path:
        return self.work / "records"

    def outputs(self) -> list[Path]:
        return [self.work, self.checkpoint, self.bundle]


def refusal(bundle: Path | None, db_path: Path | None, torch_installed: bool | None = None) -> str | None:
    """A sentence saying why the window cannot fine-tune the active model on this library, or None."""
    if db_path is None or not db_path.is_file():
        return "There is no library to learn from yet: add a folder of photos first."
    if bundle is None:
        return "No model is active: choose or import one first."
    try:
        manifest = read_manifest(bundle)
    except BundleError as err:
        return f"The model cannot be read: {err}"
    identity = str(manifest.get("identity", bundle.name))
    return torch_work_refusal(manifest, identity, "Fine-tuning", "try again", torch_installed)


def plan_attempt(bundle: Path, now: float | None = None) -> Attempt:
    """Fresh names for one attempt: ``<model>-mine-<date-time>`` (a bundle is never replaced under the
    window that may be using it)."""
    manifest = read_manifest(bundle)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    name = f"{manifest['model']}-mine-{stamp}"
    variant = str(manifest["variant"])
    return Attempt(
        bundle,
        variant,
        data_dir() / "fine-tune" / name,
        data_dir() / "models" / name,
        user_bundles_dir() / f"{name}-{variant}",
    )


def measuring_steps(
    attempt: Attempt, db_path: Path, epochs: int, program: list[str] | None = None
) -> list[Step]:
    """Stage 1: the records, then the timed steps."""
    cmd = program or app_command()
    return [
        Step(
            "Gathering your captions and names",
            [*cmd, "export-labels", str(attempt.records), "--db", str(db_path)],
        ),
        Step("Timing a few steps", [*cmd, *_fine_tune_args(attempt, epochs), "--estimate"]),
    ]


def training_steps(attempt: Attempt, epochs: int, program: list[str] | None = None) -> list[Step]:
    """Stage 2: the run, then the bundle."""
    cmd = program or app_command()
    export = ["export", str(attempt.checkpoint), str(attempt.bundle), "--variant", attempt.variant]
    return [
        Step("Fine-tuning", [*cmd, *_fine_tune_args(attempt, epochs)]),
        Step("Exporting the bundle", [*cmd, *export]),
    ]


def _fine_tune_args(attempt: Attempt, epochs: int) -> list[str]:
    return [
        "fine-tune-library",
        str(attempt.checkpoint),
        "--records",
        str(attempt.records),
        "--from-bundle",
        str(attempt.source),
        "--epochs",
        str(epochs),
    ]
