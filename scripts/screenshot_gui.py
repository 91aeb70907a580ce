#!/usr/bin/env python
"""Render the main window with demo results and one result open (its grounded box drawn) to a PNG,
and, before searching, the library's timeline (the search box empty) to another.

    .venv/bin/python scripts/screenshot_gui.py [--bundle DIR] [--out docs/gui.png]
        [--timeline-out docs/gui-timeline.png] [--query TEXT]

Offscreen (no display needed). The bundle: ``--bundle``, else the app's default (``$MULTIGRAIN_BUNDLE``,
then ``bundles/demo-int8``, ``bundles/demo``), else a random-weight test-tiny bundle exported in a
child process (its scores and boxes mean nothing: the picture then shows the layout only, and the
script says so). A demo library of generated scenes is made and indexed in a scratch folder; the
user's library and settings are not touched.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gui_wait import wait

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TINY_BUNDLE = """
import sys, torch
from pathlib import Path
from engine.checkpoint import save_checkpoint
from engine.model.factory import create_model
from export.build import export_bundle
torch.manual_seed(0)
root = Path(sys.argv[1])
model = create_model('test-tiny', pretrained_text=False)
checkpoint = save_checkpoint(model, root / 'checkpoint')
export_bundle(checkpoint, root / 'bundle', 'fp32', model=model, log=lambda _: None)
"""


def choose_bundle(named: str | None, work: Path) -> tuple[Path, bool]:
    """(bundle, is it the random test-tiny fallback)."""
    from app.home import resolve_bundle
    from core.errors import KnownError

    try:
        return resolve_bundle(named), False
    except KnownError:
        if named:
            raise
    tiny = work / "tiny"
    if not (tiny / "bundle" / "manifest.json").is_file():
        print(
            "no demo bundle found: exporting a random-weight test-tiny bundle (layout only)", file=sys.stderr
        )
        subprocess.run([sys.executable, "-c", TINY_BUNDLE, str(tiny)], cwd=REPO, check=True)
    return tiny / "bundle", True


def settle(app: object, window: object) -> None:
    """Wait for the thumbnails of the first screen, then let the window paint."""
    from app.gui.results_model import ThumbRole

    model = window.model  # type: ignore[attr-defined]
    visible = [r for r in range(min(model.rowCount(), 24)) if not model.is_heading(r)]
    for row in visible:
        model.data(model.index(row, 0), ThumbRole)
    wait(
        app,
        lambda: all(model.data(model.index(r, 0), ThumbRole) is not None for r in visible),
        120,
        "thumbnails",
    )
    for _ in range(20):
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def save(window: object, out: Path, what: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):  # type: ignore[attr-defined]
        raise SystemExit(f"cannot write {out}")
    print(f"wrote {out}: {window.width()}x{window.height()}, {what}")  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="model bundle (default: the app's default, else test-tiny)")
    parser.add_argument("--out", default=str(REPO / "docs" / "gui.png"))
    parser.add_argument("--timeline-out", default=str(REPO / "docs" / "gui-timeline.png"))
    parser.add_argument(
        "--query", default="a dog in the night sky", help="a query whose scene is in the demo library"
    )
    parser.add_argument("--photos", type=int, default=60, help="demo scenes to generate and index")
    parser.add_argument("--work", help="scratch folder, kept (default: a temporary one)")
    parser.add_argument("--size", default="1440x900", help="window size, WxH")
    args = parser.parse_args()

    scratch = None if args.work else tempfile.TemporaryDirectory(prefix="multigrain-shot-")
    work = Path(args.work or scratch.name).resolve()  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MULTIGRAIN_HOME"] = str(work / "home")
    bundle, fallback = choose_bundle(args.bundle, work)

    from app.gui.demo_photos import make_demo_photos

    photos = work / "demo" / "photos"
    if not photos.is_dir():
        make_demo_photos(work / "demo", args.photos)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.gui import style
    from app.gui.bundles import ModelHolder
    from app.gui.main_window import MainWindow
    from app.gui.settings import QT_APP_NAME, Prefs

    app = QApplication([sys.argv[0]])
    app.setApplicationName(QT_APP_NAME)
    style.apply(app)
    prefs = Prefs(QSettings(str(work / "prefs.ini"), QSettings.Format.IniFormat))
    window = MainWindow(work / "home" / "library.db", ModelHolder(bundle), prefs, offer_demo=False)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()

    finished: list[object] = []
    window.indexer.finished.connect(finished.append)
    window.add_folders([str(photos)])
    wait(app, lambda: finished, 600, "indexing")
    wait(app, lambda: window.engine.state is not None and window.engine.state.photos > 0, 120, "the index")
    note = " (random-weight test-tiny bundle: layout only)" if fallback else ""

    # The library's timeline: the search box empty, newest first, by month.
    wait(app, lambda: window.model.photo_count() > 0, 120, "the timeline")
    settle(app, window)
    save(window, Path(args.timeline_out), f"bundle {bundle}{note}")

    window.search.query.setText(args.query)
    window.search.flush()
    wait(app, lambda: window.model.generation == window.engine.latest, 120, "results")
    first = window._first_photo_index()
    window.grid.setCurrentIndex(first)
    window.open_result(first)
    view = window.result_view
    wait(app, lambda: view.canvas.image is not None, 120, "the photo")
    if view.text:
        wait(app, lambda: view.grounding is not None or "box" in view.box_line.text(), 120, "grounding")
    settle(app, window)
    save(window, Path(args.out), f"bundle {bundle}{note}")
    window.close()
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
