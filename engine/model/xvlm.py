"""The X-VLM model: image trunk, text layers, fusion layers and heads behind one small surface."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from engine import losses
from engine.config import ModelConfig
from engine.model.concepts import boxes_to_patch_mask, pool_concepts
from engine.model.fusion import FusionEncoder
from engine.model.heads import MLMHead, build_mlp
from engine.model.positions import fusion_position_init
from engine.model.text import build_text_encoder
from engine.model.vision import VisionEncoder


@dataclass
class ImageOutput:
    tokens: torch.Tensor  # (B, 1 + L, Cv): mean-of-patches [CLS] then patches
    embed: torch.Tensor  # (B, D) L2-normalised ITC feature


@dataclass
class TextOutput:
    hidden: torch.Tensor  # (B, T, H) after the text layers
    mask: torch.Tensor  # (B, T)
    embed: torch.Tensor  # (B, D) L2-normalised ITC feature


class XVLM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        t = cfg.text
        self.vision_encoder = VisionEncoder(cfg.vision)
        self.text_encoder = build_text_encoder(t)
        self.fusion_encoder = FusionEncoder(t, cfg.vision.width)
        self.vision_proj = nn.Linear(cfg.vision.width, cfg.embed_dim)
        self.text_proj = nn.Linear(t.hidden_size, cfg.embed_dim)
        self.temp = nn.Parameter(torch.tensor(cfg.temp))
        self.itm_head = build_mlp(t.hidden_size, 2)
        self.bbox_head = build_mlp(t.hidden_size, 4) if cfg.box_head else None
        self.mlm_head = (
            MLMHead(
                t.hidden_size, t.vocab_size, t.layer_norm_eps, self.text_encoder.embeddings.word_embeddings
            )
            if cfg.mlm_head
            else None
        )
        self.fusion_pos_embed = (
            nn.Parameter(fusion_position_init(cfg.vision.grid, cfg.vision.width))
            if cfg.fusion_pos_embed
            else None
        )
        self._init_new_modules()

    # ----- initialisation -------------------------------------------------------------------------
    def _init_new_modules(self) -> None:
        """BERT-style init (normal 0.02, zero bias, unit LayerNorm) for everything outside the trunks."""
        for module in [self.fusion_encoder, self.vision_proj, self.text_proj, self.itm_head]:
            module.apply(_bert_init)
        if self.bbox_head is not None:
            self.bbox_head.apply(_bert_init)
        if self.mlm_head is not None:
            self.mlm_head.transform.apply(_bert_init)

    def new_parameter_names(self) -> set[str]:
        """Parameters with no pretrained source: they get the spec's doubled learning rate."""
        prefixes = ("vision_proj.", "text_proj.", "temp", "itm_head.", "bbox_head.", "fusion_pos_embed")
        return {n for n, _ in self.named_parameters() if n.startswith(prefixes) or ".crossattention." in n}

    def no_weight_decay(self, name: str) -> bool:
        """The spec's no-decay rule: biases and every LayerNorm/norm parameter, plus the temperature."""
        keys = ("bias", "LayerNorm.", "norm.", "norm1.", "norm2.")
        return name == "temp" or any(k in name for k in keys) or name.endswith(("pos_embed",))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.vision_encoder.set_grad_checkpointing(enable)
        text = self.text_encoder
        if enable:
            (getattr(text, "activation_checkpointing_enable", None) or text.gradient_checkpointing_enable)()
        else:
            (getattr(text, "activation_checkpointing_disable", None) or text.gradient_checkpointing_disable)()
        self.fusion_encoder.grad_checkpointing = enable

    # ----- encoders -------------------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> ImageOutput:
        tokens = self.vision_encoder(images)
        return ImageOutput(tokens, F.normalize(self.vision_proj(tokens[:, 0]), dim=-1))

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> TextOutput:
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return TextOutput(hidden, mask, F.normalize(self.text_proj(hidden[:, 0]), dim=-1))

    def encode_concepts(
        self,
        image_tokens: torch.Tensor,
        boxes: torch.Tensor | None = None,
        patch_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Concept tokens, their cross-attention mask and normalised embedding.

        image_tokens: (N, 1+L, C), one row per concept; either ``boxes`` (N, 4) x, y, w, h in pixels of the
        resized square image, or a ready ``patch_mask`` (N, 1+L).
        """
        if patch_mask is None:
            if boxes is None:
                raise ValueError("encode_concepts needs boxes or patch_mask")
            v = self.cfg.vision
            patch_mask = boxes_to_patch_mask(boxes, v.image_size, v.patch_stride).to(image_tokens.device)
        tokens = pool_concepts(image_tokens, patch_mask)
        return tokens, patch_mask, F.normalize(self.vision_proj(tokens[:, 0]), dim=-1)

    def fuse(
        self,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        image_mask: torch.Tensor,
        *,
        return_cls_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.fusion_pos_embed is not None:
            image_tokens = image_tokens + self.fusion_pos_embed.to(image_tokens.dtype)
        return self.fusion_encoder(
            text_hidden, text_mask, image_tokens, image_mask, return_cls_attention=return_cls_attention
        )

    def itm_logits(self, text_hidden, text_mask, image_tokens, image_mask) -> torch.Tensor:
        return self.itm_head(self.fuse(text_hidden, text_mask, image_tokens, image_mask)[:, 0])

    def itm_score(
        self,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        image_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw logit of the 'match' class (the official retrieval score), shape (B,)."""
        if image_mask is None:
            image_mask = image_tokens.new_ones(image_tokens.shape[:2], dtype=torch.long)
        return self.itm_logits(text_hidden, text_mask, image_tokens, image_mask)[:, 1]

    def predict_box(
        self,
        text_hidden: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        *,
        return_cls_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Normalised (cx, cy, w, h) of the text's referent, from the whole image with full attention;
        with ``return_cls_attention`` also the last fusion layer's [CLS] attention (B, heads, 1 + L)."""
        if self.bbox_head is None:
            raise RuntimeError(f"model {self.cfg.name} has no box head")
        full = image_tokens.new_ones(image_tokens.shape[:2], dtype=torch.long)
        fused, attention = self.fuse(text_hidden, text_mask, image_tokens, full, return_cls_attention=True)
        box = self.bbox_head(fused[:, 0]).sigmoid()
        return (box, attention) if return_cls_attention else box

    def mlm_logits(
        self,
        masked_ids: torch.Tensor,
        text_mask: torch.Tensor,
        image_tokens: torch.Tensor,
        image_mask: torch.Tensor,
        masked_pos: torch.Tensor,
    ) -> torch.Tensor:
        """Vocabulary logits (B, M, V) at ``masked_pos`` (B, M) of masked captions ``masked_ids`` (B, T).

        As X-VLM's BertForMaskedLM with ``masked_pos``: text then fusion layers over ``image_tokens`` (a
        whole image or a concept, with its ``image_mask``), the positions gathered, then the BERT
        prediction head (dense, GELU, LayerNorm, decoder tied to the word embeddings, plus a bias).
        """
        if self.mlm_head is None:
            raise RuntimeError(f"model {self.cfg.name} has no MLM head")
        hidden = self.text_encoder(input_ids=masked_ids, attention_mask=text_mask).last_hidden_state
        fused = self.fuse(hidden, text_mask, image_tokens, image_mask)
        picked = torch.gather(fused, 1, masked_pos[:, :, None].expand(-1, -1, fused.shape[-1]))
        return self.mlm_head(picked)

    # ----- training -------------------------------------------------------------------------------
    def forward(
        self, batch: dict[str, torch.Tensor], weights: dict[str, float] | None = None
    ) -> dict[str, torch.Tensor]:
        """Named loss terms for one batch (see engine/data/batch.py for the keys)."""
        return losses.xvlm_losses(self, batch, weights or {})


def _bert_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
