"""A fine-tune's training settings, derived from the checkpoint it starts from and the records it has.

The checkpoint says what the model can learn (its config: an MLM head, a box head, the demo's fusion
position embedding whose box-attention loss goes with it) and, when it is a training run's output, how
it was trained (``train_config.json``: its learning rate, augmentation). The records say which tasks the
data allows: image-caption pairs always, region batches only when there are name boxes. A person's
library is small and the model already knows most of what it needs, so the run is short and gentle: a
tenth of the checkpoint's own learning rate, a few passes over the photos, no module treated as new.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import finetune, records
from core.errors import KnownError
from engine.checkpoint import read_checkpoint_config
from engine.train_config import TrainConfig

EPOCHS = 3
LR_SHARE = 0.1  # of the checkpoint's own training learning rate
DEFAULT_LR = 1e-4  # the demo's and X-VLM's pre-training rate, when the checkpoint does not say its own
MAX_BATCH = 32  # image-caption pairs per step: the demo's pre-training batch
MAX_REGION_IMAGES = 8
MIN_PHOTOS = 2  # the contrastive and matching losses need another photo in the batch to contrast with


class FineTuneError(KnownError):
    """Records or a checkpoint a fine-tune cannot use."""


@dataclass(frozen=True)
class RecordCounts:
    image_text: int  # image-caption records (photos)
    regions: int  # region records with at least one box (photos)
    boxes: int  # boxes in them
    texts_per_region: float  # texts a region record yields to a batch (its caption and its boxes)


def count_records(folder: Path) -> RecordCounts:
    """Read the records ``export-labels`` wrote (as training will) and count them."""
    try:
        pairs = records.read_image_text(folder / finetune.IMAGE_TEXT, folder)
        region_file = folder / finetune.REGIONS
        regions = records.read_regions(region_file, folder) if region_file.is_file() else []
    except (records.RecordError, OSError) as err:
        raise FineTuneError(
            f"{folder} does not hold usable records ({err}); write them with `multigrain export-labels`"
        ) from err
    boxed = [r for r in regions if r.elems]
    texts = [min(5, (1 if r.captions else 0) + len(r.elems)) for r in boxed]
    return RecordCounts(
        len(pairs), len(boxed), sum(len(r.elems) for r in boxed), sum(texts) / len(texts) if texts else 0.0
    )


def _own_training(checkpoint: Path) -> dict[str, Any]:
    """The settings the checkpoint was trained with, when it is a run's output (else {})."""
    path = checkpoint / "train_config.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def plan(
    checkpoint: Path,
    folder: Path,
    counts: RecordCounts,
    out_dir: Path,
    *,
    epochs: int = EPOCHS,
    cuda: bool = False,
    threads: int = 0,
) -> TrainConfig:
    """The fine-tune's settings (see the module docstring)."""
    if counts.image_text < MIN_PHOTOS:
        raise FineTuneError(
            f"the records hold {counts.image_text} photo(s); a fine-tune needs at least {MIN_PHOTOS} photos "
            "with captions or taught names"
        )
    if epochs < 1:
        raise FineTuneError(f"epochs must be at least 1, not {epochs}")
    model_cfg, _ = read_checkpoint_config(checkpoint)
    own = _own_training(checkpoint)
    own_weights = own.get("loss_weights") if isinstance(own.get("loss_weights"), dict) else None
    box = model_cfg.box_head and counts.regions > 0
    weights = {
        "itc": 1.0,
        "itm": 1.0,
        "mlm": 1.0 if model_cfg.mlm_head else 0.0,
        "box": 1.0 if box else 0.0,
        # The demo's two grounding additions go together (docs/demo_model.md): a model with the fusion
        # position embedding was trained with the box-attention loss, unless its own config says else.
        "box_attn": float(own_weights.get("box_attn", 0.0))
        if own_weights is not None
        else (1.0 if box and model_cfg.fusion_pos_embed else 0.0),
    }
    # Batches of equal size: 35 photos make two of 18, not one of 32 and one of 3 (too few to contrast).
    per_epoch = math.ceil(counts.image_text / MAX_BATCH)
    batch = max(MIN_PHOTOS, math.ceil(counts.image_text / per_epoch))
    steps = epochs * per_epoch
    region_images = min(MAX_REGION_IMAGES, counts.regions)
    settings: dict[str, Any] = {
        "task": "pretrain",
        "init_checkpoint": str(checkpoint),
        "data_root": str(folder),
        "image_text": [finetune.IMAGE_TEXT],
        "regions": [finetune.REGIONS] if counts.regions else [],
        "eval_retrieval": None,
        "eval_grounding": None,
        "batch_size": batch,
        "region_images": max(1, region_images),
        "region_texts": max(2, min(32, round(counts.texts_per_region * max(1, region_images)))),
        "region_prob": 0.5 if counts.regions else 0.0,
        "crop_scale": tuple(own.get("crop_scale", (0.7, 1.0))),
        "hue_safe_augment": bool(own.get("hue_safe_augment", True)),  # colour words are supervision
        "steps": steps,
        "warmup": max(1, steps // 10),
        "lr": float(own.get("lr", DEFAULT_LR)) * LR_SHARE,
        "lr_mult_new": 1.0,  # every module was trained already
        "loss_weights": weights,
        "amp": "auto",
        # On a CPU the model already uses every core; a loader process adds a fork per pass over a small
        # library (each pass restarts the loader) and buys nothing.
        "workers": 4 if cuda else 0,
        "threads": threads,
        "seed": 42,
        "out_dir": str(out_dir),
        "save_every": steps,
        "log_every": 1,
    }
    cfg = TrainConfig(**settings)
    cfg.validate()
    return cfg
