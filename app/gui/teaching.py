"""What the window needs to teach a name, without Qt: whether the active bundle can learn names, the
photos a name was taught from, and the ``multigrain teach`` command line the child process runs.

Teaching needs torch (``engine.personal.job``), which the window's process never imports: the window
runs the same command a person would type, as a child, and reads its progress lines. The refusals here
are the ones ``app.personal.teach`` makes after loading the model, checked first from the bundle's
manifest so the person hears them before choosing a box, not after a minute of loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.gui.processes import app_command
from app.personal.store import Box
from app.source_checkpoint import torch_work_refusal

STEP_TITLE = "Teaching"


@dataclass(frozen=True)
class TeachPhoto:
    path: str
    box: Box  # x, y, w, h as fractions of the upright photo


def photo_arg(photo: TeachPhoto) -> str:
    """``PATH:x,y,w,h`` as ``multigrain teach`` parses it (app.personal.teach.parse_photo)."""
    x, y, w, h = (min(1.0, max(0.0, v)) for v in photo.box)
    w, h = min(w, 1.0 - x), min(h, 1.0 - y)  # rounding must not push the box past the photo's edge
    return f"{photo.path}:{x:.4f},{y:.4f},{w:.4f},{h:.4f}"


def teach_command(
    name: str,
    kind: str,
    photos: list[TeachPhoto],
    db_path: Path,
    bundle: Path,
    program: list[str] | None = None,
) -> list[str]:
    """The child's argv: ``multigrain teach NAME --kind KIND PHOTO:x,y,w,h ... --db DB --bundle B``."""
    return [
        *(program or app_command()),
        "teach",
        name,
        "--kind",
        kind,
        *[photo_arg(p) for p in photos],
        "--db",
        str(db_path),
        "--bundle",
        str(bundle),
    ]


def refusal(manifest: dict[str, Any], identity: str, torch_installed: bool | None = None) -> str | None:
    """A sentence saying why this bundle cannot learn names here, or None when it can (as far as the
    manifest tells: the child checks the checkpoint's weights and says so if they changed)."""
    from export.bundle import NAME_INPUT

    text = manifest.get("graphs", {}).get("text", {})
    if not isinstance(manifest.get("names"), dict) or NAME_INPUT not in text.get("inputs", []):
        return (
            f"The model {identity} is too old to learn names (bundle format "
            f"{manifest.get('format_version', '?')}): export it again with `multigrain export`."
        )
    return torch_work_refusal(manifest, identity, "Teaching a name", "teach again", torch_installed)


def bundle_refusal(bundle: Path | None) -> str | None:
    """``refusal`` for the bundle folder (a sentence too when there is none or it cannot be read)."""
    from export.bundle import BundleError, read_manifest

    if bundle is None:
        return "No model is active: open Models… to import or choose one first."
    try:
        manifest = read_manifest(bundle)
    except BundleError as err:
        return f"The model cannot be read: {err}"
    return refusal(manifest, str(manifest.get("identity", bundle.name)))


def taught_photos(db_path: Path, name: str, leave_out: str) -> list[TeachPhoto]:
    """Worker thread: the photos ``name`` was taught from (still on disk), less ``leave_out``; teaching
    again replaces a name's photos, so adding a photo means teaching from all of them."""
    from app.library.db import open_db
    from app.personal.store import find_name, labels_of

    if not name.strip() or not db_path.is_file():
        return []
    db = open_db(db_path, writable=False)
    try:
        row = find_name(db, name)
        labels = labels_of(db, row.id) if row is not None else []
    except Exception:  # a bad spelling or a library without the names tables: a new name
        return []
    finally:
        db.close()
    same = os.path.abspath(leave_out)
    return [TeachPhoto(lb.path, lb.box) for lb in labels if lb.path != same and os.path.isfile(lb.path)]
