"""Collation into the model's batch format (keys documented in engine.losses.xvlm_losses)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.text import Tokenizer, pre_caption
from engine.config import ModelConfig
from engine.data.masking import MaskingGenerator
from engine.model.concepts import boxes_to_patch_mask


@dataclass
class TextSample:
    text: str  # raw caption (normalised at collation)
    box: tuple[float, float, float, float] | None  # x, y, w, h in the S x S frame; None = whole image
    image: int  # index into the batch's images
    identity: int | None = None  # image identity for multi-positive targets
    has_box_target: bool = False  # region/object texts train the box head; image captions do not


class Collator:
    """Turns images and text samples into tensors: tokens, MLM masks, patch masks, box targets."""

    def __init__(self, cfg: ModelConfig, tokenizer: Tokenizer, *, mlm: bool, seed: int = 0) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        m = cfg.masking
        self.masking = MaskingGenerator(
            tokenizer.vocab_size, m.mask_prob, m.max_masks, m.skipgram_prb, m.skipgram_size, m.mask_whole_word
        )
        self.mlm = mlm
        self.seed = seed

    def __call__(
        self, images: list[torch.Tensor], texts: list[TextSample], rng: np.random.Generator
    ) -> dict[str, torch.Tensor]:
        t = self.cfg.text
        s = self.cfg.vision.image_size
        captions = [pre_caption(x.text, t.max_words) for x in texts]
        rows = [self.tokenizer.token_ids(c) for c in captions]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        boxes = torch.tensor(
            [x.box if x.box is not None else (0.0, 0.0, s, s) for x in texts], dtype=torch.float32
        )
        batch = {
            "images": torch.stack(images),
            "text_ids": torch.from_numpy(ids),
            "text_mask": torch.from_numpy(mask),
            "image_index": torch.tensor([x.image for x in texts]),
        }
        if any(x.box is not None for x in texts):
            batch["patch_mask"] = boxes_to_patch_mask(boxes, s, self.cfg.vision.patch_stride)
        if any(x.has_box_target for x in texts):
            x, y, w, h = boxes.unbind(1)
            batch["box_target"] = torch.stack([(x + w / 2) / s, (y + h / 2) / s, w / s, h / s], dim=1).clamp(
                0, 1
            )
            batch["box_valid"] = torch.tensor([x.has_box_target for x in texts])
        if all(x.identity is not None for x in texts):
            batch["idx"] = torch.tensor([x.identity for x in texts])
        if self.mlm:
            masked = [
                self.masking(r, self.tokenizer.pieces(c)[: len(r) - 1], rng, width)
                for r, c in zip(rows, captions, strict=True)
            ]
            batch["mlm_ids"] = torch.from_numpy(np.stack([m.ids for m in masked]))
            batch["mlm_pos"] = torch.from_numpy(np.stack([m.positions for m in masked]))
            batch["mlm_labels"] = torch.from_numpy(np.stack([m.labels for m in masked]))
        return batch
