"""Our checkpoint format, and the importer for official X-VLM checkpoints.

Our format is a directory that every later step (training resume, export, the app's model manager) reads:
    config.json         the resolved ModelConfig
    model.safetensors   the weights (fp32, or fp16 for shipped demo weights; loaded as fp32)
    vocab.txt           the WordPiece vocabulary the text layers were trained with
    meta.json           format version, where the weights came from, sha256 of model.safetensors
Official checkpoints are pickles; they are read with ``weights_only=True`` only, so a file that would
run code on load is refused, never executed.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.hashing import sha256_file
from core.text import default_vocab_path
from engine.config import ConfigError, ModelConfig, apply_override, load_config
from engine.model.factory import create_model
from engine.model.relative_positions import TABLE_SUFFIX, resize_relative_position_tables
from engine.model.xvlm import XVLM

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"


class CheckpointError(Exception):
    """A checkpoint that cannot be used, with the reason in words."""


# ----- our format ---------------------------------------------------------------------------------
def save_checkpoint(
    model: XVLM,
    out_dir: str | Path,
    *,
    source: dict[str, Any] | None = None,
    half: bool = False,
    vocab: str | Path | None = None,
) -> Path:
    """Write ``model`` to ``out_dir`` (created); ``half`` stores fp16 weights (the shipped demo)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = out / (WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(out / WEIGHTS)
    (out / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2) + "\n")
    shutil.copyfile(vocab or default_vocab_path(), out / "vocab.txt")
    meta = {
        "format_version": FORMAT_VERSION,
        "model": model.cfg.name,
        "dtype": "float16" if half else "float32",
        "weights_sha256": sha256_file(out / WEIGHTS),
        "source": source or {},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def read_checkpoint_config(path: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    ckpt = Path(path)
    if not ckpt.is_dir():
        raise CheckpointError(
            f"{ckpt} is not a checkpoint directory (expected config.json, {WEIGHTS}, meta.json)"
        )
    for name in ("config.json", WEIGHTS, "meta.json", "vocab.txt"):
        if not (ckpt / name).is_file():
            raise CheckpointError(f"{ckpt}: missing {name}")
    try:
        meta = json.loads((ckpt / "meta.json").read_text())
        cfg = ModelConfig.from_dict(json.loads((ckpt / "config.json").read_text()))
    except (json.JSONDecodeError, ConfigError) as err:
        raise CheckpointError(f"{ckpt}: unreadable config or meta: {err}") from err
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{ckpt}: checkpoint format {version} is newer than this Multigrain reads ({FORMAT_VERSION})"
        )
    return cfg, meta


def load_checkpoint(
    path: str | Path, *, verify_hash: bool = True, overrides: dict[str, Any] | None = None
) -> tuple[XVLM, dict[str, Any]]:
    """Rebuild the model of a checkpoint directory; refuses mismatched hashes, shapes and keys.

    ``overrides`` (dotted config keys) change the architecture before loading, for a run that starts from
    this checkpoint with an added module: parameters that only the overridden model has keep their fresh
    initialisation. An override of the image size or window (fine-tuning a 224-px checkpoint at 384) gets
    its Swin relative-position tables resized as the importer does (engine/model/relative_positions.py);
    every other key must still match exactly.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    ckpt = Path(path)
    original, meta = read_checkpoint_config(ckpt)
    cfg = original
    if overrides:
        data = original.to_dict()
        for dotted, value in overrides.items():
            apply_override(data, dotted, value)
        cfg = ModelConfig.from_dict(data)
    if verify_hash and meta.get("weights_sha256") and sha256_file(ckpt / WEIGHTS) != meta["weights_sha256"]:
        raise CheckpointError(f"{ckpt}: {WEIGHTS} does not match the sha256 in meta.json (corrupt or edited)")
    try:
        state = load_file(str(ckpt / WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{ckpt}: cannot read {WEIGHTS}: {err}") from err
    model = create_model(cfg, pretrained_text=False)
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    if cfg is not original:
        # Same resize as import_official, so a 384 run from an imported 224 checkpoint gets X-VLM's tables.
        resize_relative_position_tables(state, own)
        # Keys the original architecture lacks start from the new model's own initialisation.
        before = set(create_model(original, pretrained_text=False).state_dict())
        state.update({k: v for k, v in own.items() if k not in before and k not in state})
    _load_strict(model, state, str(ckpt))
    model.eval()
    return model, meta


def _load_strict(model: XVLM, state: dict[str, torch.Tensor], what: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{what} does not fit model {model.cfg.name}: "
            + "; ".join(
                f"{label} ({len(keys)}): {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                if keys
            )
        )
    model.load_state_dict(state, strict=True)


# ----- official X-VLM checkpoints -----------------------------------------------------------------
@dataclass
class ImportReport:
    layout: str  # "pretrain" (text_encoder.bert.*, MLM head) or "finetune" (text_encoder.*)
    loaded: int
    ignored: list[str] = field(default_factory=list)  # official keys we deliberately do not use
    missing: list[str] = field(default_factory=list)  # our keys the file did not provide
    unexpected: list[str] = field(default_factory=list)  # official keys with no home in our model
    notes: list[str] = field(default_factory=list)


# A checkpoint is a zip whose members torch reads whole into memory, at the size each member declares.
# torch.save stores them uncompressed (declared size = stored size), and even a re-zipped checkpoint of
# float weights compresses by well under 2x, so more than 4x the file's size (plus room for the small
# pickle and records) is a zip bomb: a 1 MB file that declares gigabytes of zeros.
MAX_EXPANSION = 4
EXPANSION_SLACK = 16 * 2**20


def refuse_zip_bomb(file: Path) -> None:
    """Refuse a zip checkpoint whose members declare more bytes than it can honestly hold (see above)."""
    if not zipfile.is_zipfile(file):
        return  # a legacy (pre-1.6) pickle: torch reads it as a stream
    try:
        with zipfile.ZipFile(file) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{file} is not a readable PyTorch checkpoint (a damaged zip: {err})") from err
    limit = MAX_EXPANSION * file.stat().st_size + EXPANSION_SLACK
    if declared > limit:
        raise CheckpointError(
            f"{file} was refused: it would unpack to {declared / 1e9:.1f} GB from "
            f"{file.stat().st_size / 1e6:.1f} MB (more than {MAX_EXPANSION}x its size, like a zip bomb)"
        )


def read_official(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict (and training config, if wrapped) of an official .th/.pth checkpoint."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint not found: {file}")
    refuse_zip_bomb(file)
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch names the refused global two ways: "Unsupported global: GLOBAL x.Y" (a class it does not
        # allow) and "unsupported GLOBAL posix.system whose module ... is blocked" (a function).
        found = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", str(err), re.IGNORECASE)
        if not found:
            raise CheckpointError(
                f"{file} is not a readable PyTorch checkpoint (damaged or another format)"
            ) from err
        raise CheckpointError(
            f"{file} was refused: the file asks to run code (pickle GLOBAL {found.group(1)}), which "
            "Multigrain never does; only weights-only checkpoints are accepted"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{file} is not a readable PyTorch checkpoint: {err}") from err
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file}: expected a dict of tensors, found {type(raw).__name__}")
    train_cfg = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    state = raw["model"] if isinstance(raw.get("model"), dict) else raw
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{file}: no tensors found")
    return tensors, train_cfg


def sniff_layout(state: dict[str, torch.Tensor]) -> str:
    if "text_encoder.bert.embeddings.word_embeddings.weight" in state:
        return "pretrain"
    if "text_encoder.embeddings.word_embeddings.weight" in state:
        return "finetune"
    raise CheckpointError("not an X-VLM checkpoint: no text_encoder word embeddings found")


_BUFFERS = ("relative_position_index", "attn_mask", "position_ids")
_LAYER = re.compile(r"^text_encoder\.encoder\.layer\.(\d+)\.(.*)$")


def map_official_keys(
    state: dict[str, torch.Tensor], model: XVLM
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Official names -> ours. Returns (mapped, ignored official keys, notes).

    Pure renaming except for the Swin part: timm's own filter renames Microsoft's 'downsample at the end
    of a stage' to timm's 'at the start of the next', and the relative-position tables are resized to the
    model's window with X-VLM's bicubic spline on BEiT's geometric grid (engine/model/relative_positions.py).
    """
    from timm.models.swin_transformer import checkpoint_filter_fn

    n_text = model.cfg.text.num_text_layers
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    notes: list[str] = []
    vision: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(_BUFFERS):
            ignored.append(key)  # rebuilt by the model
            continue
        if key.startswith("vision_encoder."):
            vision[key[len("vision_encoder.") :]] = value
            continue
        new = key.replace("text_encoder.bert.", "text_encoder.", 1)
        if new.startswith("text_encoder.cls.predictions."):
            rest = new[len("text_encoder.cls.predictions.") :]
            if rest.startswith("decoder."):
                ignored.append(key)  # tied to the word embeddings (weight) or an alias of the bias
                continue
            mapped[f"mlm_head.{rest}"] = value
            continue
        if match := _LAYER.match(new):
            layer, rest = int(match.group(1)), match.group(2)
            if layer >= n_text:
                new = f"fusion_encoder.layer.{layer - n_text}.{rest}"
        mapped[new] = value
    if vision:
        trunk = model.vision_encoder.trunk
        if "layers.0.blocks.0.attn.qkv.weight" in vision and hasattr(trunk, "layers"):
            # The tables stay out of timm's filter, whose resize is linear (X-VLM's is cubic); their names
            # are the same in both layouts, so they go back in unchanged after the renaming.
            tables = {k: vision.pop(k) for k in list(vision) if k.endswith(TABLE_SUFFIX)}
            rows_before = {k: v.shape[0] for k, v in tables.items()}
            resized = resize_relative_position_tables(tables, trunk.state_dict())
            vision = checkpoint_filter_fn(vision, trunk)
            vision.update(tables)
            if resized:
                k0 = resized[0]
                notes.append(
                    f"resized {len(resized)} Swin relative-position tables ({rows_before[k0]} -> "
                    f"{tables[k0].shape[0]} rows, X-VLM's bicubic resize) for image size "
                    f"{model.cfg.vision.image_size}; fine for fine-tuning, but evaluate a fine-tuned "
                    "checkpoint at its own resolution"
                )
        mapped.update({f"vision_encoder.trunk.{k}": v for k, v in vision.items()})
    return mapped, ignored, notes


def heads_in(state: dict[str, torch.Tensor]) -> dict[str, bool]:
    return {
        "box_head": any(k.startswith("bbox_head.") for k in state),
        "mlm_head": any(k.startswith("text_encoder.cls.") for k in state),
    }


def import_official(
    ckpt_path: str | Path, config: str | ModelConfig, out_dir: str | Path | None = None
) -> tuple[XVLM, ImportReport]:
    """Load an official checkpoint into our model (and write our format to ``out_dir`` if given).

    The heads follow the file: a retrieval checkpoint has no box head, so the imported model has none.
    Fails with the list of keys if any weight the model needs is not in the file.
    """
    state, train_cfg = read_official(ckpt_path)
    layout = sniff_layout(state)
    cfg = config if isinstance(config, ModelConfig) else load_config(config)
    heads = heads_in(state)
    cfg = ModelConfig.from_dict({**cfg.to_dict(), **heads})
    model = create_model(cfg, pretrained_text=False)
    mapped, ignored, notes = map_official_keys(state, model)
    own = model.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} (model: {tuple(own[k].shape)})"
        for k, v in mapped.items()
        if k in own and own[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(
            f"{ckpt_path} does not fit config {cfg.name}: {len(wrong)} shape mismatches, "
            f"e.g. {'; '.join(wrong[:4])}"
        )
    result = model.load_state_dict(mapped, strict=False)
    report = ImportReport(
        layout=layout,
        loaded=len(mapped) - len(result.unexpected_keys),
        ignored=sorted(ignored),
        missing=sorted(result.missing_keys),
        unexpected=sorted(result.unexpected_keys),
        notes=notes,
    )
    if not heads["box_head"]:
        report.notes.append("no bbox_head in the file: the imported model cannot ground (draw boxes)")
    if train_cfg.get("image_res") and int(train_cfg["image_res"]) != cfg.vision.image_size:
        report.notes.append(
            f"the file was trained at {train_cfg['image_res']} px; "
            f"config {cfg.name} uses {cfg.vision.image_size}"
        )
    if report.missing:
        raise CheckpointError(
            f"{ckpt_path}: {len(report.missing)} weights the model needs are not in the file, e.g. "
            f"{', '.join(report.missing[:8])}. Is --config right for this checkpoint?"
        )
    if report.unexpected:
        raise CheckpointError(
            f"{ckpt_path}: {len(report.unexpected)} weights have no place in config {cfg.name}, e.g. "
            f"{', '.join(report.unexpected[:8])}"
        )
    model.eval()
    if out_dir is not None:
        save_checkpoint(
            model,
            out_dir,
            source={
                "kind": "official-x-vlm",
                "file": Path(ckpt_path).name,
                "sha256": sha256_file(Path(ckpt_path)),
                "layout": layout,
            },
        )
    return model, report
