"""Test-wide settings: no network, no user folders, deterministic torch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Test helpers (tests/<room>/*.py that are not tests) import each other by module name.
for room in ("engine", "export", "app", "faults"):
    sys.path.insert(0, str(Path(__file__).parent / room))
