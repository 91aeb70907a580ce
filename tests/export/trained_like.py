"""A test-tiny model with weight statistics like a trained one (shared by the export tests).

Kept out of conftest.py: test folders each have a conftest module, so ``from conftest import`` would
get whichever one Python imported first.
"""

from __future__ import annotations

import torch

from engine.model.factory import create_model
from engine.model.xvlm import XVLM


def randomised(name: str, scale: float = 0.05, seed: int = 0) -> XVLM:
    """A model whose weights are all off their init values (no zero biases, no unit LayerNorm gains).

    Weights of trained transformers are not the init's N(0, 0.02): LayerNorm gains wander, biases are
    non-zero and some channels grow large. Adding N(0, scale) everywhere plus a few large channels
    gives int8 quantisation realistic ranges to cope with.
    """
    torch.manual_seed(seed)
    model = create_model(name, pretrained_text=False)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.add_(torch.randn_like(p) * scale)
            if p.dim() == 2 and "weight" in pname:
                p[:, :2] *= 4.0  # outlier input channels, as trained layers have
    return model.eval()
