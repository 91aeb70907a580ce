"""Training run settings: a JSON file sets defaults, ``key=value`` overrides on the command line win,
and the resolved settings are saved beside every checkpoint."""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ConfigError

TASKS = ("pretrain", "retrieval", "grounding")

# The loss terms a run can weigh (engine/losses.py reads them from here, so a config can be checked
# without importing torch).
LOSS_NAMES = ("itc", "itm", "mlm", "box", "box_giou", "box_attn")

# Settings only some tasks read (engine/train.py: build_streams); every other setting is read by all.
# Pre-training draws image-text pairs and region batches, retrieval fine-tuning its own pairs, and
# grounding its referring expressions with a colour-only transform (no random crop).
TASK_ONLY_SETTINGS = {
    "image_text": ("pretrain",),
    "regions": ("pretrain",),
    "region_kinds": ("pretrain",),
    "region_images": ("pretrain",),
    "region_texts": ("pretrain",),
    "max_regions": ("pretrain",),
    "region_prob": ("pretrain",),
    "crop_scale": ("pretrain", "retrieval"),
    "retrieval_train": ("retrieval",),
    "grounding_train": ("grounding",),
}


@dataclass
class TrainConfig:
    task: str = "pretrain"  # pretrain (image-text + region batches), retrieval or grounding fine-tuning
    model: str = "demo"  # model config name or JSON file, used when init_checkpoint is empty
    init_checkpoint: str | None = None  # our checkpoint directory to start from (imported or trained)
    # Dotted model-config changes, e.g. {"text.dropout": 0.0}; with init_checkpoint they may add modules
    # (such as {"fusion_pos_embed": true}), which then start from their own initialisation.
    model_overrides: dict[str, Any] = field(default_factory=dict)
    data_root: str = "data/world"  # relative record paths below resolve against this folder
    image_text: list[str] = field(default_factory=lambda: ["pretrain/image_text.jsonl"])
    regions: list[str] = field(default_factory=lambda: ["pretrain/regions.jsonl"])
    retrieval_train: str = "retrieval/train.json"
    grounding_train: str = "grounding/train.json"
    eval_retrieval: str | None = "retrieval/val.json"  # evaluated every eval_every steps (ITC only)
    eval_grounding: str | None = "grounding/val.json"
    region_kinds: list[str] = field(default_factory=lambda: ["object", "region"])  # ablation switch
    batch_size: int = 32  # image-text pairs per rank and step
    region_images: int = 8  # images per region batch
    region_texts: int = 32  # concept texts per region batch (re-sampled to exactly this many)
    max_regions: int = 5  # texts drawn from one region record
    region_prob: float = 0.5  # chance of an extra region step before each image-text step
    crop_scale: tuple[float, float] = (0.5, 1.0)
    hue_safe_augment: bool = False  # drop per-channel autocontrast/equalize (colour words are supervision)
    steps: int = 1000  # image-text steps (the LR schedule counts these only, as X-VLM does)
    stop_at: int = 0  # end the run after this step (0: at ``steps``); the LR schedule still spans ``steps``
    warmup: float = 0.05  # a fraction of steps when < 1, else a number of steps
    lr: float = 1e-4
    lr_mult_new: float = 2.0  # for randomly initialised modules (cross-attention, projections, heads)
    new_prefixes: list[str] = field(default_factory=list)  # more fresh modules, e.g. ["vision_encoder."]
    # Parameters left untouched, e.g. ["vision_encoder.", "text_encoder."] for a grounding stage that
    # must not move the retrieval embeddings.
    freeze_prefixes: list[str] = field(default_factory=list)
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    grad_clip: float = 1.0
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"itc": 1.0, "itm": 1.0, "mlm": 1.0, "box": 1.0}
    )
    amp: str = "auto"  # auto (bf16 where supported), bf16, fp16 (CUDA, with loss scaling), off
    device: str = "auto"
    workers: int = 1
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    seed: int = 42
    out_dir: str = "runs/train"
    save_every: int = 200
    eval_every: int = 0
    log_every: int = 10
    grad_checkpointing: bool = False

    def validate(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, not {self.task!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ConfigError(f"amp must be auto, bf16, fp16 or off, not {self.amp!r}")
        if self.steps <= 0 or self.batch_size <= 0:
            raise ConfigError("steps and batch_size must be positive")
        if not 0 <= self.stop_at <= self.steps:
            raise ConfigError(f"stop_at must be between 0 and steps ({self.steps}), not {self.stop_at}")

    def end_step(self) -> int:
        return self.stop_at or self.steps

    def warmup_steps(self) -> int:
        return int(self.warmup * self.steps) if self.warmup < 1 else int(self.warmup)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_value(text: str) -> Any:
    """Command-line values are JSON when they parse as JSON (numbers, lists, null), else strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


BASE_KEY = "base"  # a config file may name another (relative to itself) whose settings it changes


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read training config {path}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"training config {path} is not a JSON object")
    return data


def read_config_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A training config file as one dict, with its ``"base"`` chain resolved.

    Why: the stages of a recipe differ in a few settings; a stage that names its base states only
    those, so a reader sees what the stage changes. The resolved config is what is saved with every
    checkpoint, so a run never depends on the files it was assembled from."""
    data = _read_json_object(path)
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: {BASE_KEY!r} must be the path of another config file, got {base!r}")
    base_path = path.parent / base
    chain = (*_chain, path.resolve())
    if base_path.resolve() in chain:
        names = " -> ".join(p.name for p in (*chain, base_path.resolve()))
        raise ConfigError(f"{path}: configs inherit from each other in a loop ({names})")
    # Shallow on purpose: a setting the stage names replaces the base's whole, nested objects too
    # (loss_weights, model_overrides), so a stage's loss weights are read in one place.
    return read_config_file(base_path, chain) | data


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, SETTING_NAMES, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    """``key=value`` and ``key.sub=value`` command-line settings into ``data`` (a config file's dict)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not key=value")
        top, _, sub = key.partition(".")
        if top not in SETTING_NAMES:
            raise ConfigError(f"unknown training setting {top!r} on the command line{_did_you_mean(top)}")
        if sub:  # loss_weights.box=0, model_overrides.text.dropout=0
            data.setdefault(top, dict(dataclasses.asdict(TrainConfig()).get(top) or {}))[sub] = parse_value(
                value
            )
        else:
            data[key] = parse_value(value)


def check_settings(data: dict[str, Any], stated: set[str], where: str) -> None:
    """Refuse an unknown setting or loss weight, and a setting ``stated`` here that the task does not read.

    Why: a misspelt or misplaced setting used to be ignored in silence, and the run trained with
    something other than what its config said."""
    for key in sorted(data):
        if key not in SETTING_NAMES:
            raise ConfigError(f"unknown training setting {key!r} in {where}{_did_you_mean(key)}")
    weights = data.get("loss_weights") or {}
    for name in weights:
        if name not in LOSS_NAMES:
            raise ConfigError(
                f"unknown loss weight {name!r} in {where}; the losses are {', '.join(LOSS_NAMES)}"
            )
    task = data.get("task", TrainConfig.task)
    for key in sorted(stated):
        readers = TASK_ONLY_SETTINGS.get(key)
        if readers and task not in readers:
            raise ConfigError(
                f"{where} sets {key!r}, which a {task} run never reads (read by {' and '.join(readers)} only)"
            )


def load_train_config(path: str | Path | None, overrides: list[str]) -> TrainConfig:
    """The run's settings: the config file (with its bases), then the command line's ``key=value``.

    The file's own settings are checked against the file's task and the command line's against the
    final task, so ``task=grounding`` on a pre-training file refuses nothing the file says."""
    data: dict[str, Any] = {}
    if path:
        data = read_config_file(Path(path))
        check_settings(data, set(_read_json_object(Path(path))) - {BASE_KEY}, str(path))
    apply_overrides(data, overrides)
    check_settings(data, {item.partition("=")[0].partition(".")[0] for item in overrides}, "the command line")
    for key in ("crop_scale", "betas"):
        if key in data:
            data[key] = tuple(data[key])
    cfg = TrainConfig(**data)
    cfg.validate()
    return cfg
