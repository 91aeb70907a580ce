"""What the app and the engine agree on for a fine-tune on the library's own labels.

- The records folder ``multigrain export-labels`` writes: each kind of X-VLM record at the path
  ``multigrain train`` reads by default below its ``data_root``, so the folder is a data root as it is.
- The lines the fine-tune run prints: ``step 12/120 ...`` (a window reads the fraction, as it does for
  every child's ``n/N``) and one ``estimate: ...`` line that a window turns back into numbers before
  asking whether to start.

Torch-free: the app writes and reads these, the engine's fine-tune job prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Below the records folder; the same paths as engine.train_config.TrainConfig's defaults.
IMAGE_TEXT = "pretrain/image_text.jsonl"  # image-caption records: {image, caption: [...], image_id}
REGIONS = "pretrain/regions.jsonl"  # region records: {image, width, height, caption, elems: [{caption, bb}]}
GROUNDING = "grounding/train.json"  # referring expressions: [{image, text, ref_id, bbox, width, height}]
RETRIEVAL = "retrieval/train.json"  # one entry per caption: [{image, caption, image_id}]
SUMMARY = "labels.json"  # what was written and skipped; marks the folder as export-labels' own


def staging_folder(out: Path) -> Path:
    """Where a fine-tune writes until it is done, beside its output ``out``; the run removes it when it
    stops, and the app removes it too after a child that was killed."""
    return out.parent / f".{out.name}.fine-tuning"


@dataclass(frozen=True)
class Estimate:
    """The expected length of a fine-tune, from a few timed steps."""

    device: str  # "cpu" or "cuda"
    steps: int
    seconds_per_step: float
    total_seconds: float  # the steps plus loading the model and saving it


_ESTIMATE = re.compile(
    r"^estimate: (?P<steps>\d+) steps on (?P<device>\w+), (?P<per>[0-9.]+) s a step, "
    r"(?P<total>[0-9.]+) s in all"
)


def estimate_line(estimate: Estimate) -> str:
    """``estimate: 120 steps on cpu, 1.52 s a step, 190 s in all (about 3 min)``."""
    return (
        f"estimate: {estimate.steps} steps on {estimate.device}, {estimate.seconds_per_step:.2f} s a step, "
        f"{estimate.total_seconds:.0f} s in all (about {duration(estimate.total_seconds)})"
    )


def parse_estimate(line: str) -> Estimate | None:
    """The estimate an ``estimate_line`` states (None for any other line)."""
    match = _ESTIMATE.match(line.strip())
    if match is None:
        return None
    return Estimate(match["device"], int(match["steps"]), float(match["per"]), float(match["total"]))


def step_line(step: int, steps: int, losses: float, left_s: float) -> str:
    """``step 12/120  loss 3.214  about 2 min left``: the fraction first, for a window to read."""
    return f"step {step}/{steps}  loss {losses:.3f}  about {duration(left_s)} left"


def duration(seconds: float) -> str:
    """A length of time as a person says it: ``40 s``, ``3 min``, ``1 h 20 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
