"""``multigrain demo``: a small photo library from the synthetic world, indexed and searched.

Generates ``--photos`` scenes, files them in four "album" folders with file dates spread over four
years and a caption sidecar on one photo in ten, indexes them with the bundle, runs sample searches
chosen from what the generated scenes hold (a small object, a colour, a relation, a negative term,
an example image, a caption), prints the results and draws a contact sheet with each text result's
grounded box and scores.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.drawing import Tile, contact_sheet, draw_box
from app.grounding import ground_image
from app.home import LIBRARY_FOLDER, thumbs_dir
from app.library.decode import decode_image
from app.query import Query, make_query
from app.search import Searcher
from core.errors import KnownError

ALBUMS = ("2021 holidays", "2022 garden", "2023 city", "2024 friends")
CAPTION_EVERY = 10
RELATION = re.compile(r"\b(left of|right of|next to|above|below|under|over|beneath|on top of)\b")


@dataclass(frozen=True)
class Sample:
    title: str
    query: Query
    ground_text: str | None  # what to box in each result


def _photos(world: Path, out: Path, records: list[dict[str, Any]]) -> Path:
    """Copy the scenes into album folders, with spread file dates and a few caption sidecars."""
    photos = out / "photos"
    if photos.exists():
        shutil.rmtree(photos)
    for i, rec in enumerate(records):
        album = ALBUMS[i * len(ALBUMS) // len(records)]
        year = 2021 + ALBUMS.index(album)
        target = photos / album / Path(rec["image"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(world / rec["image"], target)
        when = datetime(year, 1 + i % 12, 1 + i % 28, 12).timestamp()
        os.utime(target, (when, when))
        if i % CAPTION_EVERY == 0:
            (target.parent / f"{target.name}.txt").write_text(rec["caption"][0])
    return photos


def _samples(world: Path, records: list[dict[str, Any]], photos: Path) -> list[Sample]:
    objects = json.loads((world / "objects" / "test.json").read_text())
    grounding = json.loads((world / "grounding" / "test.json").read_text())
    small = collections.Counter(
        (o["kind"], o["colour"]) for r in objects for o in r["objects"] if o["size"] == "small"
    )
    coloured = collections.Counter(
        (o["kind"], o["colour"]) for r in objects for o in r["objects"] if o["colour"]
    )
    kinds = collections.Counter(o["kind"] for r in objects for o in r["objects"])
    together = collections.Counter(
        (a, b)
        for r in objects
        for a in {o["kind"] for o in r["objects"]}
        for b in {o["kind"] for o in r["objects"]}
        if a != b
    )
    samples = []
    if small:
        kind, colour = next((k for k, _ in small.most_common() if k[1]), small.most_common(1)[0][0])
        text = " ".join(w for w in ("a small", colour, kind) if w)
        samples.append(Sample(f"small object: {text}", make_query(text), text))
    if coloured:
        kind, colour = coloured.most_common(1)[0][0]
        text = f"a {colour} {kind}"
        samples.append(Sample(f"colour: {text}", make_query(text), text))
    relation = next((g["text"] for g in grounding if RELATION.search(g["text"])), None)
    if relation:
        samples.append(Sample(f"relation: {relation}", make_query(relation), relation))
    if kinds:
        kind = kinds.most_common(1)[0][0]
        other = max((b for (a, b) in together if a == kind), key=lambda b: together[(kind, b)], default=None)
        text = f'{kind} -"{other}"' if other else kind
        samples.append(Sample(f"negative: {text}", make_query(text), kind))
    example = sorted(photos.rglob("*.jpg"))[len(records) // 2]
    samples.append(Sample(f"example image: {example.name}", make_query(image=example), None))
    captioned = sorted(photos.rglob("*.jpg.txt"))
    if captioned:
        text = captioned[0].read_text().strip()
        samples.append(Sample(f"caption words: {text}", make_query(text, folder=str(photos)), text))
    return samples


def run_demo(args: argparse.Namespace) -> int:
    from app import commands
    from app.index_library import index_library
    from app.library.db import open_db
    from world import generate_world

    out = Path(args.out).resolve()
    if args.photos < 8:
        raise KnownError("--photos must be at least 8")
    world = out / "world"
    if (
        not (world / "retrieval" / "test.json").is_file()
        or len(json.loads((world / "retrieval" / "test.json").read_text())) != args.photos
    ):
        print(f"generating {args.photos} scenes in {world}")
        shutil.rmtree(world, ignore_errors=True)
        generate_world(world, args.photos, args.seed, test_size=args.photos, val_size=0, workers=2)
    records = json.loads((world / "retrieval" / "test.json").read_text())
    photos = _photos(world, out, records)
    db_path = out / LIBRARY_FOLDER / "library.db"  # apart from the photos a person browses (app.home)
    runtime = commands.load_model(args)
    db = open_db(db_path)
    update = index_library(db, db_path, runtime, [str(photos)], thumbs_dir(db_path))
    counts = update.report.counts
    print(f"indexed {counts.total} photos ({counts.encoded} encoded): {update.cache.n} searchable")
    searcher = Searcher(db, db_path, runtime)
    rows = []
    for sample in _samples(world, records, photos):
        response = searcher.search(sample.query, top=4)
        note = f"{response.matched} of {response.considered} above the cutoff"
        if not response.hits:
            response = searcher.search(sample.query, top=4, use_cutoff=False)
            note += "; the best shown"
        print(f"\n{sample.title}: {note}")
        tiles = []
        for hit in response.hits:
            image = decode_image(hit.path).image
            label = f"{hit.score:.3f}" + (f" z {hit.z:.1f}" if hit.z is not None else "")
            lines = [label, Path(hit.path).name]
            if sample.ground_text and getattr(runtime, "has_box_head", False):
                g = ground_image(runtime, image, sample.ground_text)
                image = draw_box(image, g.box, f"{g.score:.2f}")
                lines[0] += f"  box {g.score:.2f}/{g.confidence:.1f}"
            print(f"  {lines[0]:34s} {os.path.relpath(hit.path, photos)}")
            tiles.append(Tile(image, tuple(lines)))
        rows.append((f"{sample.title} ({note})", tiles))
    sheet = out / "contact_sheet.png"
    contact_sheet(rows).save(sheet)
    print(f"\nwrote {sheet} (score, robust z; box: region cosine / ITM logit of the grounded box)")
    return 0
