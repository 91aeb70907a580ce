"""Readers of X-VLM's record formats (spec section 4); real files work unchanged.

- image-text JSON-lines: ``caption`` (str or list), image as ``image_rpath`` or base64 ``binary``;
- region JSON-lines: ``elems`` of ``{caption, bb: [x, y, w, h], attributes?}`` plus optional image
  ``caption``; our world adds ``kind`` ("object" label or "region" description) to each elem;
- retrieval JSON: train = one entry per caption with ``image_id``; val/test = one entry per image
  with a caption list;
- grounding JSON: ``{image, text, ref_id}``; boxes come from ``bbox`` + ``width``/``height`` (our
  extension, since X-VLM keeps them in the REFER pickle).
Relative image paths resolve against ``root`` (by default the folder of the record file).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pillow_heif
from PIL import Image

# A library's HEIC/HEIF photos open here as they do in the app (app.library.decode registers the same
# opener), so the records ``multigrain export-labels`` writes of them can be trained on.
pillow_heif.register_heif_opener()


class RecordError(ValueError):
    """A record file or entry that cannot be used."""


@dataclass
class Elem:
    captions: list[str]
    box: tuple[float, float, float, float]
    attributes: list[str] = field(default_factory=list)
    kind: str = "region"  # "object" (a label) or "region" (a description); unknown sources count as regions


@dataclass
class ImageRecord:
    image: str | bytes  # path, or the encoded image bytes of a ``binary`` record
    captions: list[str]
    image_id: str
    elems: list[Elem] = field(default_factory=list)


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    """Objects of a JSON-lines file, or of every ``*.jsonl``/``*.json`` shard in a folder (sorted)."""
    p = Path(path)
    files = sorted(f for f in p.iterdir() if f.suffix in (".jsonl", ".json")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise RecordError(f"no JSON-lines records at {p}")
    for f in files:
        with open(f, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise RecordError(f"{f}:{number}: not JSON: {err}") from err


def _image_of(obj: dict, root: Path) -> str | bytes:
    if "binary" in obj:
        return base64.b64decode(obj["binary"])
    for key in ("image_rpath", "image"):
        if key in obj:
            path = Path(obj[key])
            return str(path if path.is_absolute() else root / path)
    raise RecordError(f"record has no image (image_rpath, image or binary): {sorted(obj)}")


def read_image_text(path: str | Path, root: str | Path | None = None) -> list[ImageRecord]:
    base = Path(root) if root else _default_root(path)
    out = []
    for i, obj in enumerate(iter_jsonl(path)):
        captions = _as_list(obj.get("caption"))
        if captions:
            out.append(ImageRecord(_image_of(obj, base), captions, str(obj.get("image_id", i))))
    return out


def read_regions(path: str | Path, root: str | Path | None = None) -> list[ImageRecord]:
    """Region records; invalid boxes (w or h <= 0, outside the image when its size is known) are skipped."""
    base = Path(root) if root else _default_root(path)
    out = []
    for i, obj in enumerate(iter_jsonl(path)):
        width, height = obj.get("width"), obj.get("height")
        elems = []
        for e in obj.get("elems", []):
            x, y, w, h = (float(v) for v in e["bb"])
            if w <= 0 or h <= 0 or x < 0 or y < 0:
                continue
            if width and height and (x + w > width + 1 or y + h > height + 1):
                continue
            captions = _as_list(e.get("caption"))
            if captions:
                elems.append(
                    Elem(captions, (x, y, w, h), _as_list(e.get("attributes")), e.get("kind", "region"))
                )
        captions = _as_list(obj.get("caption"))
        if elems or captions:
            out.append(ImageRecord(_image_of(obj, base), captions, str(obj.get("image_id", i)), elems))
    return out


def _default_root(path: str | Path) -> Path:
    """Our world's records sit one folder below its root; X-VLM's real files use absolute paths."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    return folder.parent if folder.name in ("pretrain", "retrieval", "grounding") else folder


def read_json_list(path: str | Path) -> list[dict]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RecordError(f"cannot read {p}: {err}") from err
    if not isinstance(data, list):
        raise RecordError(f"{p}: expected a JSON list")
    return data


def read_retrieval_train(path: str | Path, root: str | Path | None = None) -> list[ImageRecord]:
    """One record per caption; ``image_id`` identifies the image (multi-positive ITC, ITM negatives)."""
    base = Path(root) if root else _default_root(path)
    return [
        ImageRecord(_image_of(e, base), [e["caption"]], str(e.get("image_id", e["image"])))
        for e in read_json_list(path)
    ]


def read_retrieval_eval(path: str | Path, root: str | Path | None = None) -> list[ImageRecord]:
    """One record per image with all its captions (file order defines txt2img / img2txt)."""
    base = Path(root) if root else _default_root(path)
    return [
        ImageRecord(_image_of(e, base), _as_list(e["caption"]), str(e.get("image_id", i)))
        for i, e in enumerate(read_json_list(path))
    ]


@dataclass
class GroundingRecord:
    image: str | bytes
    text: str
    box: tuple[float, float, float, float]  # x, y, w, h in original pixels
    ref_id: int


def read_grounding(path: str | Path, root: str | Path | None = None) -> list[GroundingRecord]:
    base = Path(root) if root else _default_root(path)
    out = []
    for e in read_json_list(path):
        if "bbox" not in e:
            raise RecordError(
                f"{path}: grounding entries need 'bbox' [x, y, w, h] (ref_id {e.get('ref_id')})"
            )
        out.append(
            GroundingRecord(
                _image_of(e, base), e["text"], tuple(float(v) for v in e["bbox"]), int(e["ref_id"])
            )
        )
    return out


def open_image(image: str | bytes) -> Image.Image:
    """Decode a record's image as RGB."""
    try:
        img = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else Image.open(image)
        return img.convert("RGB")
    except (OSError, ValueError) as err:
        where = "embedded image" if isinstance(image, bytes) else image
        raise RecordError(f"cannot read image {where}: {err}") from err
