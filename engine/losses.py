"""X-VLM's training losses (spec section 3), each returning named terms.

- ITC: symmetric contrastive loss over features gathered from every rank *with* gradients, so that
  under DDP one step equals one process on the concatenated batch (the official AllGather gives only
  1/world_size of that gradient); multi-positive soft targets when items carry an identity ``idx``.
- ITM: one hard negative image/concept per text and one hard negative text per image/concept, drawn
  from the local similarity softmax; one cross-entropy over the 3N fused pairs.
- MLM: cross-entropy at the masked positions (the masking itself is engine/data/masking.py).
- Box: L1 (summed over cx, cy, w, h) + (1 - GIoU), averaged over region/object texts only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch.nn import functional as F

from engine.train_config import LOSS_NAMES

if TYPE_CHECKING:
    from engine.model.xvlm import XVLM

# box_giou scales the GIoU term on top of box (1: X-VLM's L1 + GIoU; 0: L1 alone). GIoU rewards a
# larger box when the position is uncertain, which is the first suspect for the demo model's
# too-large boxes.
# Not part of X-VLM, so off unless a run asks for it (see box_attention_loss).
DEFAULT_WEIGHTS = {"box_attn": 0.0}


# ----- distributed helpers ------------------------------------------------------------------------
def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (rank order); gradients flow back to each rank's own slice."""
    if world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


# ----- ITC ----------------------------------------------------------------------------------------
def positive_mask(n: int, idx: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """(n, n) bool: True where row and column are the same item (same ``idx``, or the diagonal)."""
    if idx is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    return idx[:, None] == idx[None, :]


def itc_loss(
    image_feat: torch.Tensor, text_feat: torch.Tensor, temp: torch.Tensor, idx: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropies over the gathered batch.

    Features are L2-normalised, row i of ``image_feat`` pairs with row i of ``text_feat``.
    """
    image_all = gather_with_grad(image_feat).float()
    text_all = gather_with_grad(text_feat).float()
    idx_all = gather_no_grad(idx) if idx is not None else None
    with torch.autocast(image_all.device.type, enabled=False):  # logits / temp need more than bf16's 8 bits
        logits = image_all @ text_all.t() / temp.float()
    pos = positive_mask(logits.shape[0], idx_all, logits.device)
    targets = pos.to(logits.dtype)
    targets = targets / targets.sum(dim=1, keepdim=True)
    i2t = -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()
    t2i = -(F.log_softmax(logits.t(), dim=1) * targets).sum(dim=1).mean()
    return (i2t + t2i) / 2


# ----- ITM ----------------------------------------------------------------------------------------
def sample_hard_negatives(
    sim: torch.Tensor, positives: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """For each row, one column drawn from softmax(sim) + 1e-5 with positives zeroed (spec 3.2).

    A row whose columns are all positives (every item the same identity) falls back to any other column.
    """
    weights = F.softmax(sim.float(), dim=1) + 1e-5
    weights = weights.masked_fill(positives, 0.0)
    empty = weights.sum(dim=1) == 0
    if empty.any():
        n = sim.shape[1]
        fallback = (~torch.eye(sim.shape[0], n, dtype=torch.bool, device=sim.device)).float()
        if n == 1:
            fallback = torch.ones_like(fallback)
        weights[empty] = fallback[empty]
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


def itm_loss(
    model: XVLM,
    text_hidden: torch.Tensor,
    text_mask: torch.Tensor,
    concept_tokens: torch.Tensor,
    concept_mask: torch.Tensor,
    image_feat: torch.Tensor,
    text_feat: torch.Tensor,
    idx: torch.Tensor | None,
) -> torch.Tensor:
    n = text_hidden.shape[0]
    with torch.no_grad():
        sim_i2t = image_feat @ text_feat.t() / model.temp
        pos = positive_mask(n, idx, text_hidden.device)
        neg_image = sample_hard_negatives(sim_i2t.t(), pos)  # for each text
        neg_text = sample_hard_negatives(sim_i2t, pos)  # for each image/concept
    hidden = torch.cat([text_hidden, text_hidden, text_hidden[neg_text]])
    mask = torch.cat([text_mask, text_mask, text_mask[neg_text]])
    tokens = torch.cat([concept_tokens, concept_tokens[neg_image], concept_tokens])
    tmask = torch.cat([concept_mask, concept_mask[neg_image], concept_mask])
    logits = model.itm_logits(hidden, mask, tokens, tmask)
    labels = torch.cat([torch.ones(n), torch.zeros(2 * n)]).long().to(logits.device)
    return F.cross_entropy(logits.float(), labels)


# ----- MLM ----------------------------------------------------------------------------------------
def mlm_loss(
    model: XVLM,
    masked_ids: torch.Tensor,
    text_mask: torch.Tensor,
    concept_tokens: torch.Tensor,
    concept_mask: torch.Tensor,
    masked_pos: torch.Tensor,
    masked_labels: torch.Tensor,
) -> torch.Tensor:
    logits = model.mlm_logits(masked_ids, text_mask, concept_tokens, concept_mask, masked_pos)
    return F.cross_entropy(logits.float().flatten(0, 1), masked_labels.flatten(), ignore_index=-100)


# ----- boxes --------------------------------------------------------------------------------------
def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def generalized_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise-aligned GIoU of xyxy boxes (N, 4), (N, 4) -> (N,)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_a + area_b - inter
    iou = inter / union
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0).prod(dim=1)
    return iou - (hull - union) / hull


def box_losses(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """L1 and 1 - GIoU over the rows where ``valid`` (region/object texts), each divided by their count."""
    pred, target = pred[valid].float(), target[valid].float()
    count = max(int(valid.sum()), 1)
    l1 = (pred - target).abs().sum() / count
    p, t = cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target)
    degenerate = (p[:, 2:] < p[:, :2]).any() or (t[:, 2:] < t[:, :2]).any()
    giou = pred.sum() * 0.0 if degenerate or len(pred) == 0 else (1 - generalized_iou(p, t)).sum() / count
    return {"box_l1_loss": l1, "box_giou_loss": giou}


def box_attention_loss(attention: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
    """-log of the [CLS] query's cross-attention mass on the patches inside the referent's box.

    attention: (N, heads, 1 + L) from the last fusion layer; patch_mask: (N, 1 + L), column 0 is the
    summary token and is ignored. Averaging the mass over heads lets some heads look at context
    ("left of the car") while the rest find the object.

    Not in X-VLM: the box head must otherwise discover by regression alone which patches to attend to,
    the slow start DETR-style heads are known for; here a small model saw no progress in thousands of
    steps. Dense per-patch supervision teaches where to look, and the head then reads the position.
    """
    inside = patch_mask[:, 1:].to(attention.dtype)
    mass = (attention[:, :, 1:] * inside[:, None, :]).sum(dim=-1).mean(dim=1)
    return -torch.log(mass.float().clamp(min=1e-6)).mean()


# ----- the whole objective ------------------------------------------------------------------------
def xvlm_losses(
    model: XVLM, batch: dict[str, torch.Tensor], weights: dict[str, float]
) -> dict[str, torch.Tensor]:
    """All enabled loss terms for a batch; a term whose weight is 0 is not computed.

    Batch keys: ``images`` (B, 3, S, S); ``text_ids``, ``text_mask`` (N, T); optional ``image_index`` (N,)
    (which image each text belongs to; default arange), ``patch_mask`` (N, 1+L) concept masks (default
    whole images), ``idx`` (N,) identities for multi-positive targets, ``box_target`` (N, 4) cx, cy, w, h
    normalised with ``box_valid`` (N,) bool, and ``mlm_ids``, ``mlm_pos``, ``mlm_labels`` for MLM.
    """
    w = {name: float(weights.get(name, DEFAULT_WEIGHTS.get(name, 1.0))) for name in LOSS_NAMES}
    tokens = model.vision_encoder(batch["images"])
    image_index = batch.get("image_index")
    per_text = tokens if image_index is None else tokens[image_index]
    patch_mask = batch.get("patch_mask")
    if patch_mask is None:
        concept_tokens = per_text
        concept_mask = per_text.new_ones(per_text.shape[:2], dtype=torch.long)
        image_feat = F.normalize(model.vision_proj(per_text[:, 0]), dim=-1)
    else:
        concept_tokens, concept_mask, image_feat = model.encode_concepts(per_text, patch_mask=patch_mask)
    text = model.encode_text(batch["text_ids"], batch["text_mask"])
    idx = batch.get("idx")

    out: dict[str, torch.Tensor] = {}
    if w["itc"]:
        out["itc_loss"] = w["itc"] * itc_loss(image_feat, text.embed, model.temp, idx)
    if w["itm"]:
        out["itm_loss"] = w["itm"] * itm_loss(
            model, text.hidden, text.mask, concept_tokens, concept_mask, image_feat, text.embed, idx
        )
    if w["mlm"] and "mlm_ids" in batch and model.mlm_head is not None:
        out["mlm_loss"] = w["mlm"] * mlm_loss(
            model,
            batch["mlm_ids"],
            batch["text_mask"],
            concept_tokens,
            concept_mask,
            batch["mlm_pos"],
            batch["mlm_labels"],
        )
    if w["box"] and "box_target" in batch and model.bbox_head is not None:
        valid = batch["box_valid"].bool()
        if valid.any():
            rows = valid.nonzero().squeeze(1)
            pred, attention = model.predict_box(
                text.hidden[rows], text.mask[rows], per_text[rows], return_cls_attention=True
            )
            terms = box_losses(pred, batch["box_target"][rows], torch.ones_like(rows, dtype=torch.bool))
            terms = {
                "box_l1_loss": w["box"] * terms["box_l1_loss"],
                "box_giou_loss": w["box"] * w["box_giou"] * terms["box_giou_loss"],
            }
            if w["box_attn"]:
                terms["box_attn_loss"] = w["box_attn"] * box_attention_loss(
                    attention, batch["patch_mask"][rows]
                )
        else:
            # Keep every rank's graph the same shape under DDP: a zero that touches the head.
            zero = sum(p.sum() for p in model.bbox_head.parameters()) * 0.0
            terms = {"box_l1_loss": zero, "box_giou_loss": zero}
            if w["box_attn"]:
                terms["box_attn_loss"] = zero
        out.update(terms)
    return out
