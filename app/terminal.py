"""What the command line prints: paths that cannot drive the terminal, and JSON that is always JSON.

A file name may hold any byte but ``/`` and NUL: an escape sequence (``ESC[2J`` clears the screen), a
carriage return or a newline (which would forge a result line of its own), or bytes that are not UTF-8.
``shown`` writes all of those as visible escapes. ``json_text`` never writes ``NaN`` or ``Infinity``,
which Python's ``json`` emits by default and no JSON parser accepts: a non-finite number becomes null.
"""

from __future__ import annotations

import json
import math
import os
import unicodedata
from typing import Any


def _escape_char(ch: str) -> str:
    # C0 and C1 controls, DEL, and the line/paragraph separators some terminals treat as newlines.
    if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
        code = ord(ch)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return ch


def printable(text: str) -> str:
    """Any text for a terminal (an error message may quote a file name): control characters as escapes."""
    return "".join(_escape_char(ch) for ch in text)


def shown(path: str) -> str:
    """A path for a terminal: bytes that are not UTF-8 as ``\\xNN``, control characters as ``\\xNN``."""
    return printable(os.fsencode(path).decode("utf-8", "backslashreplace"))


def json_path(path: str) -> str:
    """A path for JSON: the name itself (``json`` escapes control characters), undecodable bytes as
    ``\\xNN`` so the text is valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """``value`` as indented JSON that any parser accepts (non-finite numbers as null)."""
    return json.dumps(_finite(value), indent=1, ensure_ascii=False, allow_nan=False)
