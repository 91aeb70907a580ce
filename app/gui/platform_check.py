"""Before the first window on X11: are the libraries Qt's xcb platform plugin needs installed?

Without one of them Qt cannot load the plugin and aborts the process (SIGABRT, "could not load the Qt
platform plugin"), which a person sees as a crash. Loading the plugin ourselves first (``ctypes``)
fails with the name of a missing library instead; every library on Qt's list is then tried on its own,
so the message names all that are missing and the Debian packages that hold them (Qt's "Qt for X11
Requirements", plus what PySide6's libqxcb.so links, read with ldd).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# The shared libraries the xcb plugin loads beyond a base system, and their Debian packages.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
}

Loader = Callable[[str], object]


def uses_xcb(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will draw through X11's xcb plugin here (Linux with an X display, no other choice)."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen:
        return chosen == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def xcb_plugin() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def missing_xcb_libraries(load: Loader = ctypes.CDLL) -> list[str]:
    """The libraries of ``XCB_LIBRARIES`` that cannot be loaded (empty: the plugin will load)."""
    try:
        load(str(xcb_plugin()))
        return []
    except OSError:
        pass
    missing = []
    for library in XCB_LIBRARIES:
        try:
            load(library)
        except OSError:
            missing.append(library)
    return missing


def missing_libraries_message(missing: list[str]) -> str:
    packages = " ".join(sorted({XCB_LIBRARIES[name] for name in missing}))
    return (
        "multigrain gui: Qt cannot open a window on this X11 display because libraries it needs are "
        f"missing ({', '.join(missing)}). Install them with: sudo apt-get install {packages} "
        "(scripts/setup does this), or run `multigrain demo` without a window."
    )
