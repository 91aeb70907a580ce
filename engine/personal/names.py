"""Text encoding with taught names: each name is a placeholder token plus its learned parameters.

A name in a query ("Rex on the beach", matched as a whole word, any case) becomes the reserved token
``[unusedN]``, which WordPiece never produces from text, so no other query can hit it.  What the name
adds, either or both of:
- ``token``: the placeholder's input embedding (textual inversion, as PALAVRA learns a word);
- ``a``, ``b``: a rank-1 update ``b a^T`` of the value projection in the last text layer (POLAR).  It
  acts on every token, so it can move general queries too; training regularises that, and several
  names combine by adding their updates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.names import name_pattern, token_ids  # noqa: F401 - one tokenisation for engine and runtime
from core.text import Tokenizer
from engine.model.xvlm import XVLM, TextOutput

METHODS = ("token", "rank1", "both")


class NameParams(nn.Module):
    """The learned parameters of one name; a method without a part leaves it None."""

    def __init__(self, hidden: int, token_init: torch.Tensor | None, rank_one: bool, seed: int = 0) -> None:
        super().__init__()
        self.token = nn.Parameter(token_init.detach().clone()) if token_init is not None else None
        if rank_one:
            g = torch.Generator().manual_seed(seed)
            # LoRA's start: a random, b zero, so the update is zero until b learns.
            self.a = nn.Parameter(torch.randn(hidden, generator=g) / hidden**0.5)
            self.b = nn.Parameter(torch.zeros(hidden))
        else:
            self.a = self.b = None

    def value_update(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.a is None or self.b is None:
            return None
        return (x @ self.a)[..., None] * self.b


@dataclass
class TaughtName:
    name: str  # as the person typed it; matched case-insensitively as a whole word
    placeholder: int  # vocabulary id of its reserved token
    params: NameParams


def placeholder_id(tok: Tokenizer, slot: int) -> int:
    return tok.token_to_id(f"[unused{slot}]")


def batch_ids(
    tok: Tokenizer, texts: list[str], names: Mapping[str, int], max_words: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids and attention mask (B, T) for texts that may hold names, padded to the longest."""
    rows = [token_ids(tok, t, names, max_words) for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


@contextmanager
def value_updates(model: XVLM, taught: list[TaughtName]) -> Iterator[None]:
    """While inside, the last text layer's value projection adds every name's rank-1 update."""
    value = model.text_encoder.encoder.layer[-1].attention.self.value

    def add(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        for t in taught:
            delta = t.params.value_update(inputs[0])
            if delta is not None:
                output = output + delta
        return output

    handle = value.register_forward_hook(add)
    try:
        yield
    finally:
        handle.remove()


def input_embeddings(model: XVLM, ids: torch.Tensor, taught: list[TaughtName]) -> torch.Tensor:
    """Word embeddings of ids, with each placeholder's learned token where its name has one."""
    embeds = model.text_encoder.embeddings.word_embeddings(ids)
    for t in taught:
        if t.params.token is not None:
            at = (ids == t.placeholder)[..., None]
            embeds = torch.where(at, t.params.token.to(embeds.dtype), embeds)
    return embeds


def encode_named(model: XVLM, ids: torch.Tensor, mask: torch.Tensor, taught: list[TaughtName]) -> TextOutput:
    """model.encode_text with the taught names' parameters applied (gradients flow into them)."""
    embeds = input_embeddings(model, ids, taught)
    with value_updates(model, taught):
        hidden = model.text_encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return TextOutput(hidden, mask, F.normalize(model.text_proj(hidden[:, 0]), dim=-1))


class NamedTextEncoder:
    """Texts -> TextOutput through the model, knowing a set of taught names."""

    def __init__(self, model: XVLM, taught: list[TaughtName], tok: Tokenizer | None = None) -> None:
        self.model = model
        self.taught = taught
        self.tok = tok or Tokenizer(max_tokens=model.cfg.text.max_tokens)

    def ids(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        names = {t.name: t.placeholder for t in self.taught}
        return batch_ids(self.tok, texts, names, self.model.cfg.text.max_words)

    def __call__(self, texts: list[str]) -> TextOutput:
        ids, mask = self.ids(texts)
        device = self.model.text_proj.weight.device  # the model's (a CUDA one when teaching there)
        return encode_named(self.model, ids.to(device), mask.to(device), self.taught)

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """(N, D) normalised text embeddings, in batches, without gradients."""
        return torch.cat([self(texts[i : i + batch_size]).embed for i in range(0, len(texts), batch_size)])
