"""The name's look in torch, for ``bench-personal``: crops of boxes encoded by the vision model, as
``app.personal.name_rerank`` does through the bundle (the crop geometry is ``core.name_look``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.name_look import Corners, look_crop, mean_look
from core.records import open_image
from engine.data.transforms import EvalTransform
from engine.model.xvlm import XVLM

BATCH = 32


@torch.no_grad()
def crop_embeds(model: XVLM, paths: Sequence[str | Path], boxes: Sequence[Corners]) -> torch.Tensor:
    """(N, D) global embeddings of each photo's ``box`` cropped (``core.name_look.look_crop``)."""
    c = model.cfg
    transform = EvalTransform(c.vision.image_size, c.image_mean, c.image_std)
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(paths), BATCH):
        crops = [
            transform(look_crop(open_image(str(path)), box))
            for path, box in zip(paths[start : start + BATCH], boxes[start : start + BATCH], strict=True)
        ]
        out.append(model.encode_image(torch.stack(crops).to(device)).embed.float().cpu())
    if not out:
        return torch.zeros(0, c.embed_dim)
    return torch.cat(out)


def name_look(model: XVLM, paths: Sequence[str | Path], boxes: Sequence[Corners]) -> torch.Tensor:
    """A name's look: the mean of its teaching boxes' crop embeddings, unit length (D,)."""
    return torch.from_numpy(mean_look(crop_embeds(model, paths, boxes).numpy().astype(np.float64)))
