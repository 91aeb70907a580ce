"""Taking in a bundle someone hands over, a folder or one ``.mgbundle`` file: every check passes before
anything is installed.

Refused, each with a sentence (``BundleError``): a source that is neither a bundle folder nor a bundle
archive; a manifest that is unreadable or of a format this Multigrain does not support; an entry that
could land outside the bundle (an absolute path, ``..``, a drive letter, a folder, a symbolic link); a
file the manifest lists that is missing, or a file it does not list; sizes over the limits (for an
archive read from its directory, before anything is unpacked: per file, in total, number of files); a
file whose sha256 is not the manifest's, or an identity its files do not give; carried names that are
not usable. Files are copied or unpacked only into a fresh temporary folder, hashed as they are written,
and that folder is renamed into the bundles folder only once all of it passed. An identity already
installed is reported, not installed twice. Torch-free: the window runs it on a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from core.archive_members import escape_problem, is_symlink
from export.bundle import (
    MANIFEST,
    NAMES_FILE,
    BundleError,
    check_identity,
    check_listing,
    parse_manifest,
    plain_file_name,
    read_manifest,
)
from export.bundle_archive import ARCHIVE_SUFFIX, CHUNK, is_archive_path
from export.carried_names import look_width, names_shape, parse_names

MiB, GiB = 2**20, 2**30


@dataclass(frozen=True)
class Limits:
    """What a bundle may hold; anything more is refused before it is copied or unpacked."""

    files: int = 32  # five graphs, a vocabulary, a names file and the manifest, with room to grow
    file_bytes: int = 2 * GiB  # one graph is one protobuf file, which cannot pass 2 GiB
    total_bytes: int = 8 * GiB  # a full-size fp32 bundle is about 1 GB
    manifest_bytes: int = 4 * MiB  # a manifest is tens of kilobytes


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Installed:
    path: Path  # where the bundle is now
    identity: str
    added: bool  # False: that identity was installed already (at ``path``) and nothing was written


def _size(n: int) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{n:,} bytes"


class _Source(Protocol):
    label: str  # the path the person chose, for messages

    def listing(self, limits: Limits) -> dict[str, int]:
        """Every entry's name and size, each entry refused unless it is a plain file."""
        ...

    def open(self, name: str) -> BinaryIO: ...


class _Folder:
    def __init__(self, path: Path) -> None:
        self.path, self.label = path, str(path)

    def listing(self, limits: Limits) -> dict[str, int]:
        entries = sorted(self.path.iterdir())
        if len(entries) > limits.files:
            raise BundleError(f"{self.label}: refused: {len(entries)} entries, more than a bundle holds")
        found = {}
        for entry in entries:
            st = entry.lstat()  # the entry itself, never what a link points to
            if stat.S_ISLNK(st.st_mode):
                raise BundleError(f"{self.label}: refused: {entry.name} is a symbolic link, not a file")
            if stat.S_ISDIR(st.st_mode):
                raise BundleError(
                    f"{self.label}: refused: {entry.name} is a folder (a bundle holds only the files its "
                    f"{MANIFEST} lists)"
                )
            if not stat.S_ISREG(st.st_mode) or not plain_file_name(entry.name):
                raise BundleError(f"{self.label}: refused: {entry.name!r} is not a plain file")
            found[entry.name] = st.st_size
        return found

    def open(self, name: str) -> BinaryIO:
        # Not through a link put there since the listing, wherever the system can say so.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(self.path / name, flags)
        return os.fdopen(fd, "rb")


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member cannot be a bundle file, as the end of a sentence; None if it can."""
    name = info.filename
    if (escape := escape_problem(name)) is not None:
        return escape
    if info.is_dir() or len(re.split(r"[/\\]", name)) > 1:
        return "is in a folder (a bundle archive holds its files at the top level)"
    if is_symlink(info):
        return "is a symbolic link"
    if not plain_file_name(name):
        return "is not a plain file name"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return "uses a compression Multigrain does not read"
    return None


class _Archive:
    def __init__(self, path: Path) -> None:
        self.path, self.label = path, str(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise BundleError(
                f"{path} is not a model bundle: neither a bundle folder nor a {ARCHIVE_SUFFIX} archive"
            ) from err
        self._infos: dict[str, zipfile.ZipInfo] = {}

    def listing(self, limits: Limits) -> dict[str, int]:
        infos = self.zip.infolist()  # the archive's directory: nothing is unpacked to read it
        if len(infos) > limits.files:
            raise BundleError(f"{self.label}: refused: {len(infos)} members, more than a bundle holds")
        for info in infos:
            problem = member_problem(info)
            if problem:
                raise BundleError(f"{self.label}: refused: the member {info.filename!r} {problem}")
            if info.filename in self._infos:
                raise BundleError(f"{self.label}: refused: the member {info.filename!r} is there twice")
            self._infos[info.filename] = info
        return {name: info.file_size for name, info in self._infos.items()}

    def open(self, name: str) -> BinaryIO:
        return self.zip.open(self._infos[name])  # type: ignore[return-value]

    def close(self) -> None:
        self.zip.close()


@contextmanager
def _opened(source: Path) -> Iterator[_Source]:
    if source.is_dir():
        yield _Folder(source)
        return
    if not source.is_file():
        raise BundleError(f"{source}: no such file or folder")
    archive = _Archive(source)
    try:
        yield archive
    finally:
        archive.close()


def _check_sizes(label: str, listing: dict[str, int], limits: Limits) -> None:
    if MANIFEST not in listing:
        raise BundleError(f"{label} is not a model bundle: it has no {MANIFEST}")
    if listing[MANIFEST] > limits.manifest_bytes:
        raise BundleError(f"{label}: refused: its {MANIFEST} is {_size(listing[MANIFEST])}, not a manifest")
    for name, size in sorted(listing.items()):
        if size > limits.file_bytes:
            raise BundleError(
                f"{label}: refused: {name} is {_size(size)}, over the {_size(limits.file_bytes)} a bundle "
                "file may have"
            )
    total = sum(listing.values())
    if total > limits.total_bytes:
        raise BundleError(
            f"{label}: refused: its files come to {_size(total)}, over the {_size(limits.total_bytes)} a "
            "bundle may have"
        )


def _check_files(label: str, listing: dict[str, int], manifest: dict[str, Any]) -> None:
    listed, present = set(manifest["files"]), set(listing) - {MANIFEST}
    missing, extra = sorted(listed - present), sorted(present - listed)
    if missing:
        raise BundleError(f"{label}: missing file {', '.join(missing)} (listed in {MANIFEST})")
    if extra:
        raise BundleError(
            f"{label}: refused: extra file {', '.join(extra)}, not listed in {MANIFEST} (a bundle holds "
            "only the files its manifest lists)"
        )


def _copy(source: _Source, name: str, size: int, target: Path) -> str:
    """Copy one file into ``target`` (a new file), reading at most ``size`` bytes; its sha256."""
    digest, copied = hashlib.sha256(), 0
    try:
        with source.open(name) as src, open(target, "xb") as dst:
            while chunk := src.read(min(CHUNK, size - copied + 1)):
                copied += len(chunk)
                if copied > size:
                    raise BundleError(f"{source.label}: refused: {name} is over the {_size(size)} it says")
                digest.update(chunk)
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise BundleError(f"{source.label}: the archive is damaged ({name}: {err})") from err
    except OSError as err:
        raise BundleError(f"{source.label}: cannot read {name}: {err.strerror or err}") from err
    if copied != size:
        raise BundleError(f"{source.label}: {name} changed while it was read; try again")
    return digest.hexdigest()


def _read_small(source: _Source, name: str, size: int) -> bytes:
    with source.open(name) as f:
        return f.read(size + 1)[:size]


def stage_bundle(source: str | Path, dest: str | Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Check the bundle at ``source`` (a folder or a ``.mgbundle`` file) and copy it into ``dest``, a
    new folder; returns its manifest. Every check of the module docstring; ``BundleError`` says which
    failed, and then ``dest`` may hold some of the files (the caller's temporary folder)."""
    source, dest = Path(source), Path(dest)
    with _opened(source) as src:
        listing = src.listing(limits)
        _check_sizes(src.label, listing, limits)
        raw = _read_small(src, MANIFEST, listing[MANIFEST])
        manifest = parse_manifest(raw, src.label)
        check_listing(src.label, manifest)
        _check_files(src.label, listing, manifest)
        dest.mkdir()
        for name, expected in sorted(manifest["files"].items()):
            if _copy(src, name, listing[name], dest / name) != expected:
                raise BundleError(
                    f"{src.label}: {name} does not match its sha256 in {MANIFEST} (corrupt or edited)"
                )
        (dest / MANIFEST).write_bytes(raw)  # last: the copy looks like a bundle only once it is whole
    check_identity(source, manifest)
    if NAMES_FILE in manifest["files"]:
        where = f"{source} ({NAMES_FILE})"
        parse_names(
            (dest / NAMES_FILE).read_bytes(), *names_shape(manifest, source), where, look_width(manifest)
        )
    return manifest


def _installed(identity: str, folders: Sequence[Path]) -> Path | None:
    """The bundle folder in ``folders`` whose manifest has ``identity``, if any."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if not (entry / MANIFEST).is_file():
                continue
            try:
                if read_manifest(entry)["identity"] == identity:
                    return entry
            except BundleError:
                continue  # a broken bundle there is the models list's to show
    return None


def _folder_name(source: Path, identity: str) -> str:
    stem = source.name[: -len(ARCHIVE_SUFFIX)] if is_archive_path(source) else source.name
    name = "".join(c if c.isalnum() or c in "-._" else "-" for c in stem).lstrip(".")
    return name or identity


def _free(folder: Path, name: str) -> Path:
    for n in range(1, 1000):
        target = folder / (name if n == 1 else f"{name}-{n}")
        if not target.exists():
            return target
    raise BundleError(f"{folder} has too many bundles named {name}; rename some")


def install_bundle(
    source: str | Path,
    bundles_dir: str | Path,
    *,
    also_in: Sequence[Path] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Installed:
    """Check ``source`` and install it as a folder of ``bundles_dir``, named after it (``-2`` added
    when taken). A bundle whose identity is already in ``bundles_dir`` or ``also_in`` (other folders
    the app lists bundles from) is not installed again: ``Installed.added`` is False and ``path`` says
    where it is. Nothing is written outside a temporary folder beside ``bundles_dir`` until every check
    passed; a refusal leaves nothing behind."""
    source, bundles = Path(source), Path(bundles_dir)
    bundles.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".incoming-", dir=bundles.parent))
    try:
        staged = scratch / "bundle"
        manifest = stage_bundle(source, staged, limits)
        identity = str(manifest["identity"])
        existing = _installed(identity, [bundles, *also_in])
        if existing is not None:
            return Installed(existing, identity, False)
        bundles.mkdir(exist_ok=True)
        target = _free(bundles, _folder_name(source, identity))
        staged.chmod(0o755)  # mkdir follows the umask; the bundle is read by whoever runs the app
        staged.rename(target)
        return Installed(target, identity, True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
