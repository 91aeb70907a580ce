"""generate_world: split sizes, the worker pool, and the summary.

Image indices run over the whole world: test first, then val, then train, so the test set of a seed
stays the same when only n changes (with the same test size).  Workers write their own JPEGs and send
back plain records, which the parent writes in index order.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .backgrounds import BACKGROUNDS
from .catalogue import COLOUR_NAMES, KINDS
from .degrade import encode_jpeg
from .personal import TEACH_PHOTOS, generate_personal
from .scene import build_scene
from .sprites import check_font
from .writer import MIN_REFERENT_AREA, WorldWriter, scene_records, write_json

GENERATOR_VERSION = "multigrain-world-2"  # 2: grounding split keeps referents >= 2 % of the image
SPLITS = ("train", "val", "test")


class WorldArgumentError(ValueError):
    """A bad size, seed or area given to the generator: the message names the argument."""


def split_sizes(n: int, test_size: int | None, val_size: int | None) -> dict[str, int]:
    if n < 1:
        raise WorldArgumentError(f"n must be at least 1, got {n}")
    test = min(1000, n // 10) if test_size is None else test_size
    val = min(500, n // 20) if val_size is None else val_size
    if test_size is None and n >= 2:
        test = max(test, 1)
    if test < 0 or val < 0 or test + val > n:
        raise WorldArgumentError(f"test ({test}) + val ({val}) must be non-negative and at most n ({n})")
    return {"train": n - test - val, "val": val, "test": test}


def split_of(index: int, sizes: dict[str, int]) -> str:
    if index < sizes["test"]:
        return "test"
    if index < sizes["test"] + sizes["val"]:
        return "val"
    return "train"


# Worker state, set once per process by _init (the pool pickles only the index per task).
_JOB: dict[str, Any] = {}


def _init(out_dir: str, seed: int, sizes: dict[str, int], min_referent_area: float) -> None:
    _JOB.update(out_dir=Path(out_dir), seed=seed, sizes=sizes, min_referent_area=min_referent_area)


def _make(index: int) -> dict[str, Any]:
    split = split_of(index, _JOB["sizes"])
    scene = build_scene(_JOB["seed"], index)
    rec = scene_records(scene, split, _JOB["min_referent_area"])
    (_JOB["out_dir"] / rec["image"]).write_bytes(encode_jpeg(scene.image, scene.quality))
    return rec


def _records(
    out_dir: Path, seed: int, sizes: dict[str, int], n: int, workers: int, min_referent_area: float
) -> Iterator[dict[str, Any]]:
    job = (str(out_dir), seed, sizes, min_referent_area)
    if workers <= 1:
        _init(*job)
        yield from map(_make, range(n))
        return
    # spawn, not fork: the caller may have torch or threads loaded, which fork does not copy safely.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init, initargs=job) as pool:
        yield from pool.imap(_make, range(n), chunksize=8)


def generate_world(
    out_dir: Path,
    n: int,
    seed: int,
    *,
    test_size: int | None = None,
    val_size: int | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    min_referent_area: float = MIN_REFERENT_AREA,
    personal: int = 0,
) -> dict:
    """Write a synthetic world of n scenes to out_dir and return a summary of what was written.

    ``min_referent_area`` (share of the image) decides which referring expressions enter the
    grounding split; 0 keeps all of them, as version 1 of the generator did.  ``personal`` > 0 also
    writes personal/ (world/personal.py): that many photos of each named individual and as many
    look-alike photos per kind; 0 writes nothing there and leaves every other byte as it was."""
    check_font()
    if seed < 0:
        raise WorldArgumentError(f"seed must be non-negative, got {seed}")
    if not 0.0 <= min_referent_area < 1.0:
        raise WorldArgumentError(
            f"min_referent_area is a share of the image in [0, 1), got {min_referent_area}"
        )
    if personal and personal <= TEACH_PHOTOS:
        raise WorldArgumentError(
            f"personal photos per individual must exceed the {TEACH_PHOTOS} teaching photos, got {personal}"
        )
    out_dir = Path(out_dir)
    sizes = split_sizes(n, test_size, val_size)
    for split in SPLITS:
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    writer = WorldWriter(out_dir, sizes)
    n_captions = n_regions = n_objects = 0
    kinds_used: set[str] = set()
    backgrounds_used: set[str] = set()
    try:
        for done, rec in enumerate(_records(out_dir, seed, sizes, n, workers, min_referent_area), start=1):
            writer.add(rec)
            n_captions += len(rec["captions"])
            n_regions += rec["n_regions"]
            n_objects += len(rec["kinds"])
            kinds_used.update(rec["kinds"])
            backgrounds_used.add(rec["background"])
            if progress is not None:
                progress(done, n)
    finally:
        writer.close()
    write_json(
        out_dir / "world.json",
        {
            "generator": GENERATOR_VERSION,
            "seed": seed,
            "n": n,
            "min_referent_area": min_referent_area,
            "splits": sizes,
            "kinds": [
                {
                    "name": k.name,
                    "plural": k.plural,
                    "emoji": k.emoji,
                    "category": k.category,
                    "colourable": k.colourable,
                }
                for k in KINDS
            ],
            "backgrounds": [{"name": b.name, "phrases": list(b.phrases)} for b in BACKGROUNDS],
            "colours": list(COLOUR_NAMES),
        },
    )
    extra = generate_personal(out_dir, seed, personal) if personal else {}
    seconds = time.perf_counter() - start
    return {
        **extra,
        "out_dir": str(out_dir),
        "images": n,
        "splits": sizes,
        "captions": n_captions,
        "regions": n_regions,
        "objects": n_objects,
        "kinds_used": sorted(kinds_used),
        "backgrounds_used": sorted(backgrounds_used),
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 2) if seconds > 0 else None,
    }
