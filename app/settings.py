"""Where the search settings tuned for one model bundle are kept (the schema: ``core.search_settings``).

``multigrain tune-search`` measures them on the synthetic world's validation split and
writes them here, keyed by the bundle's identity; a bundle never tuned gets the defaults below and a
cutoff estimated from the library alone.
"""

from __future__ import annotations

import json
import os
from typing import Any

from app.home import settings_path
from core.search_settings import SearchSettings, SettingsError, parse_settings


def load_settings(identity: str, shipped: dict[str, Any] | None = None) -> SearchSettings:
    """The settings for bundle ``identity``: those saved here by ``tune-search`` (a person's own tuning
    wins), else the ones the bundle ships (``shipped``, from its manifest), else the defaults. An
    unreadable file falls through to the next."""
    path = settings_path(identity)
    try:
        return SearchSettings.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    if shipped:
        try:
            return parse_settings(shipped)
        except SettingsError:
            pass
    return SearchSettings()


def save_settings(identity: str, settings: SearchSettings) -> None:
    path = settings_path(identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"identity": identity, **settings.to_json()}, indent=1))
    os.replace(partial, path)
