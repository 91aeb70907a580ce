"""Image transforms, with boxes and text kept consistent (spec 3.6 and 5.1).

Training crops keep the annotated box they were built around, boxes follow every crop, flip and resize,
and a horizontal flip swaps "left" and "right" in the text so that spatial words stay true. Evaluation
is a square bicubic resize and CLIP normalisation (no aspect preservation), mirrored by the runtime's
numpy preprocessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

Box = tuple[float, float, float, float]  # x, y, w, h in pixels

_LEFT_RIGHT = re.compile(r"\b(left|right)(most)?\b")


def swap_left_right(text: str) -> str:
    """'the dog left of the car' -> 'the dog right of the car' (whole words only)."""
    return _LEFT_RIGHT.sub(lambda m: ("right" if m.group(1) == "left" else "left") + (m.group(2) or ""), text)


class EvalTransform:
    """PIL image -> (3, S, S) float tensor: square bicubic resize, [0, 1], CLIP mean/std."""

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.image_size = image_size
        self.mean = list(mean)
        self.std = list(std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        resized = TF.resize(image, [self.image_size, self.image_size], InterpolationMode.BICUBIC)
        return TF.normalize(TF.to_tensor(resized), self.mean, self.std)


# ----- colour and geometric augmentation (RandomAugment(2, 7) of the official code) ---------------
_COLOUR_OPS = ("identity", "autocontrast", "equalize", "brightness", "sharpness")
_GEOMETRIC_OPS = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")
# PIL's autocontrast and equalize work per channel and so shift hues: a red car can come out orange.
# Where colour words are supervision (our world), "hue_safe" leaves them out.
_HUE_SHIFTING = ("autocontrast", "equalize")


def _apply_op(image: Image.Image, op: str, magnitude: float, rng: np.random.Generator) -> Image.Image:
    sign = 1 if rng.random() < 0.5 else -1
    level = magnitude / 10.0
    if op == "autocontrast":
        return ImageOps.autocontrast(image)
    if op == "equalize":
        return ImageOps.equalize(image)
    if op == "brightness":
        return ImageEnhance.Brightness(image).enhance(1 + sign * 0.9 * level)
    if op == "sharpness":
        return ImageEnhance.Sharpness(image).enhance(1 + sign * 0.9 * level)
    fill = (128, 128, 128)
    if op == "shear_x":
        return image.transform(image.size, Image.AFFINE, (1, sign * 0.3 * level, 0, 0, 1, 0), fillcolor=fill)
    if op == "shear_y":
        return image.transform(image.size, Image.AFFINE, (1, 0, 0, sign * 0.3 * level, 1, 0), fillcolor=fill)
    if op == "translate_x":
        dx = sign * 0.1 * level * image.size[0]
        return image.transform(image.size, Image.AFFINE, (1, 0, dx, 0, 1, 0), fillcolor=fill)
    if op == "translate_y":
        dy = sign * 0.1 * level * image.size[1]
        return image.transform(image.size, Image.AFFINE, (1, 0, 0, 0, 1, dy), fillcolor=fill)
    if op == "rotate":
        return image.rotate(sign * 30 * level, fillcolor=fill)
    return image


def augment_ops(colour_only: bool, hue_safe: bool) -> tuple[str, ...]:
    ops = _COLOUR_OPS if colour_only else (*_COLOUR_OPS, *_GEOMETRIC_OPS)
    return tuple(op for op in ops if not (hue_safe and op in _HUE_SHIFTING))


def random_augment(
    image: Image.Image, rng: np.random.Generator, ops: Sequence[str], n: int = 2, magnitude: float = 7
) -> Image.Image:
    """``n`` of ``ops`` drawn at random, each applied with probability 0.5 (RandomAugment(2, 7))."""
    for op in rng.choice(ops, size=n):
        if rng.random() < 0.5:
            image = _apply_op(image, str(op), magnitude, rng)
    return image


# ----- crops that keep boxes ----------------------------------------------------------------------
def random_resized_crop_box(
    width: int, height: int, rng: np.random.Generator, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop sampling: (left, top, w, h) covering a random area and aspect."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        w = round(np.sqrt(target * aspect))
        h = round(np.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    return 0, 0, width, height


def crop_containing(width: int, height: int, box: Box, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random crop (left, top, w, h) that fully contains ``box`` (X-VLM's region crop)."""
    x, y, w, h = box
    x0, y0 = int(np.floor(max(x, 0))), int(np.floor(max(y, 0)))
    x1, y1 = int(np.ceil(min(x + w, width))), int(np.ceil(min(y + h, height)))
    left = int(rng.integers(0, x0 + 1))
    top = int(rng.integers(0, y0 + 1))
    right = int(rng.integers(x1, width + 1))
    bottom = int(rng.integers(y1, height + 1))
    return left, top, max(right - left, 1), max(bottom - top, 1)


def clip_box_to_crop(box: Box, crop: tuple[int, int, int, int], min_kept: float = 0.5) -> Box | None:
    """The box in crop coordinates, clipped; None if no more than ``min_kept`` of its area survives."""
    x, y, w, h = box
    left, top, cw, ch = crop
    nx0, ny0 = max(x, left), max(y, top)
    nx1, ny1 = min(x + w, left + cw), min(y + h, top + ch)
    if nx1 <= nx0 or ny1 <= ny0 or w <= 0 or h <= 0:
        return None
    if (nx1 - nx0) * (ny1 - ny0) <= min_kept * w * h:
        return None
    return nx0 - left, ny0 - top, nx1 - nx0, ny1 - ny0


def flip_box(box: Box, width: float) -> Box:
    x, y, w, h = box
    return width - x - w, y, w, h


def scale_box(box: Box, sx: float, sy: float) -> Box:
    x, y, w, h = box
    return x * sx, y * sy, w * sx, h * sy


class TrainTransform:
    """Image plus boxes -> normalised square tensor, boxes in its pixels, and whether it was flipped."""

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_prob: float = 0.5,
        augment: bool = True,
        colour_only: bool = False,
        hue_safe: bool = False,
    ) -> None:
        self.eval = EvalTransform(image_size, mean, std)
        self.image_size = image_size
        self.scale = scale
        self.ratio = ratio
        self.flip_prob = flip_prob
        self.augment = augment
        self.ops = augment_ops(colour_only, hue_safe)

    def __call__(
        self,
        image: Image.Image,
        boxes: Sequence[Box],
        rng: np.random.Generator,
        keep_box: int | None = None,
    ) -> tuple[torch.Tensor, list[Box | None], bool]:
        """``keep_box``: index of a box the crop must contain (region samples); else a random resized crop.

        Returned boxes are in the S x S frame; a box that lost half its area to the crop is None.
        """
        image = image.convert("RGB")
        width, height = image.size
        if keep_box is not None:
            crop = crop_containing(width, height, boxes[keep_box], rng)
        else:
            crop = random_resized_crop_box(width, height, rng, self.scale, self.ratio)
        left, top, cw, ch = crop
        image = image.crop((left, top, left + cw, top + ch))
        flipped = rng.random() < self.flip_prob
        if flipped:
            image = ImageOps.mirror(image)
        s = self.image_size
        image = image.resize((s, s), Image.BICUBIC)
        if self.augment:
            image = random_augment(image, rng, self.ops)
        out: list[Box | None] = []
        for box in boxes:
            kept = clip_box_to_crop(box, crop)
            if kept is not None and flipped:
                kept = flip_box(kept, cw)
            out.append(None if kept is None else scale_box(kept, s / cw, s / ch))
        tensor = TF.normalize(TF.to_tensor(image), self.eval.mean, self.eval.std)
        return tensor, out, flipped
