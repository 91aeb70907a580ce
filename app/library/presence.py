"""Is a photo's file still there? Results never point at a file that is gone.

A file missing from a folder that is there was deleted (or moved): it is left out of results until the
next index run forgets it. A file whose folder is not reachable either (an unplugged drive, a renamed
folder not indexed again yet) may come back: it stays in results, marked missing.
"""

from __future__ import annotations

import os
from typing import Literal

Presence = Literal["present", "deleted", "unreachable"]


def presence(path: str) -> Presence:
    if os.path.exists(path):
        return "present"
    return "deleted" if os.path.isdir(os.path.dirname(path)) else "unreachable"
