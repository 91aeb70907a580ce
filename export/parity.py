"""Drift of a bundle against the fp32 torch model it came from, on random and on photo-like inputs.

The runtime is driven end to end (its own image tokens and text hidden states feed its region, ITM and
box graphs), at batch sizes other than the traced one, and every output is compared with the engine's
eager fp32 forward. Thresholds per variant decide PASS or FAIL; export and ``multigrain verify`` use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from core.names import NameTable
from engine.model.xvlm import XVLM
from engine.personal.names import NameParams, TaughtName, encode_named
from export.runtime import Runtime

# Outputs compared; embeddings also get a cosine.
EMBEDDINGS = ("image_embed", "text_embed", "region_embed", "named_text_embed")
OUTPUTS = (
    "image_embed",
    "image_tokens",
    "text_embed",
    "text_hidden",
    "region_embed",
    "itm_logit",
    "box",
    "named_text_embed",
    "named_text_hidden",
)

# Per variant: max abs diff allowed per output, and the lowest cosine allowed for embeddings. Token and
# hidden states are reported without a limit: only what leaves the runtime's public surface is judged.
THRESHOLDS: dict[str, dict[str, Any]] = {
    "fp32": {
        "max_abs": {
            "image_embed": 1e-4,
            "text_embed": 1e-4,
            "region_embed": 1e-4,
            "named_text_embed": 1e-4,
            "itm_logit": 1e-4,
            "box": 1e-4,
        },
        "cosine": {},
    },
    "fp16": {
        "max_abs": {"itm_logit": 0.05, "box": 0.01},
        "cosine": {k: 0.999 for k in EMBEDDINGS},
    },
    "int8": {
        "max_abs": {"itm_logit": 0.5, "box": 0.05},
        "cosine": {k: 0.99 for k in EMBEDDINGS},
    },
}

_COLOURS = {
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 200),
    "yellow": (230, 210, 50),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
}
_SHAPES = ("square", "circle", "bar")


@dataclass
class ParityInputs:
    kind: str  # "random" or "real"
    images: np.ndarray  # (B, 3, S, S) preprocessed
    ids: np.ndarray  # (B, T) int64
    mask: np.ndarray  # (B, T) int64
    boxes: np.ndarray  # (B, K, 4) x, y, w, h as fractions of the image


def photo_like(
    n: int, seed: int = 0, size: tuple[int, int] = (320, 240)
) -> tuple[list[Image.Image], list[str], np.ndarray]:
    """Photo-like test scenes: a sky/ground gradient, a few coloured shapes, blur and sensor noise;
    a caption for each, and the shapes' boxes (n, 3, 4) as fractions. Real-looking enough that
    activations have natural statistics (smooth regions, edges), unlike Gaussian noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    images, captions = [], []
    boxes = np.zeros((n, 3, 4))
    for i in range(n):
        sky = np.linspace(rng.uniform(120, 220), rng.uniform(60, 140), h)[:, None, None]
        base = np.broadcast_to(sky * np.array([0.7, 0.85, 1.0]), (h, w, 3)).copy()
        base[int(h * rng.uniform(0.5, 0.7)) :] = rng.uniform(60, 140, 3)
        image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        words = []
        for k in range(3):
            colour, shape = rng.choice(list(_COLOURS)), rng.choice(_SHAPES)
            bw, bh = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
            x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            xy = (x0, y0, x0 + bw, y0 + bh)
            if shape == "circle":
                draw.ellipse(xy, fill=_COLOURS[colour])
            else:
                draw.rectangle(xy, fill=_COLOURS[colour])
            boxes[i, k] = (x0 / w, y0 / h, bw / w, bh / h)
            side = "left" if x0 + bw / 2 < w / 2 else "right"
            words.append(f"a {colour} {shape} on the {side}")
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (h, w, 3))
        images.append(Image.fromarray(noisy.clip(0, 255).astype(np.uint8)))
        captions.append(f"{words[0].capitalize()}, next to {words[1]} and {words[2]}.")
    return images, captions, boxes


def random_inputs(runtime: Runtime, batch: int = 3, seed: int = 0) -> ParityInputs:
    """Gaussian images, random WordPiece ids of random lengths, random boxes (some degenerate)."""
    rng = np.random.default_rng(seed)
    s, t = runtime.image_size, runtime.max_tokens
    images = rng.normal(0, 1, (batch, 3, s, s)).astype(np.float32)
    vocab = runtime.tokenizer.vocab_size
    ids = rng.integers(1000, vocab, (batch, t)).astype(np.int64)
    ids[:, 0] = 101
    lengths = rng.integers(2, t + 1, batch)
    lengths[0] = t
    mask = (np.arange(t)[None, :] < lengths[:, None]).astype(np.int64)
    ids *= mask
    boxes = rng.uniform(0, 1, (batch, 4, 4))
    boxes[..., 2:] *= 1 - boxes[..., :2]
    boxes[:, 0] = (0, 0, 1, 1)  # the whole image
    boxes[:, 1, 2:] = 0  # a point still selects one patch
    return ParityInputs("random", images, ids, mask, boxes)


def real_inputs(runtime: Runtime, batch: int = 5, seed: int = 1) -> ParityInputs:
    """Photo-like scenes through the runtime's own preprocessing and tokenizer."""
    images, captions, boxes = photo_like(batch, seed)
    ids, mask, _ = runtime.tokenize(captions)
    return ParityInputs("real", runtime.preprocess(images), ids, mask, boxes)


@torch.no_grad()
def torch_outputs(model: XVLM, inp: ParityInputs) -> dict[str, np.ndarray]:
    """The engine's eager fp32 forward on the same inputs."""
    s = model.cfg.vision.image_size
    image = model.encode_image(torch.from_numpy(inp.images))
    ids, mask = torch.from_numpy(inp.ids), torch.from_numpy(inp.mask)
    text = model.encode_text(ids, mask)
    b, k = inp.boxes.shape[:2]
    tokens = image.tokens.repeat_interleave(k, dim=0)
    pixel_boxes = torch.from_numpy(inp.boxes.reshape(b * k, 4) * s)
    regions = model.encode_concepts(tokens, boxes=pixel_boxes)[2].reshape(b, k, -1)
    out = {
        "image_embed": image.embed,
        "image_tokens": image.tokens,
        "text_embed": text.embed,
        "text_hidden": text.hidden,
        "region_embed": regions,
        "itm_logit": model.itm_score(text.hidden, mask, image.tokens),
    }
    if model.bbox_head is not None:
        out["box"] = model.predict_box(text.hidden, mask, image.tokens)
    return {key: value.float().numpy() for key, value in out.items()}


def runtime_outputs(runtime: Runtime, inp: ParityInputs) -> dict[str, np.ndarray]:
    """The runtime end to end: its own tokens and hidden states feed its later graphs."""
    image_embed, tokens = runtime.encode_images(inp.images)
    text_embed, hidden = runtime.encode_tokens(inp.ids, inp.mask)
    out = {
        "image_embed": image_embed,
        "image_tokens": tokens,
        "text_embed": text_embed,
        "text_hidden": hidden,
        "region_embed": runtime.encode_regions(tokens, inp.boxes),
        "itm_logit": runtime.itm_scores(hidden, inp.mask, tokens),
    }
    if runtime.has_box_head:
        out["box"] = runtime.predict_boxes(hidden, inp.mask, tokens)
    return out


def compare(
    reference: dict[str, np.ndarray], got: dict[str, np.ndarray], mask: np.ndarray
) -> dict[str, dict[str, float]]:
    """Max abs diff per output (text hidden states only where the mask attends) and min cosine for
    embeddings."""
    result: dict[str, dict[str, float]] = {}
    for key in OUTPUTS:
        if key not in reference:
            continue
        ref, out = reference[key], got[key]
        diff = np.abs(ref.astype(np.float64) - out.astype(np.float64))
        if key in ("text_hidden", "named_text_hidden"):
            diff = diff[mask.astype(bool)]
        entry = {"max_abs": float(diff.max()) if diff.size else 0.0}
        if key in EMBEDDINGS:
            a, b = (
                ref.reshape(-1, ref.shape[-1]).astype(np.float64),
                out.reshape(-1, out.shape[-1]).astype(np.float64),
            )
            cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
            entry["cosine_min"] = float(cos.min())
        result[key] = entry
    return result


def judge(variant: str, metrics: dict[str, dict[str, float]]) -> list[str]:
    """Failures (empty when the bundle passes) against the variant's thresholds."""
    limits = THRESHOLDS[variant]
    failures = []
    for key, entry in metrics.items():
        limit = limits["max_abs"].get(key)
        if limit is not None and not entry["max_abs"] <= limit:
            failures.append(f"{key} max abs diff {entry['max_abs']:.3g} > {limit:g}")
        floor = limits["cosine"].get(key)
        if floor is not None and not entry["cosine_min"] >= floor:
            failures.append(f"{key} cosine {entry['cosine_min']:.6f} < {floor:g}")
    return failures


NAMED_TEXTS = ("Rex on the beach", "a photo of Rex next to Bella", "zed", "a red car without names")


def named_inputs(runtime: Runtime, seed: int = 2) -> tuple[NameTable, np.ndarray, np.ndarray]:
    """Three taught names in slots 0, 5 and the last, with random learned rows at the scale of trained
    word embeddings, and texts that hold one, two or none of them, tokenised by the runtime."""
    rng = np.random.default_rng(seed)
    slots, hidden = runtime.name_table_shape()
    table = np.zeros((slots, hidden), np.float32)
    names = {"Rex": 0, "Bella": 5, "Zed": slots - 1}
    for slot in names.values():
        table[slot] = rng.normal(0, 0.05, hidden)
    named = NameTable(names, table)
    ids, mask, _ = runtime.tokenize(list(NAMED_TEXTS), named)
    return named, ids, mask


def carried_texts(names: list[str]) -> list[str]:
    """Texts that hold each carried name alone, in a phrase and beside other words."""
    return [text for name in names for text in (name, f"a photo of {name}", f"{name} next to a red car")]


def named_drift(model: XVLM, runtime: Runtime) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """The runtime's text graph with random taught names against the engine's named encoder."""
    named, ids, mask = named_inputs(runtime)
    return _named_against_engine(model, runtime, named, ids, mask)


def carried_drift(
    model: XVLM, runtime: Runtime, carried: NameTable
) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """The same check with the names the bundle carries: their learned rows, as a library using the
    bundle feeds them, in texts that hold them."""
    ids, mask, _ = runtime.tokenize(carried_texts(list(carried.slots)), carried)
    return _named_against_engine(model, runtime, carried, ids, mask)


@torch.no_grad()
def _named_against_engine(
    model: XVLM, runtime: Runtime, named: NameTable, ids: np.ndarray, mask: np.ndarray
) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """The runtime's text graph with taught names against the engine's named encoder (the one teaching
    trains), on the same ids."""
    first = int(runtime.manifest["names"]["first_id"])
    hidden_size = named.embeddings.shape[1]
    rows = torch.from_numpy(named.embeddings)
    taught = [
        TaughtName(name, first + slot, NameParams(hidden_size, rows[slot], rank_one=False))
        for name, slot in named.slots.items()
    ]
    ref = encode_named(model, torch.from_numpy(ids), torch.from_numpy(mask), taught)
    embed, hidden = runtime.encode_tokens(ids, mask, name_embeddings=named.embeddings)
    reference = {"named_text_embed": ref.embed.numpy(), "named_text_hidden": ref.hidden.numpy()}
    return compare(reference, {"named_text_embed": embed, "named_text_hidden": hidden}, mask), mask


def measure_drift(model: XVLM, runtime: Runtime, variant: str) -> dict[str, Any]:
    """Drift on random inputs (batch 3) and photo-like ones (batch 5); the graphs were traced at 2."""
    model = model.float().eval()
    report: dict[str, Any] = {
        "reference": "engine XVLM, eager fp32 torch on CPU",
        "providers": runtime.providers,
        "thresholds": THRESHOLDS[variant],
        "inputs": {},
    }
    failures = []
    for inp in (random_inputs(runtime), real_inputs(runtime)):
        metrics = compare(torch_outputs(model, inp), runtime_outputs(runtime, inp), inp.mask)
        report["inputs"][inp.kind] = {"batch": len(inp.images), "metrics": metrics}
        failures += [f"{inp.kind}: {f}" for f in judge(variant, metrics)]
    if runtime.takes_names:
        metrics, mask = named_drift(model, runtime)
        report["inputs"]["named"] = {"batch": len(mask), "metrics": metrics}
        failures += [f"named: {f}" for f in judge(variant, metrics)]
    carried = runtime.carried_names
    if carried:
        metrics, mask = carried_drift(model, runtime, carried)
        report["inputs"]["carried"] = {"batch": len(mask), "metrics": metrics}
        failures += [f"carried names: {f}" for f in judge(variant, metrics)]
    report["failures"] = failures
    report["pass"] = not failures
    return report


def format_drift(report: dict[str, Any]) -> str:
    """The drift report as an aligned table with the thresholds and a PASS/FAIL line."""
    limits = report["thresholds"]
    lines = [
        f"{'output':17s} {'inputs':7s} {'max abs diff':>13s} {'limit':>8s} {'min cosine':>11s} {'limit':>7s}"
    ]
    for kind, block in report["inputs"].items():
        for key, entry in block["metrics"].items():
            lim = limits["max_abs"].get(key)
            cos = entry.get("cosine_min")
            floor = limits["cosine"].get(key)
            lines.append(
                f"{key:17s} {kind:7s} {entry['max_abs']:13.3g} {'' if lim is None else f'{lim:g}':>8s} "
                f"{'' if cos is None else f'{cos:.6f}':>11s} {'' if floor is None else f'{floor:g}':>7s}"
            )
    verdict = "PASS" if report["pass"] else "FAIL: " + "; ".join(report["failures"])
    lines.append(f"{verdict} (providers {', '.join(report['providers'])})")
    return "\n".join(lines)
