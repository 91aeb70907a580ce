"""Fusion layers: BERT-style self-attention, cross-attention to image tokens, feed-forward (post-LN).

Written here rather than taken from transformers so that the cross-attention is explicit, exports to
ONNX as plain matmuls, and keeps the official sub-module names (attention / crossattention /
intermediate / output), which makes importing X-VLM checkpoints a pure renaming of layer indices.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from engine.config import TextConfig

# X-VLM's BERT adds -10000 to masked logits; kept so fp16 graphs never see -inf.
MASK_VALUE = -10000.0


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, K) 0/1 -> (B, 1, 1, K) additive attention bias."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * MASK_VALUE


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attended values (B, N, hidden) and the first query's attention (B, heads, K) before dropout."""
        q = self._split(self.query(x))
        k = self._split(self.key(context))
        v = self._split(self.value(context))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        probs = scores.softmax(dim=-1)
        out = (self.dropout(probs) @ v).transpose(1, 2)
        return out.reshape(x.shape[0], x.shape[1], -1), probs[:, :, 0]


class _ResidualOutput(nn.Module):
    def __init__(self, in_width: int, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_width, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _AttentionBlock(nn.Module):
    def __init__(self, cfg: TextConfig, kv_width: int) -> None:
        super().__init__()
        self.self = _Attention(cfg.hidden_size, cfg.num_heads, kv_width, cfg.dropout)
        self.output = _ResidualOutput(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attended, first_query_probs = self.self(x, context, bias)
        return self.output(attended, x), first_query_probs


class _Intermediate(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class FusionLayer(nn.Module):
    def __init__(self, cfg: TextConfig, vision_width: int) -> None:
        super().__init__()
        self.attention = _AttentionBlock(cfg, cfg.hidden_size)
        self.crossattention = _AttentionBlock(cfg, vision_width)
        self.intermediate = _Intermediate(cfg)
        self.output = _ResidualOutput(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout)

    def forward(
        self, x: torch.Tensor, text_bias: torch.Tensor, image: torch.Tensor, image_bias: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """New text states and the [CLS] query's cross-attention over image tokens (B, heads, K)."""
        x, _ = self.attention(x, x, text_bias)
        x, cls_to_image = self.crossattention(x, image, image_bias)
        return self.output(self.intermediate(x), x), cls_to_image


class FusionEncoder(nn.Module):
    def __init__(self, cfg: TextConfig, vision_width: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(FusionLayer(cfg, vision_width) for _ in range(cfg.num_fusion_layers))
        self.grad_checkpointing = False

    def forward(
        self,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        image_mask: torch.Tensor,
        *,
        return_cls_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Fused text states (B, T, hidden); with ``return_cls_attention`` also the last layer's [CLS]
        cross-attention over the image tokens (B, heads, K), which the box-attention loss supervises."""
        text_bias = additive_mask(text_mask, text_hidden.dtype)
        image_bias = additive_mask(image_mask, text_hidden.dtype)
        x = text_hidden
        cls_to_image = None
        for layer in self.layer:
            if self.grad_checkpointing and self.training:
                x, cls_to_image = torch.utils.checkpoint.checkpoint(
                    layer, x, text_bias, image_tokens, image_bias, use_reentrant=False
                )
            else:
                x, cls_to_image = layer(x, text_bias, image_tokens, image_bias)
        return (x, cls_to_image) if return_cls_attention else x
