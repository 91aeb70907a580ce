"""The window's preferences (QSettings) and where the app keeps its files.

Preferences belong to the library in use (``library_prefs``): an INI file beside its database, so a
library under another ``MULTIGRAIN_HOME`` (or ``--db``) keeps its own model choice, "demo offered",
window state and last query. ``Prefs()`` alone is QSettings under organisation and application
"Multigrain" (the registry on Windows, a plist on macOS, ``~/.config/Multigrain/Multigrain.conf`` on
Linux), the place before preferences moved to the library; tests hand ``Prefs`` an INI file.

Files: the library, thumbnails and imported bundles live in ``app.home.data_dir()``, the folder the
command line uses too, so ``multigrain index`` and the window share one library. It is the platform's
standard app data folder (what ``QStandardPaths.AppDataLocation`` gives for an application named
"multigrain" with no organisation folder) and honours ``MULTIGRAIN_HOME``.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from app import home

ORGANISATION = "Multigrain"
APPLICATION = "Multigrain"
QT_APP_NAME = "multigrain"  # QCoreApplication's name: the last part of QStandardPaths' app folders


def data_dir() -> Path:
    return home.data_dir()


def user_bundles_dir() -> Path:
    """Bundles imported through the models dialog."""
    return data_dir() / "bundles"


def repo_bundles_dir() -> Path:
    """Bundles built by the setup script in a source checkout."""
    return home.REPO / "bundles"


def prefs_path(db_path: Path) -> Path:
    """The preferences file of the library at ``db_path``: beside it, named after it."""
    return db_path.with_name(db_path.stem + ".preferences.ini")


def library_prefs(db_path: Path) -> Prefs:
    """The preferences of the library at ``db_path``."""
    return Prefs(QSettings(str(prefs_path(Path(db_path))), QSettings.Format.IniFormat))


class Prefs:
    """Typed access to the few preferences the window keeps."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)

    def _get(self, key: str, default: object) -> object:
        return self.qsettings.value(key, default)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self._get(key, default))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._get(key, default))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return default

    def sync(self) -> None:
        self.qsettings.sync()

    # ----- model -----------------------------------------------------------------------------------
    @property
    def bundle(self) -> Path | None:
        value = self._get("model/bundle", "")
        return Path(str(value)) if value else None

    @bundle.setter
    def bundle(self, path: Path | None) -> None:
        self.qsettings.setValue("model/bundle", str(path) if path else "")

    @property
    def import_command(self) -> list[str] | None:
        """The command that runs ``import-xvlm`` and ``export`` (argv prefix, JSON list); None: the
        app's own command line. A test or a packager can point it at another program."""
        value = self._get("models/import_command", "")
        if not value:
            return None
        try:
            argv = json.loads(str(value))
        except ValueError:
            return None
        return [str(a) for a in argv] if isinstance(argv, list) and argv else None

    @import_command.setter
    def import_command(self, argv: list[str] | None) -> None:
        self.qsettings.setValue("models/import_command", json.dumps(argv) if argv else "")

    # ----- search ----------------------------------------------------------------------------------
    @property
    def image_weight(self) -> float | None:
        """The person's text/image balance; None until they move the slider (the bundle's then)."""
        if self._get("search/image_weight", None) is None:
            return None
        return min(1.0, max(0.0, self._float("search/image_weight", 0.5)))

    @image_weight.setter
    def image_weight(self, value: float) -> None:
        self.qsettings.setValue("search/image_weight", float(value))

    @property
    def strictness(self) -> str:
        """The strictness's name (``search_panel.STRICTNESS``)."""
        return str(self._get("search/strictness", "Balanced"))

    @strictness.setter
    def strictness(self, value: str) -> None:
        self.qsettings.setValue("search/strictness", value)

    @property
    def browse(self) -> str:
        value = str(self._get("search/browse", "month"))
        return value if value in ("month", "folder") else "month"

    @browse.setter
    def browse(self, value: str) -> None:
        self.qsettings.setValue("search/browse", value)

    @property
    def restore_query(self) -> bool:
        """Whether the window opens with the last query in the search box."""
        return str(self._get("search/restore_query", "false")).lower() == "true"

    @restore_query.setter
    def restore_query(self, value: bool) -> None:
        self.qsettings.setValue("search/restore_query", "true" if value else "false")

    @property
    def last_query(self) -> str:
        return str(self._get("search/last_query", ""))

    @last_query.setter
    def last_query(self, value: str) -> None:
        self.qsettings.setValue("search/last_query", value)

    @property
    def sort(self) -> str:
        value = str(self._get("search/sort", "score"))
        return value if value in ("score", "date") else "score"

    @sort.setter
    def sort(self, value: str) -> None:
        self.qsettings.setValue("search/sort", value)

    # ----- window ----------------------------------------------------------------------------------
    def window_state(self, name: str) -> QByteArray | None:
        value = self._get(f"window/{name}", None)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, name: str, value: QByteArray) -> None:
        self.qsettings.setValue(f"window/{name}", value)

    @property
    def last_dir(self) -> str:
        return str(self._get("library/last_dir", ""))

    @last_dir.setter
    def last_dir(self, value: str) -> None:
        self.qsettings.setValue("library/last_dir", value)

    @property
    def demo_offered(self) -> bool:
        return str(self._get("library/demo_offered", "false")).lower() == "true"

    @demo_offered.setter
    def demo_offered(self, value: bool) -> None:
        self.qsettings.setValue("library/demo_offered", "true" if value else "false")
