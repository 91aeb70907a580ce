"""bench-teach: what teaching one name costs, per model, on this machine.

It runs the app's own teaching child (``engine.personal.job``) on a prepared folder, as ``multigrain
teach`` would hand it over: five teaching photos at the model's input size, one labelled box each with
two other boxes, and 4,096 library vectors as negatives. Photos and vectors are random: the cost does
not depend on what they show. A model is a checkpoint folder, or a config name, whose random weights
(torch seed 0) are saved to a scratch checkpoint first so that loading is timed as a person's would be.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NEGATIVES = 4096  # app.personal.teach.MAX_NEGATIVES: the most library photos teaching contrasts with


@dataclass(frozen=True)
class TeachCost:
    model: str
    parameters: int
    image_size: int
    photos: int
    steps: int
    jitter: int
    seconds_load: float
    seconds_teach: float  # the child's teaching loop (the photos' vision pass is before it)
    seconds_total: float  # the child's whole run: load, vision pass, teaching, writing the result


def _checkpoint_for(model: str, scratch: Path, log: Callable[[str], None]) -> Path:
    """``model`` itself when it is a checkpoint folder; else random weights of that config, saved."""
    if Path(model).is_dir():
        return Path(model)
    import torch

    from engine.checkpoint import save_checkpoint
    from engine.model.factory import create_model

    torch.manual_seed(0)
    log(f"{model}: random weights (torch seed 0), saved to a scratch checkpoint")
    return save_checkpoint(
        create_model(model, pretrained_text=False), scratch / model, source={"bench": "random"}
    )


def prepare(
    folder: Path, checkpoint: Path, image_size: int, embed_dim: int, photos: int, steps: int, jitter: int
) -> None:
    """The folder ``app.personal.teach`` writes for the child, with random photos and vectors."""
    rng = np.random.default_rng(0)
    np.save(
        folder / "pixels.npy", rng.standard_normal((photos, 3, image_size, image_size)).astype(np.float32)
    )
    negatives = rng.standard_normal((NEGATIVES, embed_dim)).astype(np.float32)
    np.save(folder / "negatives.npy", negatives / np.linalg.norm(negatives, axis=1, keepdims=True))
    spec = {
        "checkpoint": str(checkpoint),
        "name": "Rex",
        "kind": "dog",
        "slot": 0,
        "boxes": [[0.2, 0.25, 0.35, 0.4]] * photos,
        "others": [[[0.6, 0.1, 0.3, 0.3], [0.05, 0.6, 0.3, 0.35]]] * photos,
        "method": "token",
        "steps": steps,
        "lr": 0.02,
        "jitter": jitter,
        "threads": 0,
    }
    (folder / "spec.json").write_text(json.dumps(spec))


def measure(
    model: str, photos: int, steps: int, jitter: int, log: Callable[[str], None] = print
) -> TeachCost:
    from engine.checkpoint import read_checkpoint_config
    from engine.personal import job

    with tempfile.TemporaryDirectory(prefix="multigrain-bench-teach-") as scratch:
        root = Path(scratch)
        checkpoint = _checkpoint_for(model, root, log)
        cfg, _ = read_checkpoint_config(checkpoint)
        folder = root / "job"
        folder.mkdir()
        prepare(folder, checkpoint, cfg.vision.image_size, cfg.embed_dim, photos, steps, jitter)
        start = time.perf_counter()
        result = job.run(folder)
        total = time.perf_counter() - start
        parameters = _parameters(checkpoint)
    return TeachCost(
        cfg.name,
        parameters,
        cfg.vision.image_size,
        photos,
        steps,
        jitter,
        float(result["seconds_load"]),
        float(result["seconds_teach"]),
        total,
    )


def _parameters(checkpoint: Path) -> int:
    from safetensors import safe_open

    from engine.checkpoint import WEIGHTS

    with safe_open(str(checkpoint / WEIGHTS), framework="numpy") as weights:
        return sum(int(np.prod(weights.get_slice(key).get_shape())) for key in weights.keys())  # noqa: SIM118 (safe_open is not iterable)


def format_costs(costs: list[TeachCost]) -> str:
    head = (
        f"{'model':<16}{'params':>8}{'image':>7}{'photos':>8}{'steps':>7}{'jitter':>8}"
        f"{'load s':>8}{'teach s':>9}{'total s':>9}"
    )
    lines = [head, "-" * len(head)]
    for c in costs:
        lines.append(
            f"{c.model:<16}{c.parameters / 1e6:>7.1f}M{c.image_size:>7}{c.photos:>8}{c.steps:>7}{c.jitter:>8}"
            f"{c.seconds_load:>8.1f}{c.seconds_teach:>9.1f}{c.seconds_total:>9.1f}"
        )
    lines.append(
        "total: the teaching child's whole run (load, the teaching photos' vision pass, learning); the app "
        "adds its own start and the photos' decoding. Random photos and weights: the cost does not depend "
        "on them."
    )
    return "\n".join(lines)
