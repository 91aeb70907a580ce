"""Single-file bundles (``.mgbundle``): a bundle folder's files in one zip archive, to hand over as a file.

Written flat (every file at the top level, ``manifest.json`` first), deflated, with fixed timestamps and
permissions so that the same bundle always gives the same bytes. Only a bundle whose files match its
manifest is packed. Reading one back is ``export.bundle_intake``'s job: it checks every member before a
byte is unpacked. Torch-free.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from export.bundle import MANIFEST, BundleError, load_bundle

ARCHIVE_SUFFIX = ".mgbundle"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no clock time in the bytes
UNIX = 3  # the "made by" system, so that the permission bits below are read as Unix modes
REGULAR_FILE = 0o100644  # a plain file, readable by all; never a link
CHUNK = 1 << 20


def is_archive_path(path: str | Path) -> bool:
    """Whether ``path`` names a single-file bundle (by its suffix, any case)."""
    return Path(path).suffix.lower() == ARCHIVE_SUFFIX


def archive_path(path: str | Path) -> Path:
    """``path`` with the ``.mgbundle`` suffix added when it lacks it."""
    out = Path(path)
    return out if is_archive_path(out) else out.with_name(out.name + ARCHIVE_SUFFIX)


def check_archive_target(out: Path) -> None:
    """Refuse to write an archive over a folder, or over a file that is not a bundle archive (an older
    archive of a bundle is replaced, as ``export`` replaces a bundle folder)."""
    if out.is_dir():
        raise BundleError(f"{out} is a folder; a single-file bundle is written as a file: choose a file name")
    if out.exists():
        try:
            with zipfile.ZipFile(out) as zf:
                is_bundle = MANIFEST in zf.namelist()
        except (OSError, zipfile.BadZipFile):
            is_bundle = False
        if not is_bundle:
            raise BundleError(f"{out} exists and is not a bundle archive; choose another file name")


def write_archive(bundle_dir: str | Path, out_file: str | Path) -> Path:
    """Pack the bundle at ``bundle_dir`` (verified first) into ``out_file``; returns the archive's path.

    Written beside the target and renamed over it at the end, so an interrupted write never leaves a
    half archive under the target's name."""
    bundle = load_bundle(bundle_dir)
    out = Path(out_file)
    check_archive_target(out)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in (MANIFEST, *sorted(bundle.manifest["files"])):
                source = bundle.path / name
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = UNIX
                info.external_attr = REGULAR_FILE << 16
                info.file_size = source.stat().st_size  # decides zip64 for a large graph up front
                with open(source, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        partial.replace(out)
    except OSError as err:
        raise BundleError(f"cannot write {out}: {err.strerror or err}") from err
    finally:
        partial.unlink(missing_ok=True)
    return out
