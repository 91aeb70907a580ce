"""``multigrain export-labels``: the library's captions and taught names as X-VLM training records.

What a person told the library becomes what X-VLM trains on, in the formats ``multigrain train`` reads
(``core.records``; the paths in ``core.finetune``):
- every caption the library stores for a photo (typed in the window, a sidecar, XMP, EXIF description)
  is an image-caption record (and a retrieval entry per caption);
- every taught name's box is a region record's object, captioned with the name as a plain word
  ("Rex", "Rex the dog"), and a referring expression for grounding; the photo's image captions gain
  the same sentences. A full fine-tune learns the word itself, not the placeholder token teaching uses.

Photos are referenced by path, never copied. A photo whose file is gone, changed since the library read
it, or unreadable is skipped and counted. Boxes are turned from fractions of the upright photo into
pixels of the stored image, which is what the record loader sees (``core.orientation``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.library import store
from app.library.decode import MAX_DECODED_PIXELS, DecodeError, stored_view
from app.library.hashing import UnreadableFileError, content_hash
from app.personal.store import Label, NameRow, labels_of, list_names
from core import finetune
from core.errors import KnownError
from core.orientation import upright_fraction_to_stored_pixels

# A photo's captions in the order the window shows them (app.edit_caption.photo_caption): the person's
# own first. Every source is kept; the loader samples one caption per step.
CAPTION_SOURCES = ("user", "sidecar", "xmp", "exif")
NAME_SENTENCES = ("{name}", "{name} the {kind}")


@dataclass
class LabelReport:
    """What ``export_labels`` wrote, per kind of record, and what it skipped."""

    out: Path
    image_text: int = 0  # image-caption records (one per photo)
    captions: int = 0  # captions in them, the name sentences included
    regions: int = 0  # region records (photos with a taught name's box)
    boxes: int = 0  # name boxes in them
    grounding: int = 0  # referring expressions (one per box)
    retrieval: int = 0  # retrieval entries (one per caption)
    names: dict[str, int] = field(default_factory=dict)  # name -> photos its boxes come from
    missing: int = 0  # photos skipped: no file at any of their paths
    changed: int = 0  # photos skipped: the file differs from what the library read
    unreadable: int = 0  # photos skipped: not an image the loader can open, or too large

    def counts(self) -> dict[str, int]:
        return {
            "image_text": self.image_text,
            "captions": self.captions,
            "regions": self.regions,
            "boxes": self.boxes,
            "grounding": self.grounding,
            "retrieval": self.retrieval,
        }

    def skipped(self) -> dict[str, int]:
        return {"missing": self.missing, "changed": self.changed, "unreadable": self.unreadable}


@dataclass
class _Photo:
    """One photo's content with what is known of it."""

    digest: str
    captions: list[str] = field(default_factory=list)
    labels: list[tuple[NameRow, Label]] = field(default_factory=list)


def _library_photos(db: Database) -> dict[str, list[tuple[str, int, int]]]:
    by_hash: dict[str, list[tuple[str, int, int]]] = {}
    for digest, path, size, mtime_ns in store.readable_photo_files(db):
        by_hash.setdefault(digest, []).append((path, size, mtime_ns))
    return by_hash


def _gather(db: Database) -> list[_Photo]:
    """Every photo content that has a caption or a taught name's box, in a stable order."""
    photos: dict[str, _Photo] = {}
    for digest, by_source in store.all_captions(db).items():
        texts = [by_source[s] for s in CAPTION_SOURCES if by_source.get(s)]
        texts += [t for s, t in by_source.items() if s not in CAPTION_SOURCES and t]  # a future source
        photos.setdefault(digest, _Photo(digest)).captions = list(dict.fromkeys(texts))
    for row, label in _taught_labels(db):
        photos.setdefault(label.content_hash, _Photo(label.content_hash)).labels.append((row, label))
    return [photos[d] for d in sorted(photos)]


def _taught_labels(db: Database) -> list[tuple[NameRow, Label]]:
    try:
        return [(row, label) for row in list_names(db) for label in labels_of(db, row.id)]
    except sqlite3.OperationalError:  # a library on a read-only disk, from before names (schema 4)
        return []


def _same_file(path: str, size: int, mtime_ns: int) -> bool | None:
    """True: the file is as the library read it; False: it changed; None: there is no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size == size and st.st_mtime_ns == mtime_ns


def _locate(photo: _Photo, library: dict[str, list[tuple[str, int, int]]]) -> tuple[str | None, str]:
    """A path whose file still holds the photo's content, or None and why not ("missing", "changed")."""
    seen_changed = False
    for path, size, mtime_ns in library.get(photo.digest, []):
        same = _same_file(path, size, mtime_ns)
        if same:
            return path, ""
        seen_changed |= same is False
    # A name may have been taught from a photo outside the library's folders: its bytes decide.
    for path in dict.fromkeys(label.path for _, label in photo.labels):
        if not os.path.isfile(path):
            continue
        try:
            if content_hash(path) == photo.digest:
                return path, ""
        except UnreadableFileError:
            pass
        seen_changed = True
    return None, "changed" if seen_changed else "missing"


def _name_sentences(row: NameRow) -> list[str]:
    return [s.format(name=row.name, kind=row.kind) for s in NAME_SENTENCES]


def _pixels(box: Iterable[float]) -> list[float]:
    return [round(v, 2) for v in box]


@dataclass
class _Records:
    image_text: list[dict[str, Any]] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    grounding: list[dict[str, Any]] = field(default_factory=list)
    retrieval: list[dict[str, Any]] = field(default_factory=list)


def _add_photo(records: _Records, report: LabelReport, photo: _Photo, path: str) -> None:
    view = stored_view(path)
    if view.width * view.height > MAX_DECODED_PIXELS:
        raise DecodeError(f"too large for training's loader ({view.width} x {view.height})")
    name_captions = [s for row, _ in photo.labels for s in _name_sentences(row)]
    captions = list(dict.fromkeys(photo.captions + name_captions))
    records.image_text.append({"image": path, "caption": captions, "image_id": photo.digest})
    records.retrieval += [{"image": path, "caption": c, "image_id": photo.digest} for c in captions]
    report.image_text += 1
    report.captions += len(captions)
    if not photo.labels:
        return
    elems = []
    for row, label in photo.labels:
        box = _pixels(
            upright_fraction_to_stored_pixels(label.box, view.orientation, (view.width, view.height))
        )
        elems.append({"caption": _name_sentences(row), "bb": box, "kind": "object"})
        records.grounding.append(
            {
                "image": path,
                "text": row.name,
                "ref_id": len(records.grounding),
                "bbox": box,
                "width": view.width,
                "height": view.height,
            }
        )
        report.names[row.name] = report.names.get(row.name, 0) + 1
    records.regions.append(
        {
            "image": path,
            "width": view.width,
            "height": view.height,
            "caption": photo.captions,
            "image_id": photo.digest,
            "elems": elems,
        }
    )
    report.regions += 1
    report.boxes += len(elems)


def collect(db: Database, out: Path) -> tuple[_Records, LabelReport]:
    """The records of every usable photo, and the report (nothing is written)."""
    library = _library_photos(db)
    records, report = _Records(), LabelReport(out)
    for photo in _gather(db):
        path, why = _locate(photo, library)
        if path is None:
            report.changed += why == "changed"
            report.missing += why == "missing"
            continue
        try:
            _add_photo(records, report, photo, path)
        except DecodeError:
            report.unreadable += 1
    report.grounding, report.retrieval = len(records.grounding), len(records.retrieval)
    return records, report


def _check_target(out: Path) -> None:
    """Refuse a folder that holds anything but an earlier export's records (they are replaced)."""
    if out.exists() and not out.is_dir():
        raise KnownError(f"{out} is a file: give a folder for the records")
    if out.is_dir() and any(out.iterdir()) and not (out / finetune.SUMMARY).is_file():
        raise KnownError(
            f"{out} already holds other files: give a new or empty folder (an earlier export-labels "
            "folder is replaced)"
        )


def _write(stage: Path, records: _Records, summary: dict[str, Any]) -> None:
    def lines(relative: str, rows: list[dict[str, Any]]) -> None:
        path = stage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def array(relative: str, rows: list[dict[str, Any]]) -> None:
        path = stage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")

    lines(finetune.IMAGE_TEXT, records.image_text)
    lines(finetune.REGIONS, records.regions)
    array(finetune.GROUNDING, records.grounding)
    array(finetune.RETRIEVAL, records.retrieval)
    (stage / finetune.SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _replace(stage: Path, out: Path) -> None:
    stage.chmod(0o755)  # mkdtemp makes it private
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def export_labels(db: Database, db_path: Path, out: str | Path) -> LabelReport:
    """Write the library's captions and taught names as X-VLM records into the folder ``out`` (see
    the module docstring); refused, with nothing written, when no photo has anything to learn from."""
    out = Path(out).expanduser().absolute()
    _check_target(out)
    records, report = collect(db, out)
    if not records.image_text:
        skipped = sum(report.skipped().values())
        why = f" ({skipped} photos with labels were skipped: {_skipped_words(report)})" if skipped else ""
        raise KnownError(
            "the library has no captions and no taught names to fine-tune on" + why + ": add captions "
            "(in the window, or as sidecar files, then index) or teach a name first"
        )
    summary = {
        "library": str(db_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "records": report.counts(),
        "skipped": report.skipped(),
        "names": report.names,
        "files": {
            "image_text": finetune.IMAGE_TEXT,
            "regions": finetune.REGIONS,
            "grounding": finetune.GROUNDING,
            "retrieval": finetune.RETRIEVAL,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write(stage, records, summary)
        _replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _skipped_words(report: LabelReport) -> str:
    words = {
        "missing": "whose file is gone",
        "changed": "changed on disk since the library read them",
        "unreadable": "that the training loader cannot read (not an image here, or too large)",
    }
    return ", ".join(f"{_count(n, 'photo')} {words[k]}" for k, n in report.skipped().items() if n)


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def report_lines(report: LabelReport) -> list[str]:
    """What ``export-labels`` prints: the counts per kind of record, the names, what was skipped."""
    out = [
        f"wrote {report.out}:",
        f"  image-caption records: {_count(report.image_text, 'photo')}, "
        f"{_count(report.captions, 'caption')} ({finetune.IMAGE_TEXT})",
        f"  region records: {_count(report.regions, 'photo')} with "
        f"{_count(report.boxes, 'name box', 'name boxes')} ({finetune.REGIONS})",
        f"  grounding records: {report.grounding} ({finetune.GROUNDING})",
        f"  retrieval entries: {report.retrieval} ({finetune.RETRIEVAL})",
    ]
    if report.names:
        names = ", ".join(f"{name} ({_count(n, 'photo')})" for name, n in report.names.items())
        out.append(f"  names, as words: {names}")
    skipped = _skipped_words(report)
    out.append(f"  skipped: {skipped}" if skipped else "  skipped: none")
    return out
