"""Evaluation: image-text retrieval (spec 4.4) and grounding accuracy (spec 5.2).

Retrieval ranks by ITC cosine, then optionally re-ranks the ITC top k with the ITM logit (the official
score; entries outside the top k rank below every re-ranked one). TR R@K: for each image, the best
position of any of its captions; IR R@K: for each caption, the position of its image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from core.box_metrics import grounding_metrics
from core.records import ImageRecord, read_grounding, read_retrieval_eval
from core.text import Tokenizer, pre_caption
from core.zoom import Zoom, box_from_window, zoom_window
from engine.data.datasets import EvalImages
from engine.data.transforms import EvalTransform
from engine.model.xvlm import XVLM


@dataclass
class EncodedSet:
    image_embed: torch.Tensor  # (N, D)
    image_tokens: torch.Tensor | None  # (N, 1+L, C), kept for ITM re-ranking
    text_embed: torch.Tensor  # (M, D)
    text_hidden: torch.Tensor | None  # (M, T, H)
    text_mask: torch.Tensor | None
    txt2img: np.ndarray  # (M,)
    img2txt: list[list[int]]


def _transform(model: XVLM) -> EvalTransform:
    c = model.cfg
    return EvalTransform(c.vision.image_size, c.image_mean, c.image_std)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)


@torch.no_grad()
def encode_images(
    model: XVLM,
    images: list[str | bytes],
    batch_size: int = 32,
    keep_tokens: bool = True,
    workers: int = 1,
    amp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    device = next(model.parameters()).device
    loader = DataLoader(EvalImages(images, _transform(model)), batch_size=batch_size, num_workers=workers)
    embeds, tokens = [], []
    for batch in loader:
        with _autocast(device, amp):
            out = model.encode_image(batch.to(device))
        embeds.append(out.embed.float().cpu())
        if keep_tokens:
            tokens.append(out.tokens.float().cpu())
    return torch.cat(embeds), (torch.cat(tokens) if keep_tokens else None)


@torch.no_grad()
def encode_texts(
    model: XVLM, texts: list[str], batch_size: int = 128, keep_hidden: bool = True, amp: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    device = next(model.parameters()).device
    t = model.cfg.text
    tok = Tokenizer(max_tokens=t.max_tokens)
    embeds, hidden, masks = [], [], []
    for start in range(0, len(texts), batch_size):
        chunk = [pre_caption(x, t.max_words) for x in texts[start : start + batch_size]]
        ids, mask = tok(chunk, pad_to="max")
        with _autocast(device, amp):
            out = model.encode_text(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
        embeds.append(out.embed.float().cpu())
        if keep_hidden:
            hidden.append(out.hidden.float().cpu())
            masks.append(out.mask.cpu())
    if not keep_hidden:
        return torch.cat(embeds), None, None
    return torch.cat(embeds), torch.cat(hidden), torch.cat(masks)


def encode_retrieval_set(
    model: XVLM, records: list[ImageRecord], keep_fusion_inputs: bool, amp: bool = False
) -> EncodedSet:
    texts, txt2img, img2txt = [], [], []
    for i, rec in enumerate(records):
        img2txt.append(list(range(len(texts), len(texts) + len(rec.captions))))
        texts.extend(rec.captions)
        txt2img.extend([i] * len(rec.captions))
    image_embed, image_tokens = encode_images(
        model, [r.image for r in records], keep_tokens=keep_fusion_inputs, amp=amp
    )
    text_embed, text_hidden, text_mask = encode_texts(model, texts, keep_hidden=keep_fusion_inputs, amp=amp)
    return EncodedSet(
        image_embed, image_tokens, text_embed, text_hidden, text_mask, np.array(txt2img), img2txt
    )


def recall_metrics(
    i2t: np.ndarray, t2i: np.ndarray, img2txt: list[list[int]], txt2img: np.ndarray
) -> dict[str, float]:
    """TR/IR R@1/5/10 and means from score matrices (images x texts, texts x images), in percent."""
    tr_ranks = np.empty(i2t.shape[0])
    for i, row in enumerate(i2t):
        order = np.argsort(-row, kind="stable")
        positions = np.where(np.isin(order, img2txt[i]))[0]
        tr_ranks[i] = positions.min()
    ir_ranks = np.empty(t2i.shape[0])
    for j, row in enumerate(t2i):
        order = np.argsort(-row, kind="stable")
        ir_ranks[j] = np.where(order == txt2img[j])[0][0]
    out = {}
    for k in (1, 5, 10):
        out[f"txt_r{k}"] = 100.0 * float(np.mean(tr_ranks < k))
        out[f"img_r{k}"] = 100.0 * float(np.mean(ir_ranks < k))
    out["txt_r_mean"] = (out["txt_r1"] + out["txt_r5"] + out["txt_r10"]) / 3
    out["img_r_mean"] = (out["img_r1"] + out["img_r5"] + out["img_r10"]) / 3
    out["r_mean"] = (out["txt_r_mean"] + out["img_r_mean"]) / 2
    return out


@torch.no_grad()
def itm_rerank(
    model: XVLM, enc: EncodedSet, sims: torch.Tensor, k: int, batch_size: int = 128, amp: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Scores where each row's ITC top k are replaced by ITM logits and the rest sit below them."""
    device = next(model.parameters()).device
    n_img, n_txt = sims.shape

    def rerank(rows: int, cols: int, sim: torch.Tensor, pair) -> np.ndarray:
        k_eff = min(k, cols)
        top = sim.topk(k_eff, dim=1).indices
        scores = np.full((rows, cols), -1e4, dtype=np.float32)
        pairs = [(r, int(c)) for r in range(rows) for c in top[r]]
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            image_idx, text_idx = zip(*(pair(r, c) for r, c in chunk), strict=True)
            image_idx, text_idx = list(image_idx), list(text_idx)
            with _autocast(device, amp):
                logit = model.itm_score(
                    enc.text_hidden[text_idx].to(device),
                    enc.text_mask[text_idx].to(device),
                    enc.image_tokens[image_idx].to(device),
                )
            for (r, c), value in zip(chunk, logit.float().cpu().tolist(), strict=True):
                scores[r, c] = value
        return scores

    i2t = rerank(n_img, n_txt, sims, lambda i, t: (i, t))
    t2i = rerank(n_txt, n_img, sims.t(), lambda t, i: (i, t))
    return i2t, t2i


def evaluate_retrieval(
    model: XVLM,
    path: str | Path,
    root: str | Path | None = None,
    k_test: int = 0,
    amp: bool = False,
    limit: int | None = None,
) -> dict[str, dict[str, float]]:
    """``{"itc": metrics, "itm": metrics}`` (the ITM entry only when ``k_test`` > 0)."""
    records = read_retrieval_eval(path, root)[:limit]
    model.eval()
    enc = encode_retrieval_set(model, records, keep_fusion_inputs=k_test > 0, amp=amp)
    sims = enc.image_embed @ enc.text_embed.t()
    out = {"itc": recall_metrics(sims.numpy(), sims.t().numpy(), enc.img2txt, enc.txt2img)}
    if k_test > 0:
        i2t, t2i = itm_rerank(model, enc, sims, k_test, amp=amp)
        out["itm"] = recall_metrics(i2t, t2i, enc.img2txt, enc.txt2img)
    out["counts"] = {"images": len(records), "texts": len(enc.txt2img)}
    return out


def _pixel_box(box: Sequence[float], width: int, height: int) -> list[float]:
    """(cx, cy, w, h) as fractions of the photo -> x, y, w, h in its pixels."""
    cx, cy, bw, bh = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    return [cx - bw / 2, cy - bh / 2, bw, bh]


@torch.no_grad()
def evaluate_grounding(
    model: XVLM,
    path: str | Path,
    root: str | Path | None = None,
    amp: bool = False,
    batch_size: int = 32,
    limit: int | None = None,
    zoom: Zoom | None = None,
) -> dict:
    """Accuracy (%) of predicted boxes with IoU >= 0.5, the mean IoU, and accuracy by referent size.

    These are the single-pass numbers of X-VLM's protocol. With ``zoom``, the same metrics of the
    zoom-in refinement (``core.zoom``, what the app draws) come under ``"zoom"`` too.
    """
    from core.records import open_image

    records = read_grounding(path, root)[:limit]
    model.eval()
    device = next(model.parameters()).device
    transform = _transform(model)
    tok = Tokenizer(max_tokens=model.cfg.text.max_tokens)

    def predict(images: list[Image.Image], texts: list[str]) -> np.ndarray:
        pixels = torch.stack([transform(p) for p in images]).to(device)
        ids, mask = tok([pre_caption(t, model.cfg.text.max_words) for t in texts], pad_to="max")
        with _autocast(device, amp):
            tokens = model.encode_image(pixels).tokens
            text = model.encode_text(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            return model.predict_box(text.hidden, text.mask, tokens).float().cpu().numpy()

    single, zoomed, truths, area_share = [], [], [], []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        pil = [open_image(r.image) for r in chunk]
        texts = [r.text for r in chunk]
        first = predict(pil, texts)
        single += [_pixel_box(b, *p.size) for b, p in zip(first, pil, strict=True)]
        if zoom is not None:
            windows = [zoom_window(b, *p.size, zoom) for b, p in zip(first, pil, strict=True)]
            second = predict([p.crop(w) for p, w in zip(pil, windows, strict=True)], texts)
            zoomed += [
                _pixel_box(box_from_window(b, w, *p.size), *p.size)
                for b, w, p in zip(second, windows, pil, strict=True)
            ]
        for p, r in zip(pil, chunk, strict=True):
            truths.append(r.box)
            area_share.append(r.box[2] * r.box[3] / (p.size[0] * p.size[1]))
    out = grounding_metrics(single, truths, area_share)
    if zoom is not None:
        out["zoom"] = {**grounding_metrics(zoomed, truths, area_share), **asdict(zoom)}
    return out


def write_json(path: str | Path, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def format_retrieval(name: str, m: dict[str, float]) -> str:
    return (
        f"{name:4s} TR R@1/5/10 {m['txt_r1']:5.1f} {m['txt_r5']:5.1f} {m['txt_r10']:5.1f} | "
        f"IR R@1/5/10 {m['img_r1']:5.1f} {m['img_r5']:5.1f} {m['img_r10']:5.1f} | mean {m['r_mean']:5.1f}"
    )
