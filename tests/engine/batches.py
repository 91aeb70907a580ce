"""Small random batches in the model's batch format (engine.losses.xvlm_losses documents the keys)."""

from __future__ import annotations

import torch

from engine.config import ModelConfig
from engine.model.concepts import boxes_to_patch_mask


def region_batch(
    cfg: ModelConfig, n_images: int = 3, texts_per_image: int = 2, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Images with several concept texts each: region boxes, one whole-image caption per image."""
    g = torch.Generator().manual_seed(seed)
    s = cfg.vision.image_size
    n = n_images * texts_per_image
    t = cfg.text.max_tokens
    ids = torch.randint(1000, cfg.text.vocab_size, (n, t), generator=g)
    ids[:, 0] = 101
    lengths = torch.randint(3, t + 1, (n,), generator=g)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).long()
    ids = ids * mask
    xy = torch.rand(n, 2, generator=g) * s * 0.6
    wh = torch.rand(n, 2, generator=g) * s * 0.3 + 4
    boxes = torch.cat([xy, wh], dim=1)
    is_image = torch.arange(n) % texts_per_image == 0
    boxes[is_image] = torch.tensor([0.0, 0.0, s, s])
    patch_mask = boxes_to_patch_mask(boxes, s, cfg.vision.patch_stride)
    target = torch.stack(
        [
            (boxes[:, 0] + boxes[:, 2] / 2) / s,
            (boxes[:, 1] + boxes[:, 3] / 2) / s,
            boxes[:, 2] / s,
            boxes[:, 3] / s,
        ],
        1,
    )
    mlm_ids = ids.clone()
    m = cfg.masking.max_masks
    pos = torch.zeros(n, m, dtype=torch.long)
    labels = torch.full((n, m), -100)
    for i in range(n):
        k = min(m, int(lengths[i]) - 1)
        chosen = torch.randperm(int(lengths[i]) - 1, generator=g)[:k] + 1
        pos[i, :k] = chosen
        labels[i, :k] = ids[i, chosen]
        mlm_ids[i, chosen] = 103
    return {
        "images": torch.randn(n_images, 3, s, s, generator=g),
        "text_ids": ids,
        "text_mask": mask,
        "image_index": torch.arange(n) // texts_per_image,
        "patch_mask": patch_mask,
        "idx": torch.arange(n),
        "box_target": target,
        "box_valid": ~is_image,
        "mlm_ids": mlm_ids,
        "mlm_pos": pos,
        "mlm_labels": labels,
    }
