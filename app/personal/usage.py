"""Taught names at query time: the library's names that this bundle can use, and texts encoded with them.

Search and grounding ask here rather than calling ``runtime.encode_texts`` directly, so a query that
holds a taught name ("Rex on the beach") reaches the text graph with the name's learned embedding, and
a query without one is encoded exactly as before (the runtime's plain path, nothing else passed).
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
    """The names with learned parameters for ``runtime``'s bundle (or its checkpoint); None when there
    are none, or the bundle cannot take names (an older format: it searches without them)."""
    if db is None or not getattr(runtime, "takes_names", False):
        return None
    weights = (runtime.manifest.get("source") or {}).get("weights_sha256")
    try:
        table = name_table(db, runtime.identity, weights, runtime.name_table_shape())
    except sqlite3.OperationalError:  # a library opened read-only before schema 4 has no names table
        return None
    return table or None


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


def names_at(db_path: str | Path, runtime: Any) -> NameTable | None:
    """``names_for`` the library file at ``db_path`` (opened read-only for the call; None if absent)."""
    from app.library.db import open_db

    if not Path(db_path).is_file():
        return None
    db = open_db(db_path, writable=False)
    try:
        return names_for(db, runtime)
    finally:
        db.close()
