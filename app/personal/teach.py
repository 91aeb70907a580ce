"""``multigrain teach``: learn a name from a few photos, with torch in a child process.

What this process does (no torch): check that the bundle can take names and knows its checkpoint,
decode the teaching photos upright, propose a box where none was given (grounding the kind word through
the runtime), and gather the negatives the child needs without re-encoding any library photo:
- other library photos' global embeddings, as the index stores them (same checkpoint, so the same space
  as the torch model's up to the bundle's drift);
- the other parts of the teaching photos: the library's candidate boxes (``regions.BOXES``) that cover
  little of the named thing; the child pools them from the teaching photos' tokens, which it has anyway.
The child (``engine.personal.job``) runs the teaching photos through the vision trunk (their image
tokens are not stored), learns the placeholder's embedding (the token method, docs/personal.md) and
writes it; this process stores it. A cancel (Ctrl+C) or a failure stores nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from app.library import store
from app.library.hashing import content_hash
from app.personal.store import Box, Label, LearnedName, NameRow, save_taught
from app.source_checkpoint import source_checkpoint
from app.torch_child import run_engine_module
from core.errors import KnownError
from core.name_look import look_crop, mean_look
from core.names import name_key
from core.region_boxes import BOXES
from core.text import EmptyTextError, pre_caption

MAX_PHOTOS = 20
MAX_NEGATIVES = 4096  # library photos contrasted with the name; more adds time, not much signal
OTHER_COVERAGE = 0.3  # a candidate box covering less of the named box than this is "something else"
STEPS = 40  # docs/personal.md: the token method's numbers were measured at 40 steps
LEARNING_RATE = 0.02
METHOD = "token"
# Shifted and rescaled copies of each box in the concept term (docs/personal.md: chosen on two worlds).
JITTER = 8
_BOX = re.compile(r"^(.*):\s*([-+0-9.eE]+),\s*([-+0-9.eE]+),\s*([-+0-9.eE]+),\s*([-+0-9.eE]+)$")


class TeachCancelled(KnownError):
    """Ctrl+C while teaching: nothing was stored."""


@dataclass(frozen=True)
class PhotoArg:
    path: str
    box: Box | None  # fractions of the upright photo; None: propose one


@dataclass(frozen=True)
class TeachReport:
    name: NameRow
    labels: list[Label]
    seconds: float  # the whole command, from the first photo decoded to the name stored
    child: dict[str, Any]  # the child's result.json (load and teaching seconds, losses)
    negatives: int


def parse_photo(text: str) -> PhotoArg:
    """``PHOTO`` or ``PHOTO:x,y,w,h`` with the box as fractions (0..1) of the upright photo."""
    match = _BOX.match(text)
    if match is None:
        return PhotoArg(text, None)
    x, y, w, h = (float(v) for v in match.groups()[1:])
    eps = 1e-6
    if not (0 <= x < 1 and 0 <= y < 1 and w > 0 and h > 0 and x + w <= 1 + eps and y + h <= 1 + eps):
        raise KnownError(
            f"{match.group(1)}: the box {x:g},{y:g},{w:g},{h:g} is not inside the photo; give x,y,w,h as "
            "fractions of its width and height (0.25,0.1,0.5,0.6 is a box from a quarter of the way in)"
        )
    return PhotoArg(match.group(1), (x, y, w, h))


def checkpoint_of(manifest: dict[str, Any], identity: str) -> tuple[Path, str]:
    """The torch checkpoint a bundle was exported from (and its weights' sha256), or a sentence why
    teaching cannot use this bundle."""
    return source_checkpoint(manifest, identity, "teaching")


def others_for(box: Box) -> list[list[float]]:
    """Candidate boxes that cover little of the named box: the rest of the photo, as hard negatives."""
    x, y, w, h = box
    out = []
    for bx, by, bw, bh in BOXES.tolist():
        ix = max(0.0, min(x + w, bx + bw) - max(x, bx))
        iy = max(0.0, min(y + h, by + bh) - max(y, by))
        if ix * iy < OTHER_COVERAGE * w * h:
            out.append([bx, by, bw, bh])
    return out


def library_negatives(db: Database, model: str, exclude: set[str]) -> np.ndarray:
    """Global embeddings (M, D) of library photos indexed with ``model``, not of the teaching photos;
    at most MAX_NEGATIVES, spread evenly over the library."""
    ids, matrix = store.load_embeddings(db, model)
    if not len(ids):
        return np.zeros((0, 0), np.float32)
    hashes = store.photo_hashes(db)
    keep = np.array([hashes.get(int(i)) not in exclude for i in ids], dtype=bool)
    matrix = matrix[keep]
    if len(matrix) > MAX_NEGATIVES:
        matrix = matrix[np.linspace(0, len(matrix) - 1, MAX_NEGATIVES).round().astype(int)]
    return np.ascontiguousarray(matrix, np.float32)


def _check_words(name: str, kind: str, photos: list[PhotoArg]) -> None:
    name_key(name)  # refuses a name that cannot be one
    try:
        pre_caption(kind, 10)
    except EmptyTextError as err:
        raise KnownError(f"--kind {kind!r} has no words: say what it is, e.g. --kind dog") from err
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise KnownError(f"teach a name from 1 to {MAX_PHOTOS} photos (got {len(photos)})")


def _labels(
    runtime: Any, kind: str, photos: list[PhotoArg], log: Callable[[str], None]
) -> tuple[list[Label], list[Any]]:
    """Each photo's label (a proposed box where none was given) and the decoded upright image."""
    from app.grounding import ground_image
    from app.library.decode import DecodeError, decode_image

    labels, images = [], []
    for photo in photos:
        try:
            digest = content_hash(photo.path)
            image = decode_image(photo.path, 2 * int(runtime.image_size)).image
        except DecodeError as err:
            raise KnownError(f"{photo.path}: {err}") from err
        box, proposed = photo.box, False
        if box is None:
            if not runtime.has_box_head:
                raise KnownError(f"{photo.path}: give its box (PHOTO:x,y,w,h); this bundle cannot find one")
            g = ground_image(runtime, image, kind)
            box, proposed = tuple(round(v, 4) for v in g.fraction), True
            shown = ",".join(f"{v:.3f}" for v in box)
            log(f"{photo.path}: no box given; proposed {shown} (x,y,w,h) by finding {kind!r}")
        labels.append(Label(digest, os.path.abspath(photo.path), box, proposed))
        images.append(image)
    return labels, images


def look_of(runtime: Any, images: list[Any], boxes: list[Box]) -> np.ndarray:
    """The name's look (``core.name_look``): its boxes cropped from the decoded photos, through the
    bundle's vision graph, as search crops the box the name grounds to. These few teaching photos are
    the only ones encoded again."""
    crops = [look_crop(image, box) for image, box in zip(images, boxes, strict=True)]
    embeds, _ = runtime.encode_images(crops)
    return mean_look(embeds)


def _run_child(folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the torch job, forwarding its lines; on Ctrl+C stop it and store nothing."""
    try:
        code, tail = run_engine_module("engine.personal.job", [str(folder)], lambda line: log(f"  {line}"))
    except KeyboardInterrupt:
        raise TeachCancelled("cancelled: nothing was taught or stored") from None
    if code == 130:
        raise TeachCancelled("cancelled: nothing was taught or stored")
    if code != 0 or not (folder / "token.npy").is_file():
        last = tail[-1] if tail else f"exit code {code}"
        raise KnownError(f"teaching failed, nothing was stored: {last}")
    return json.loads((folder / "result.json").read_text())


def teach(
    db: Database,
    runtime: Any,
    name: str,
    kind: str,
    photos: list[PhotoArg],
    *,
    steps: int = STEPS,
    threads: int = 0,
    log: Callable[[str], None] = print,
) -> TeachReport:
    """Teach ``name`` (a ``kind``) from ``photos`` and store it in the library for this bundle."""
    _check_words(name, kind, photos)
    if not runtime.takes_names:
        raise KnownError(
            f"the model bundle {runtime.identity} is too old to learn names (bundle format "
            f"{runtime.manifest['format_version']}): export it again with `multigrain export`"
        )
    checkpoint, weights = checkpoint_of(runtime.manifest, runtime.identity)
    from app.personal.store import find_name

    existing = find_name(db, name)
    slot = existing.slot if existing else None
    start = time.perf_counter()
    labels, images = _labels(runtime, kind, photos, log)
    pixels = runtime.preprocess(images)
    look = look_of(runtime, images, [label.box for label in labels])
    negatives = library_negatives(db, runtime.identity, {label.content_hash for label in labels})
    if not len(negatives):
        log("note: no other photo of this library is indexed with this bundle; teaching without them")
        negatives = np.zeros((0, runtime.embed_dim), np.float32)
    log(f"teaching {name!r} ({kind}) from {len(labels)} photo(s), against {len(negatives)} library photos")
    with tempfile.TemporaryDirectory(prefix="multigrain-teach-") as scratch:
        folder = Path(scratch)
        np.save(folder / "pixels.npy", pixels)
        np.save(folder / "negatives.npy", negatives)
        spec = {
            "checkpoint": str(checkpoint),
            "name": name,
            "kind": kind,
            "slot": 0 if slot is None else slot,  # the slot only names the placeholder while teaching
            "boxes": [list(label.box) for label in labels],
            "others": [others_for(label.box) for label in labels],
            "method": METHOD,
            "steps": steps,
            "lr": LEARNING_RATE,
            "jitter": JITTER,
            "threads": threads,
        }
        (folder / "spec.json").write_text(json.dumps(spec))
        result = _run_child(folder, log)
        token = np.load(folder / "token.npy")
    learned = LearnedName(
        runtime.identity, weights, METHOD, token, len(labels), float(result["seconds_teach"]), look
    )
    row = save_taught(db, name, kind, labels, learned)
    return TeachReport(row, labels, time.perf_counter() - start, result, len(negatives))
