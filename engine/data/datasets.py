"""Map-style datasets over X-VLM records; each item is one image and the texts that go with it.

Items are ``(image tensor, [TextSample, ...])`` with ``TextSample.image`` = 0; ``collate_items`` renumbers
images within a batch. The sampler hands out *draws* (epoch * len + index) and each item's randomness comes
from a generator seeded by (dataset seed, draw): augmentations differ between epochs, yet a run resumed
from a checkpoint, with any number of loader workers, sees exactly the samples it would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from core.records import Elem, GroundingRecord, ImageRecord, open_image
from engine.data.batch import Collator, TextSample
from engine.data.transforms import EvalTransform, TrainTransform, swap_left_right

Item = tuple[torch.Tensor, list[TextSample]]
Drawn = tuple[torch.Tensor, list[TextSample], int]  # an item and the draw it came from


class SeededDataset(Dataset):
    """Base for datasets indexed by draws; subclasses implement ``sample(index, rng)``."""

    seed: int = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, draw: int) -> Drawn:
        image, texts = self.sample(draw % len(self), np.random.default_rng([self.seed, draw]))
        return image, texts, draw

    def sample(self, index: int, rng: np.random.Generator) -> Item:
        raise NotImplementedError


class ImageTextDataset(SeededDataset):
    """Whole images with one sampled caption (pre-training image-text stream, retrieval fine-tuning)."""

    def __init__(self, records: Sequence[ImageRecord], transform: TrainTransform) -> None:
        self.records = list(records)
        self.transform = transform
        ids = sorted({r.image_id for r in self.records})
        self.identity = {image_id: i for i, image_id in enumerate(ids)}

    def sample(self, index: int, rng: np.random.Generator) -> Item:
        rec = self.records[index]
        tensor, _, flipped = self.transform(open_image(rec.image), [], rng)
        caption = rec.captions[int(rng.integers(len(rec.captions)))]
        if flipped:
            caption = swap_left_right(caption)
        return tensor, [TextSample(caption, None, 0, identity=self.identity[rec.image_id])]


def elem_text(elem: Elem, rng: np.random.Generator) -> str:
    """One of the elem's captions, with one sampled attribute prepended as X-VLM does."""
    text = elem.captions[int(rng.integers(len(elem.captions)))]
    if elem.attributes:
        text = f"{elem.attributes[int(rng.integers(len(elem.attributes)))]} {text}"
    return text


class RegionDataset(SeededDataset):
    """Images with up to ``max_regions`` concept texts: the image caption (whole image, no box target),
    the anchor elem the crop was built around, and other elems whose box survived the crop."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: TrainTransform,
        max_regions: int = 5,
        kinds: tuple[str, ...] = ("object", "region"),
    ) -> None:
        self.transform = transform
        self.max_regions = max_regions
        self.records = []
        for rec in records:
            elems = [e for e in rec.elems if e.kind in kinds]
            if elems:
                self.records.append(ImageRecord(rec.image, rec.captions, rec.image_id, elems))

    def sample(self, index: int, rng: np.random.Generator) -> Item:
        rec = self.records[index]
        anchor = int(rng.integers(len(rec.elems)))
        tensor, boxes, flipped = self.transform(
            open_image(rec.image), [e.box for e in rec.elems], rng, keep_box=anchor
        )
        texts: list[TextSample] = []
        if rec.captions:
            texts.append(TextSample(rec.captions[int(rng.integers(len(rec.captions)))], None, 0))
        others = [i for i in rng.permutation(len(rec.elems)) if i != anchor and boxes[i] is not None]
        for i in [anchor, *others][: self.max_regions - len(texts)]:
            texts.append(TextSample(elem_text(rec.elems[i], rng), boxes[i], 0, has_box_target=True))
        if flipped:
            for t in texts:
                t.text = swap_left_right(t.text)
        return tensor, texts


class GroundingDataset(SeededDataset):
    """Referring expressions with their box (grounding fine-tuning: box loss only)."""

    def __init__(self, records: Sequence[GroundingRecord], transform: TrainTransform) -> None:
        self.records = list(records)
        self.transform = transform

    def sample(self, index: int, rng: np.random.Generator) -> Item:
        rec = self.records[index]
        tensor, boxes, flipped = self.transform(open_image(rec.image), [rec.box], rng, keep_box=0)
        text = swap_left_right(rec.text) if flipped else rec.text
        return tensor, [TextSample(text, boxes[0], 0, has_box_target=True)]


class EvalImages(Dataset):
    """Images only, eval transform (retrieval and grounding evaluation)."""

    def __init__(self, images: Sequence[str | bytes], transform: EvalTransform) -> None:
        self.images = list(images)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(open_image(self.images[index]))


def collate_items(
    items: list[Drawn], collator: Collator, max_texts: int | None = None
) -> dict[str, torch.Tensor]:
    """Concatenate items; with ``max_texts`` sample exactly that many texts (re-sampling to pad), as the
    spec's region batches do so that gathered shapes match on every rank. The batch's randomness (text
    sampling, MLM masks) is seeded by its draws, so it does not depend on which process collates."""
    rng = np.random.default_rng([collator.seed, *(draw for _, _, draw in items)])
    images, texts = [], []
    for i, (image, samples, _) in enumerate(items):
        images.append(image)
        for s in samples:
            texts.append(TextSample(s.text, s.box, i, s.identity, s.has_box_target))
    if max_texts is not None and texts:
        if len(texts) >= max_texts:
            chosen = rng.choice(len(texts), size=max_texts, replace=False)
        else:
            chosen = np.concatenate(
                [np.arange(len(texts)), rng.choice(len(texts), size=max_texts - len(texts))]
            )
        texts = [texts[int(i)] for i in sorted(chosen)]
    return collator(images, texts, rng)
