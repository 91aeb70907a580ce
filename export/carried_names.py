"""Taught names a bundle carries: ``names.json`` beside the graphs (bundle format 3).

A bundle exported "with my things" (``multigrain export-things``) brings a library's taught names to
any library that uses it. They are carried as data, not baked into the text graph: the graph is the
very graph of a plain bundle of the same checkpoint and variant, and the runtime feeds the carried rows
to its ``name_embeddings`` input exactly as it feeds a library's own names. So the rows stay float32 in
an int8 bundle (the input is not quantised), a library's own names can join the bundle's at query time
(its own win on a clash: ``app.personal.usage``), and the named path is checked against the engine's
named encoder the way export already checks it for random rows.

The file: ``{"format": 1, "hidden": H, "names": [{"name", "kind", "slot", "embedding": [H floats]}]}``;
a name with a look (``core.name_look``) has ``"look": [D floats]`` too, of unit length. The key is left
out for a name without one, so a bundle whose names have no looks keeps the bytes (and identity) it had.
JSON numbers hold a float32 exactly (a float32 widened to a double prints and reads back bit for bit),
so the file is readable and loses nothing. Its sha256 is in the manifest and it is part of the bundle's
identity (``export.bundle.bundle_identity``). Torch-free: the app and the runtime read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.name_look import is_unit_length
from core.names import BadNameError, NameTable, name_key
from export.bundle import Bundle, BundleError

NAMES_FORMAT = 1
MAX_NAMES_BYTES = 16 * 2**20  # 64 names of 768 floats print as about 1 MB; far more is not a names file
MAX_KIND_CHARS = 100
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class CarriedName:
    name: str  # as the person typed it
    kind: str  # what it is ("dog"), as taught
    slot: int  # the row of ``name_embeddings`` it reads (its placeholder ``[unused<slot>]``)
    embedding: np.ndarray  # (H,) float32: the learned input embedding
    look: np.ndarray | None = None  # (D,) float32 of unit length: what the thing looks like close up


def names_json(names: Sequence[CarriedName], hidden: int) -> str:
    """The file's text, in slot order (the same names give the same bytes, hence the same identity)."""
    entries = []
    for n in sorted(names, key=lambda n: n.slot):
        entry: dict[str, Any] = {
            "name": n.name,
            "kind": n.kind,
            "slot": int(n.slot),
            "embedding": [float(v) for v in np.asarray(n.embedding, np.float32)],
        }
        if n.look is not None:
            entry["look"] = [float(v) for v in np.asarray(n.look, np.float32)]
        entries.append(entry)
    return json.dumps({"format": NAMES_FORMAT, "hidden": int(hidden), "names": entries}) + "\n"


def write_names(
    path: str | Path, names: Sequence[CarriedName], hidden: int, slots: int, embed: int | None = None
) -> None:
    """Write a names file, refusing (``BundleError``) what ``parse_names`` would refuse on reading."""
    text = names_json(names, hidden)
    parse_names(text.encode(), slots, hidden, str(path), embed)
    Path(path).write_text(text, encoding="utf-8")


def read_names(path: str | Path, slots: int, hidden: int, embed: int | None = None) -> list[CarriedName]:
    """A names file, checked (``parse_names``); ``BundleError`` says what is wrong with it."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_NAMES_BYTES:
            raise BundleError(f"{file}: {file.stat().st_size:,} bytes is too large for a names file")
        text = file.read_bytes()
    except OSError as err:
        raise BundleError(f"cannot read the names file {file}: {err.strerror or err}") from err
    return parse_names(text, slots, hidden, str(file), embed)


def _bad(where: str, why: str) -> BundleError:
    return BundleError(f"{where}: not a usable names file: {why}")


def _finite(values: Any, size: int | None) -> bool:
    """A list of ``size`` (any, when None) JSON numbers that are finite as float32 (1e39 is not)."""
    if not isinstance(values, list) or (size is not None and len(values) != size):
        return False
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return numbers and all(abs(v) <= FLOAT32_MAX for v in values)  # NaN fails the test too


def _look(where: str, name: str, values: Any, embed: int | None) -> np.ndarray | None:
    if values is None:
        return None
    if not _finite(values, embed) or not values:
        width = f"{embed} " if embed is not None else ""
        raise _bad(where, f"{name!r} has a look that is not {width}finite numbers")
    look = np.asarray(values, dtype=np.float32)
    if not is_unit_length(look):
        raise _bad(where, f"{name!r} has a look that is not of unit length")
    return look


def _entry(where: str, i: int, entry: Any, slots: int, hidden: int, embed: int | None = None) -> CarriedName:
    if not isinstance(entry, dict):
        raise _bad(where, f"entry {i + 1} is not an object")
    name, kind, slot, rows = (entry.get(k) for k in ("name", "kind", "slot", "embedding"))
    if not isinstance(name, str):
        raise _bad(where, f"entry {i + 1} has no name")
    try:
        name_key(name)
    except BadNameError as err:
        raise _bad(where, str(err)) from err
    if not isinstance(kind, str) or len(kind) > MAX_KIND_CHARS:
        raise _bad(where, f"{name!r} has no kind word (or one over {MAX_KIND_CHARS} characters)")
    if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < slots:
        raise _bad(where, f"{name!r} has slot {slot!r}; slots run from 0 to {slots - 1}")
    if not isinstance(rows, list) or len(rows) != hidden:
        size = len(rows) if isinstance(rows, list) else "no"
        raise _bad(where, f"{name!r} has {size} embedding values; this model's text width is {hidden}")
    # Finite as float32, not only as a JSON number: 1e39 would become infinity in the graph's input.
    if not _finite(rows, hidden):
        raise _bad(where, f"{name!r} has an embedding value that is not a finite number")
    look = _look(where, name, entry.get("look"), embed)
    return CarriedName(name, kind, slot, np.asarray(rows, dtype=np.float32), look)


def parse_names(
    text: bytes, slots: int, hidden: int, where: str, embed: int | None = None
) -> list[CarriedName]:
    """The names in a names file's bytes, refused (``BundleError``, naming ``where``) unless every entry
    is a valid name with a kind, a slot in ``[0, slots)`` and ``hidden`` finite values (and a look, if
    any, of ``embed`` finite values of unit length), and no two entries share a name (in any case) or a
    slot."""
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _bad(where, f"not JSON ({err})") from err
    if not isinstance(data, dict) or data.get("format") != NAMES_FORMAT:
        raise _bad(where, f"not a names file of format {NAMES_FORMAT}")
    if data.get("hidden") != hidden:
        raise _bad(where, f"its rows are {data.get('hidden')!r} wide; this model's text width is {hidden}")
    entries = data.get("names")
    if not isinstance(entries, list) or len(entries) > slots:
        raise _bad(where, f"it must list at most {slots} names")
    names = [_entry(where, i, entry, slots, hidden, embed) for i, entry in enumerate(entries)]
    widths = {n.look.size for n in names if n.look is not None}
    if len(widths) > 1:
        raise _bad(where, f"its looks are of {len(widths)} different widths")
    keys, taken = set(), set()
    for n in names:
        key = name_key(n.name)
        if key in keys:
            raise _bad(where, f"the name {n.name!r} is listed twice")
        if n.slot in taken:
            raise _bad(where, f"slot {n.slot} is given to two names")
        keys.add(key)
        taken.add(n.slot)
    return names


def names_table(names: Sequence[CarriedName], slots: int, hidden: int) -> NameTable:
    """The text graph's (slots, hidden) input for these names; rows of unused slots stay zero."""
    table = np.zeros((slots, hidden), np.float32)
    for n in names:
        table[n.slot] = n.embedding
    looks = {n.name: n.look for n in names if n.look is not None}
    return NameTable({n.name: n.slot for n in names}, table, looks)


def names_shape(manifest: dict[str, Any], where: str | Path) -> tuple[int, int]:
    """(slots, text width) of the ``name_embeddings`` a bundle's text graph takes, from its manifest."""
    config = manifest["config"] if isinstance(manifest["config"], dict) else {}
    text = config.get("text") if isinstance(config.get("text"), dict) else {}
    names = manifest.get("names") if isinstance(manifest.get("names"), dict) else {}
    slots, hidden = names.get("slots"), text.get("hidden_size")
    if not isinstance(slots, int) or not isinstance(hidden, int) or slots < 1 or hidden < 1:
        raise BundleError(f"{where}: unreadable manifest: the names' slots or the text width are missing")
    return slots, hidden


def bundle_names(bundle: Bundle) -> list[CarriedName]:
    """The names ``bundle`` carries (none for a bundle without ``names.json``), checked against the
    shape its text graph takes."""
    if bundle.names_file is None:
        return []
    return read_names(
        bundle.names_file, *names_shape(bundle.manifest, bundle.path), look_width(bundle.manifest)
    )


def look_width(manifest: dict[str, Any]) -> int | None:
    """The width of the embeddings a carried look is compared with (the bundle's ``embed_dim``)."""
    width = manifest.get("embed_dim")
    return width if isinstance(width, int) and not isinstance(width, bool) and width > 0 else None


def carried_summary(names: Sequence[CarriedName]) -> str:
    """``Rex (dog), Bella (dog)``: for messages."""
    return ", ".join(f"{n.name} ({n.kind})" for n in sorted(names, key=lambda n: n.slot))
