"""Teach one name from a few labelled boxes: a short optimisation of text-side parameters only.

Inputs are what an index already holds for each teaching photo (its image tokens and global embedding
from the one vision pass that indexed it); nothing here calls the vision trunk, so teaching re-encodes
no photo.  The losses:
- ITC, text -> photos: the name's sentences against the teaching photos (positives) and other photos
  (negatives);
- ITC, text -> concepts: against the labelled boxes' concept features (X-VLM's box [CLS]), with the
  other instances of the same kind in those photos as hard negatives;
- box: L1 + GIoU of the box head reading the fused name, so the name can be grounded on this dog and
  not the one beside it;
- keep: for a rank-1 update, which touches every token, the squared drift of general queries' text
  embeddings, so queries without the name barely move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from core.text import Tokenizer
from engine.losses import box_losses
from engine.model.xvlm import XVLM
from engine.personal.names import METHODS, NamedTextEncoder, NameParams, TaughtName, placeholder_id

Box = tuple[float, float, float, float]  # x, y, w, h in photo pixels

# Sentences the name is taught in; none names the kind, since a person types "Rex", not "Rex the dog".
TEMPLATES = ("{}", "a photo of {}", "{} in the picture", "there is {}")


@dataclass
class TeachPhoto:
    """One teaching photo as the index holds it, with the person's box and the look-alikes' boxes."""

    tokens: torch.Tensor  # (1 + L, C) image tokens from the indexing pass
    embed: torch.Tensor  # (D,) global embedding
    width: int
    height: int
    box: Box
    others: list[Box] = field(default_factory=list)  # other things in the photo (same kind first)


@dataclass
class TeachSettings:
    method: str = "both"
    steps: int = 60
    lr: float = 0.02
    temperature: float = 0.07  # of the ITC terms; the demo model's own temp is fixed near this
    w_concept: float = 1.0
    w_box: float = 1.0
    w_keep: float = 50.0
    w_photo: float = 1.0  # the ITC term against whole photos
    jitter: int = 0  # shifted and rescaled copies of each box in the concept term (0: the boxes alone)
    seed: int = 0


@dataclass
class TeachStats:
    seconds: float
    steps: int
    vision_passes: int  # photos run through the vision trunk while teaching (counted by a hook)
    final_losses: dict[str, float]


class VisionCounter:
    """Counts the photos that pass through the vision trunk while it is open, whoever calls it."""

    def __init__(self, model: XVLM) -> None:
        self.count = 0
        self._handle = model.vision_encoder.register_forward_hook(self._add)

    def _add(self, _module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        self.count += len(inputs[0])

    def close(self) -> None:
        self._handle.remove()


def _scaled(box: Box, width: int, height: int, size: int) -> list[float]:
    x, y, w, h = box
    return [x * size / width, y * size / height, w * size / width, h * size / height]


def _centre_box(box: Box, width: int, height: int) -> list[float]:
    x, y, w, h = box
    return [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]


@torch.no_grad()
def concept_embeds(model: XVLM, tokens: torch.Tensor, boxes: list[list[float]]) -> torch.Tensor:
    """Normalised concept features (N, D) of boxes already scaled to the model's square input."""
    if not boxes:
        return torch.zeros(0, model.cfg.embed_dim, device=tokens.device)
    return model.encode_concepts(
        tokens, boxes=torch.tensor(boxes, dtype=torch.float32, device=tokens.device)
    )[2]


def jittered(box: list[float], size: int, copies: int, gen: torch.Generator) -> list[list[float]]:
    """``box`` and ``copies`` variants of it (x, y, w, h in pixels of the square input): each side scaled
    by 0.8-1.25 and the centre moved by up to 15 % of the side, kept inside the image. A box found by
    grounding at search time is never exactly the labelled one; teaching on near boxes makes the name's
    match to a box hold up under that."""
    out = [box]
    x, y, w, h = box
    for _ in range(copies):
        scale = torch.exp(torch.empty(2).uniform_(-0.22, 0.22, generator=gen)).tolist()
        shift = torch.empty(2).uniform_(-0.15, 0.15, generator=gen).tolist()
        nw, nh = min(size, w * scale[0]), min(size, h * scale[1])
        cx, cy = x + w / 2 + shift[0] * w, y + h / 2 + shift[1] * h
        nx = min(max(cx - nw / 2, 0.0), size - nw)
        ny = min(max(cy - nh / 2, 0.0), size - nh)
        out.append([nx, ny, nw, nh])
    return out


def _photo_concepts(
    model: XVLM, photos: list[TeachPhoto], jitter: int = 0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concept features of the named boxes (k x (1 + jitter), D), and of every other thing in those photos
    (each with its ``jitter`` variants too)."""
    size = model.cfg.vision.image_size
    gen = torch.Generator().manual_seed(seed)

    def embed(pairs: list[tuple[TeachPhoto, Box]]) -> torch.Tensor:
        rows, boxes = [], []
        for photo, box in pairs:
            for variant in jittered(_scaled(box, photo.width, photo.height, size), size, jitter, gen):
                rows.append(photo.tokens)
                boxes.append(variant)
        return (
            concept_embeds(model, torch.stack(rows), boxes)
            if rows
            else torch.zeros(0, model.cfg.embed_dim, device=model.text_proj.weight.device)
        )

    pos = embed([(p, p.box) for p in photos])
    neg = embed([(p, b) for p in photos for b in p.others])
    return pos, neg


def _itc(
    text: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over (text, positive) pairs of -log p(positive | that positive and every negative)."""
    pos = text @ positives.t() / temperature  # (T, P)
    neg = text @ negatives.t() / temperature  # (T, N)
    neg_lse = torch.logsumexp(neg, dim=1, keepdim=True).expand_as(pos)
    return (torch.logaddexp(pos, neg_lse) - pos).mean()


def new_params(model: XVLM, method: str, kind: str, tok: Tokenizer, seed: int) -> NameParams:
    """Fresh parameters for a name: the token starts as the kind word's embedding (the name is a kind
    of dog before it is a particular one)."""
    if method not in METHODS:
        raise ValueError(f"unknown teaching method {method!r}; one of {', '.join(METHODS)}")
    token = None
    if method in ("token", "both"):
        ids = tok.token_ids(kind)[1:]
        token = model.text_encoder.embeddings.word_embeddings.weight[ids].mean(dim=0)
    return NameParams(model.cfg.text.hidden_size, token, method in ("rank1", "both"), seed)


def teach_name(
    model: XVLM,
    name: str,
    kind: str,
    slot: int,
    photos: list[TeachPhoto],
    negatives: torch.Tensor,
    general_texts: list[str],
    settings: TeachSettings | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[TaughtName, TeachStats]:
    """Learn ``name`` from teaching photos; ``negatives`` (M, D) are other photos' global embeddings,
    ``general_texts`` queries whose embeddings should not move.  The model itself is left unchanged.
    ``progress(step, steps, losses)`` is called after every step (the CLI prints some of them)."""
    s = settings or TeachSettings()
    start = time.perf_counter()
    seen = VisionCounter(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tok = Tokenizer(max_tokens=model.cfg.text.max_tokens)
    device = model.text_proj.weight.device
    params = new_params(model, s.method, kind, tok, s.seed).to(device)
    taught = TaughtName(name, placeholder_id(tok, slot), params)
    encoder = NamedTextEncoder(model, [taught], tok)
    pos_global = torch.stack([p.embed for p in photos])
    pos_concept, neg_concept = _photo_concepts(model, photos, s.jitter, s.seed)
    keep = s.method != "token" and s.w_keep > 0 and bool(general_texts)
    before = encoder.embed(general_texts) if keep else None
    target = torch.tensor([_centre_box(p.box, p.width, p.height) for p in photos], device=device)
    image_tokens = torch.stack([p.tokens for p in photos])
    sentences = [t.format(name) for t in TEMPLATES]
    optimiser = torch.optim.Adam([q for q in params.parameters()], lr=s.lr)
    terms: dict[str, torch.Tensor] = {}
    for step in range(s.steps):
        text = encoder(sentences)
        terms = {"itc": s.w_photo * _itc(text.embed, pos_global, negatives, s.temperature)}
        if len(neg_concept):
            terms["concept"] = s.w_concept * _itc(text.embed, pos_concept, neg_concept, s.temperature)
        if s.w_box > 0 and model.bbox_head is not None:
            hidden = text.hidden[:1].expand(len(photos), -1, -1)
            mask = text.mask[:1].expand(len(photos), -1)
            box = model.predict_box(hidden, mask, image_tokens)
            valid = torch.ones(len(photos), dtype=torch.bool, device=device)
            terms["box"] = s.w_box * sum(box_losses(box, target, valid).values())
        if keep:
            terms["keep"] = s.w_keep * (encoder(general_texts).embed - before).pow(2).sum(dim=1).mean()
        loss = sum(terms.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step + 1, s.steps, {k: float(v.detach()) for k, v in terms.items()})
    seen.close()
    stats = TeachStats(
        time.perf_counter() - start,
        s.steps,
        seen.count,
        {k: round(float(v.detach()), 4) for k, v in terms.items()},
    )
    params.requires_grad_(False)
    return taught, stats
