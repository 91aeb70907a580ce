"""``multigrain names look``: give the names that have no look one, from their photos in this library.

Names taught before looks existed (schema 4), and names imported from a version-1 concept pack, are
searched by their box alone. Their look needs no torch and no learning: only their labelled photos,
cropped at their boxes and run through the bundle's vision graph, as teaching does now
(``app.personal.teach.look_of``). A photo is found by its content hash, so a moved file still counts;
a name none of whose photos is in the library keeps searching by its box alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.library.decode import DecodeError, decode_image
from app.library.store import paths_of_hashes
from app.personal.sharing import ImportedName
from app.personal.store import NameRow, labels_of, learned_for, list_names, store_look
from app.personal.teach import look_of


@dataclass(frozen=True)
class LookResult:
    name: str
    photos: int  # labelled photos
    used: int  # of them, read from this library to make the look (0: none was found or readable)
    had_one: bool  # it already had a look for this bundle: left as it was


def fill_looks(db: Database, runtime: Any, only: set[str] | None = None) -> list[LookResult]:
    """A look for every name (of ``only``, when given) learned for ``runtime``'s bundle (or its
    checkpoint) that lacks one."""
    weights = (runtime.manifest.get("source") or {}).get("weights_sha256")
    results = []
    for row in list_names(db):
        if only is not None and row.name not in only:
            continue
        found = learned_for(db, row.id, runtime.identity, weights)
        if found is None:
            continue  # nothing learned for this model: no look could be used with it
        learned, _ = found
        labels = labels_of(db, row.id)
        if learned.look is not None:
            results.append(LookResult(row.name, len(labels), 0, True))
            continue
        results.append(_fill(db, runtime, row, learned.model, labels))
    return results


def _fill(db: Database, runtime: Any, row: NameRow, model: str, labels: list) -> LookResult:
    paths = paths_of_hashes(db, (label.content_hash for label in labels))
    images, boxes = [], []
    for label in labels:
        path = paths.get(label.content_hash)
        if path is None:
            continue
        try:
            images.append(decode_image(path, 2 * int(runtime.image_size)).image)
        except (DecodeError, OSError):
            continue  # gone or unreadable since it was indexed: the look is made from the others
        boxes.append(label.box)
    if images:
        store_look(db, row.id, model, look_of(runtime, images, boxes))
    return LookResult(row.name, len(labels), len(images), False)


def looks_after_import(db: Database, bundle: Path, done: list[ImportedName]) -> list[LookResult]:
    """Looks for the names just imported from a pack without them (version 1), from their teaching photos
    that this library has; the bundle's runtime is loaded only when there is one to make."""
    wanted = {one.row.name for one in done if one.item.look is None and one.linked}
    if not wanted:
        return []
    from app.library.encoder import load_runtime

    return [r for r in fill_looks(db, load_runtime(bundle, providers="cpu"), wanted) if r.used]
