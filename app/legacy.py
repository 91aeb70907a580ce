"""Libraries left where an older Multigrain kept them, moved to where this one does (``app.home``)."""

from __future__ import annotations

from pathlib import Path

from app.home import data_dir, default_db
from app.library.db import relocate
from app.vectorcache import remove_all


def default_library() -> Path:
    """``default_db()``, after moving a library an older version left in the data folder itself (beside
    files a person browses: see ``app.home``) into its own folder, once."""
    db = default_db()
    legacy = data_dir() / "library.db"
    if not db.exists() and legacy.exists():
        relocate(legacy, db)
        remove_all(legacy)  # a cache: rebuilt beside the new location on first use
    return db
