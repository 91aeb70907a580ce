"""``status``'s check of a model bundle: every file's sha256 and the identity they give, cheap when
nothing changed.

Hashing a real bundle reads hundreds of megabytes, so each file's hash is remembered with its size and
modification time (``hash-cache.json`` in the app data folder) and computed again only when either
changed; an edit that keeps both (rare, and deliberate) is what ``multigrain verify`` is for.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from app.home import data_dir
from core.hashing import sha256_file
from export.bundle import Bundle, load_bundle

CACHE_FILE = "hash-cache.json"


class HashCache:
    """sha256 of files, keyed by absolute path and valid while (size, mtime_ns) stay the same."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = self._read()
        self.computed = 0  # files actually read in this process (tests count them)

    def _read(self) -> dict[str, list[Any]]:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no cache yet, or a damaged one: hash again
        return entries if isinstance(entries, dict) else {}

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = os.fspath(file.resolve())
        known = self.entries.get(key)
        if isinstance(known, list) and known[:2] == [st.st_size, st.st_mtime_ns]:
            return str(known[2])
        digest = sha256_file(file)
        self.computed += 1
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        return digest

    def save(self) -> None:
        with contextlib.suppress(OSError):  # a cache: a read-only data folder only costs time
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self.entries), encoding="utf-8")
            partial.replace(self.path)


def checked_bundle(path: Path, cache: HashCache | None = None) -> Bundle:
    """The bundle at ``path`` with its hashes and identity verified (``BundleError`` otherwise)."""
    cache = cache or HashCache(data_dir() / CACHE_FILE)
    try:
        return load_bundle(path, file_hash=cache.sha256)
    finally:
        cache.save()
