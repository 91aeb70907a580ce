"""``multigrain gui``: open the window, or, on a machine with no display, say so and run the demo.

Which bundle: ``--bundle``, else the one chosen last time in the window (if it still exists), else
the command line's default (``$MULTIGRAIN_BUNDLE``, then the repository's demo bundles); with none,
the window opens anyway and asks for one.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from core.errors import KnownError

NO_DISPLAY = (
    "multigrain gui: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set, and QT_QPA_PLATFORM "
    "does not name a platform that draws without one, e.g. offscreen). Running `multigrain demo` instead."
)
# Linux and the BSDs draw through X11 or Wayland; Windows and macOS always have their own platform.
_NEEDS_SERVER = ("linux", "freebsd", "openbsd", "netbsd")


def has_display(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    if not platform.startswith(_NEEDS_SERVER):
        return True
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen and chosen not in ("xcb", "wayland", "wayland-egl"):
        return True  # offscreen, minimal, eglfs, linuxfb, vnc...: they need no display server
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _bundle(args: argparse.Namespace, remembered: Path | None) -> Path | None:
    from app.home import resolve_bundle

    if getattr(args, "bundle", None):
        return resolve_bundle(args.bundle)  # a named bundle that is not one is an error for the user
    if remembered is not None and (remembered / "manifest.json").is_file():
        return remembered
    try:
        return resolve_bundle(None)
    except KnownError:
        return None


def run(args: argparse.Namespace) -> int:
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        from app import demo

        options = argparse.Namespace(
            out="multigrain-demo", photos=300, seed=7, bundle=getattr(args, "bundle", None)
        )
        return demo.run_demo(options)

    from app.gui.platform_check import missing_libraries_message, missing_xcb_libraries, uses_xcb

    missing = missing_xcb_libraries() if uses_xcb() else []
    if missing:  # Qt would abort the process; say what to install instead
        print(missing_libraries_message(missing), file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from app.gui import style
    from app.gui.bundles import ModelHolder
    from app.gui.main_window import MainWindow
    from app.gui.settings import QT_APP_NAME, library_prefs
    from app.legacy import default_library

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(QT_APP_NAME)
    app.setApplicationDisplayName("Multigrain")
    style.apply(app)  # type: ignore[arg-type]
    db_path = Path(args.db).expanduser() if getattr(args, "db", None) else default_library()
    prefs = library_prefs(db_path)  # the model choice, "demo offered", window state: this library's
    bundle = _bundle(args, prefs.bundle)
    window = MainWindow(db_path, ModelHolder(bundle), prefs)
    _report_bugs_in(window)
    window.show()
    return int(app.exec())


def _report_bugs_in(window: object) -> None:
    """An exception escaping a slot on the GUI thread is a bug: log it, show it as an internal error
    (its traceback behind the details button), and keep the window running."""
    from app.gui.errors import show_error

    def hook(kind: type[BaseException], error: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)  # type: ignore[arg-type]
            return
        show_error(window, error)  # type: ignore[arg-type]

    sys.excepthook = hook
