"""``create_model``: a config name (or ModelConfig) in, an initialised XVLM out."""

from __future__ import annotations

from typing import Any

import torch

from engine.config import ModelConfig, load_config
from engine.model.text import load_minilm_state
from engine.model.xvlm import XVLM


def create_model(config: str | ModelConfig, *, pretrained_text: bool = True, **overrides: Any) -> XVLM:
    """Build a model. ``pretrained_text`` applies the config's text initialisation (e.g. MiniLM) if any."""
    cfg = config if isinstance(config, ModelConfig) else load_config(config, **overrides)
    model = XVLM(cfg)
    if pretrained_text and cfg.text.init:
        init_text_layers(model, cfg.text.init)
    return model


def init_text_layers(model: XVLM, source: str) -> list[str]:
    """Copy a pretrained BERT-family encoder into the text layers, then the fusion layers.

    As X-VLM splits BERT-base into 6 text + 6 fusion layers, source layer i goes to text layer i for
    i < num_text_layers and to fusion layer i - num_text_layers after that; the cross-attention blocks
    have no source and keep their fresh init. Returns the target keys that were filled.
    """
    if source != "minilm":
        raise ValueError(f"unknown text initialisation {source!r}")
    state = load_minilm_state()
    n_text = model.cfg.text.num_text_layers
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        if key.startswith("encoder.layer."):
            layer = int(key.split(".")[2])
            rest = key.split(".", 3)[3]
            if layer < n_text:
                mapped[f"text_encoder.encoder.layer.{layer}.{rest}"] = value
            else:
                mapped[f"fusion_encoder.layer.{layer - n_text}.{rest}"] = value
        else:
            mapped[f"text_encoder.{key}"] = value
    own = model.state_dict()
    unknown = [k for k in mapped if k not in own]
    if unknown:
        raise ValueError(f"{source} has layers the model does not: {unknown[:5]}")
    for key, value in mapped.items():
        if own[key].shape != value.shape:
            raise ValueError(
                f"{source}: {key} is {tuple(value.shape)}, model expects {tuple(own[key].shape)}"
            )
    model.load_state_dict(mapped, strict=False)
    return sorted(mapped)


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level module (tied matrices counted once) and the total."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + p.numel()
    counts["total"] = sum(counts.values())
    return counts
