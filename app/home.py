"""Where the app keeps its files, and which model bundle it uses when none is named.

The library database, thumbnails and per-bundle search settings live in the platform's app data folder
(XDG ``~/.local/share/multigrain`` on Linux, ``~/Library/Application Support/Multigrain`` on macOS,
``%APPDATA%\\Multigrain`` on Windows); ``MULTIGRAIN_HOME`` overrides it (tests point it at a temporary
folder so they never touch a user's library).

The database sits alone in a hidden folder of its own, ``.library/``, which file dialogs do not list
and the indexer does not enter. SQLite's POSIX locks belong to the process, so if anything in the
window opened and closed ``library.db`` as a plain file (a file dialog guessing the type of the files
it lists does exactly that), the window would silently lose its locks, and the next ``multigrain``
command would delete the ``-wal`` file the window still writes to. Demo photos, imports and
everything else a person may browse live elsewhere in the data folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from core.errors import KnownError

HOME_ENV = "MULTIGRAIN_HOME"
BUNDLE_ENV = "MULTIGRAIN_BUNDLE"
REPO = Path(__file__).resolve().parents[1]
# Tried in order when neither --bundle nor MULTIGRAIN_BUNDLE names a bundle (the setup script builds them).
DEFAULT_BUNDLES = (REPO / "bundles" / "demo-int8", REPO / "bundles" / "demo")


class NoBundleError(KnownError):
    """No model bundle could be found."""


def data_dir() -> Path:
    """The app's data folder (not created here)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Multigrain"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "Multigrain"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "multigrain"


LIBRARY_FOLDER = ".library"


def library_dir() -> Path:
    """The folder that holds only the default library's database and SQLite's files beside it."""
    return data_dir() / LIBRARY_FOLDER


def default_db() -> Path:
    """The default library's database (``app.legacy`` moves one an older version left elsewhere)."""
    return library_dir() / "library.db"


def thumbs_dir(db_path: str | Path) -> Path:
    """Thumbnails of a library: ``thumbs/`` in the data folder for the default library, else beside it."""
    db_path = Path(db_path)
    if db_path.resolve() == default_db().resolve():
        return data_dir() / "thumbs"
    return db_path.with_name(db_path.name + ".thumbs")


def settings_path(identity: str) -> Path:
    """The JSON file holding the search settings tuned for one bundle identity."""
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in identity)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return data_dir() / "search-settings" / f"{safe}-{digest}.json"


def resolve_bundle(explicit: str | Path | None = None) -> Path:
    """The bundle to use: ``explicit``, else ``$MULTIGRAIN_BUNDLE``, else the repository's demo bundles."""
    named = explicit or os.environ.get(BUNDLE_ENV)
    if named:
        path = Path(named).expanduser()
        if not (path / "manifest.json").is_file():
            raise NoBundleError(f"{path}: not a model bundle (no manifest.json there)")
        return path
    for candidate in DEFAULT_BUNDLES:
        if (candidate / "manifest.json").is_file():
            return candidate
    tried = ", ".join(str(p) for p in DEFAULT_BUNDLES)
    raise NoBundleError(
        f"no model bundle found (tried {tried}); pass --bundle DIR or set {BUNDLE_ENV}, "
        "or build one with `multigrain export CHECKPOINT bundles/demo-int8 --variant int8`"
    )
