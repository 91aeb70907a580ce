"""Taught names at query time: the library's names that this bundle can use, and texts encoded with them.

Search and grounding ask here rather than calling ``runtime.encode_texts`` directly, so a query that
holds a taught name ("Rex on the beach") reaches the text graph with the name's learned embedding, and
a query without one is encoded exactly as before (the runtime's plain path, nothing else passed).

A bundle exported with someone's things carries names of its own (export/carried_names.py). A library
that uses it finds them with no teaching of its own; where the library has taught a name spelled the
same (in any case), the library's own wins: it was learned from this person's photos.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from app.personal.store import name_table
from core.names import NameTable, name_key, name_pattern
from core.text import pre_caption

MAX_QUERY_WORDS = 1000  # names are found in the whole query, however long (the text graph trims later)


def names_for(db: Database | None, runtime: Any) -> NameTable | None:
    """The names a query may use with ``runtime``'s bundle: the library's own with learned parameters for
    the bundle (or its checkpoint), and those the bundle carries (``merge_names``). None when there are
    none, or the bundle cannot take names (an older format: it searches without them)."""
    if not getattr(runtime, "takes_names", False):
        return None
    own = None
    if db is not None:
        weights = (runtime.manifest.get("source") or {}).get("weights_sha256")
        try:
            own = name_table(db, runtime.identity, weights, runtime.name_table_shape(), runtime.embed_dim)
        except sqlite3.OperationalError:  # a library opened read-only before schema 4 has no names table
            own = None
    return merge_names(own, getattr(runtime, "carried_names", None)) or None


def merge_names(own: NameTable | None, carried: NameTable | None) -> NameTable | None:
    """The library's own names, then the bundle's carried ones that the library has not taught itself.

    A carried name whose slot one of the library's names holds moves to a free slot: the slot only says
    which row of the text graph's input its placeholder reads, so the move changes nothing it computes.
    When all slots are taken, the carried names that do not fit are left out (a library and a bundle
    would need more than 64 names between them)."""
    if not carried:
        return own
    if not own:
        return carried
    table = own.embeddings.copy()
    slots = dict(own.slots)
    taught = {name_key(name) for name in slots}
    used = set(slots.values())
    free = [s for s in range(len(table)) if s not in used]
    for name, slot in sorted(carried.slots.items(), key=lambda item: item[1]):
        if name_key(name) in taught:
            continue  # the library's own teaching wins
        if slot in used:
            if not free:
                continue
            row, slot = carried.embeddings[slot], free.pop(0)
        else:
            row = carried.embeddings[slot]
            free = [s for s in free if s != slot]
        table[slot] = row
        slots[name] = slot
        used.add(slot)
    looks = dict(own.looks)
    looks.update((n, v) for n, v in carried.looks.items() if n in slots and n not in own.slots)
    return NameTable(slots, table, looks)


def encode_texts(
    runtime: Any, texts: Sequence[str], names: NameTable | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``runtime.encode_texts`` with the taught names, when there are any."""
    if names:
        return runtime.encode_texts(texts, names=names)
    return runtime.encode_texts(texts)


def names_in(text: str, names: NameTable | None) -> tuple[str, ...]:
    """The taught names ``text`` holds, spelled as taught, each once, in the order they first appear;
    whole words in any case, as the text graph reads them (``core.names.token_ids``)."""
    if not names:
        return ()
    pattern = name_pattern(list(names.slots))
    assert pattern is not None
    by_key = {name_key(n): n for n in names.slots}
    found = pattern.findall(pre_caption(text, MAX_QUERY_WORDS))
    return tuple(dict.fromkeys(by_key[key] for key in found))


def has_other_words(text: str, names: NameTable | None) -> bool:
    """Whether ``text`` says more than its taught names ("Rex on the beach", not "Rex" or "rex, Bella")."""
    pattern = name_pattern(list(names.slots)) if names else None
    words = pre_caption(text, MAX_QUERY_WORDS)
    return bool((pattern.sub(" ", words) if pattern else words).split())


def names_at(db_path: str | Path, runtime: Any) -> NameTable | None:
    """``names_for`` the library file at ``db_path`` (opened read-only for the call; without the file,
    the names the bundle carries)."""
    from app.library.db import open_db

    if not Path(db_path).is_file():
        return names_for(None, runtime)  # the names the bundle carries, if any
    db = open_db(db_path, writable=False)
    try:
        return names_for(db, runtime)
    finally:
        db.close()
