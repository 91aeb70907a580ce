"""Image trunk adapter: a timm Swin or ViT whose patch tokens get a mean-of-patches [CLS] in front.

X-VLM has no learned image [CLS]: token 0 is the global average of the final patch tokens, and region
concepts later replace it with a masked average (see concepts.py).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from engine.config import VisionConfig


class VisionEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        kwargs = dict(cfg.trunk_kwargs)
        self.trunk = timm.create_model(
            cfg.trunk, pretrained=False, num_classes=0, img_size=cfg.image_size, **kwargs
        )
        # ViTs built without a class token have no prefix tokens; any other prefix would break the grid.
        if getattr(self.trunk, "num_prefix_tokens", 0):
            raise ValueError(f"{cfg.trunk}: build ViT trunks with class_token=False (X-VLM averages patches)")
        width = getattr(self.trunk, "num_features", None)
        if width != cfg.width:
            raise ValueError(f"{cfg.trunk} gives {width} channels, config says {cfg.width}")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S) -> tokens (B, 1 + G*G, width), row-major patches after a mean token."""
        feats = self.trunk.forward_features(images)
        if feats.dim() == 4:  # Swin: (B, H, W, C), channels last
            feats = feats.flatten(1, 2)
        expected = self.cfg.grid * self.cfg.grid
        if feats.shape[1] != expected:
            raise RuntimeError(f"trunk produced {feats.shape[1]} patch tokens, expected {expected}")
        return torch.cat([feats.mean(dim=1, keepdim=True), feats], dim=1)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.trunk.set_grad_checkpointing(enable)
