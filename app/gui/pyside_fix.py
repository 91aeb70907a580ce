"""A workaround for PySide6 6.12.0 on Python 3.11: it drops references to None, True and False.

Measured with PySide6-Essentials 6.12.0 on CPython 3.11.7: every call of a void Qt method (``setText``,
``setEnabled``, ``processEvents``, ``QTimer.singleShot``...) returns ``None`` without taking a
reference to it, and ``SignalInstance.emit``/``disconnect`` do the same with ``True``/``False``.
Python 3.12 made those objects immortal, where this is harmless; on 3.11 each call costs one
reference, and after a few thousand calls Python frees ``None`` or ``True`` and aborts ("Fatal
Python error: none_dealloc"). PySide6 6.11.3 does not leak.

``install()`` probes for the leak once and, where it finds one, gives the three singletons a
reference count no program can exhaust (2^40), which is what 3.12's immortality amounts to. It does
nothing on 3.12+ or with a PySide that does not leak. The real fix is a PySide6 without the bug
(pin ``PySide6-Essentials<6.12`` or a fixed 6.12.x); this keeps the app alive meanwhile.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 32
_HUGE = 1 << 40


class _Probe(QObject):
    signal = Signal()


def leaks() -> bool:
    """Whether void calls lose references to None, or emits to True (counts in plain ints)."""
    probe = _Probe()
    none_before = sys.getrefcount(None)
    for _ in range(_PROBES):
        probe.setObjectName("probe")
    true_before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.signal.emit()
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    return lost_none >= _PROBES // 2 or lost_true >= _PROBES // 2


def install() -> bool:
    """Make None, True and False immortal if this PySide needs it; returns whether it did (once)."""
    global _installed
    if _installed or sys.version_info >= (3, 12) or not leaks():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is a PyObject's first field (CPython, release builds): raise it far out of reach.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HUGE
    _installed = True
    return True


_installed = False
