"""Small heads: ITM and box MLPs (official layout Linear, LayerNorm, GELU, Linear) and the MLM head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def build_mlp(width: int, out: int) -> nn.Sequential:
    """width -> 2*width -> out. Indices 0, 1, 3 hold parameters, as in official checkpoints."""
    return nn.Sequential(
        nn.Linear(width, 2 * width), nn.LayerNorm(2 * width), nn.GELU(), nn.Linear(2 * width, out)
    )


class _Transform(nn.Module):
    def __init__(self, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class MLMHead(nn.Module):
    """BERT prediction head; the decoder matrix is the word-embedding matrix (tied), plus a bias."""

    def __init__(self, hidden: int, vocab_size: int, eps: float, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = _Transform(hidden, eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        # Kept as a plain attribute list so the tied matrix is not registered (and counted) twice.
        self._tied = [word_embeddings]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(self.transform(hidden), self._tied[0].weight, self.bias)
