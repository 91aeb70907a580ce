"""Model configs: small JSON files under engine/configs/, loaded into typed dataclasses.

A config is the single source of truth for a model's dimensions. Checkpoints carry the resolved
config beside their weights, so a checkpoint can always be rebuilt without the registry.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import KnownError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(KnownError, ValueError):
    """A config name, file or override that cannot be used (shown to the user as a sentence)."""


@dataclass
class VisionConfig:
    trunk: str  # timm model name; Swin and ViT families are supported
    image_size: int  # square input side in pixels
    patch_stride: int  # pixels per final-grid cell (32 for Swin, the patch size for ViT)
    width: int  # channels of the trunk's output tokens
    trunk_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to timm.create_model

    @property
    def grid(self) -> int:
        """Side of the final patch grid: boxes map onto this grid."""
        return self.image_size // self.patch_stride

    @property
    def num_tokens(self) -> int:
        """Image tokens including the mean-of-patches [CLS] substitute."""
        return 1 + self.grid * self.grid


@dataclass
class TextConfig:
    vocab_size: int = 30522  # BERT-uncased WordPieces
    hidden_size: int = 768
    num_heads: int = 12
    intermediate_size: int = 3072
    num_text_layers: int = 6  # BERT layers run on text alone
    num_fusion_layers: int = 6  # layers with cross-attention to image tokens
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    max_tokens: int = 40  # [CLS] + WordPieces, no [SEP]
    max_words: int = 30  # caption words kept by pre_caption
    init: str | None = None  # "minilm": text and fusion self-attention/FFN from the packaged MiniLM


@dataclass
class MaskingConfig:
    mask_prob: float = 0.25
    max_masks: int = 8
    skipgram_prb: float = 0.2
    skipgram_size: int = 3
    mask_whole_word: bool = True


@dataclass
class ModelConfig:
    name: str
    description: str
    vision: VisionConfig
    text: TextConfig
    embed_dim: int = 256  # shared ITC space
    temp: float = 0.07  # initial contrastive temperature
    mlm_head: bool = True  # pre-training model; retrieval checkpoints have none
    box_head: bool = True
    # Not in X-VLM (off for the official configs): a learned 2-D position embedding added to the image
    # tokens that the fusion layers attend to. Cross-attention is otherwise blind to where a token sits,
    # and a small ViT trained from scratch keeps little position in its final tokens, so the box head
    # had nothing to read a location from (demo grounding stayed at about 5 % without it).
    fusion_pos_embed: bool = False
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)  # CLIP, for every task
    image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        _refuse_unknown_keys(data, cls, "")
        for section, section_cls in (
            ("vision", VisionConfig),
            ("text", TextConfig),
            ("masking", MaskingConfig),
        ):
            if isinstance(data.get(section), dict):
                _refuse_unknown_keys(data[section], section_cls, f"{section}.")
        try:
            vision = VisionConfig(**data.pop("vision"))
            text = TextConfig(**data.pop("text", {}))
            masking = MaskingConfig(**data.pop("masking", {}))
            for key in ("image_mean", "image_std"):
                if key in data:
                    data[key] = tuple(data[key])
            cfg = cls(vision=vision, text=text, masking=masking, **data)
        except (TypeError, KeyError) as err:
            raise ConfigError(f"invalid model config: {err}") from err
        cfg.validate()
        return cfg

    def validate(self) -> None:
        v = self.vision
        if v.image_size % v.patch_stride:
            raise ConfigError(f"image_size {v.image_size} is not a multiple of patch_stride {v.patch_stride}")
        if self.text.hidden_size % self.text.num_heads:
            raise ConfigError("text hidden_size must be divisible by num_heads")
        if self.text.max_tokens > self.text.max_position_embeddings:
            raise ConfigError("max_tokens exceeds max_position_embeddings")


def _refuse_unknown_keys(data: dict[str, Any], cls: type, prefix: str) -> None:
    """A misspelt key would otherwise surface as a dataclass TypeError; name it and the known ones."""
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown model config key {prefix + key!r}; known: {', '.join(known)}")


def list_models() -> list[str]:
    """Names of the registered configs, sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(name_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """A registered config by name, or a JSON file by path; dotted overrides like ``text.dropout=0``."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = CONFIG_DIR / f"{name_or_path}.json"
        if not path.exists():
            raise ConfigError(f"unknown model config {name_or_path!r}; known: {', '.join(list_models())}")
    elif not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = ModelConfig.from_dict(json.loads(path.read_text())).to_dict()  # defaults filled in
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from err
    for dotted, value in overrides.items():
        apply_override(data, dotted, value)
    return ModelConfig.from_dict(data)


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, refusing keys that do not already exist (typos fail loudly)."""
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        if not isinstance(node.get(key), dict):
            raise ConfigError(f"unknown config key {dotted!r}")
        node = node[key]
    if leaf not in node:
        raise ConfigError(f"unknown config key {dotted!r}")
    node[leaf] = value
