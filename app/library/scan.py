"""Finding photo files under the library's folders.

A depth-first walk with ``os.scandir`` (one ``stat`` per file, cached on the entry), in name order so
runs are reproducible. Hidden files and folders (a leading dot; the hidden attribute on Windows) are
skipped. Symbolic links are followed only while they stay inside the folders being indexed (a link to
``/`` in a photo folder once listed 13,611 system files); ``follow_links`` lifts that boundary. Every
folder is entered at most once, keyed by
``(st_dev, st_ino)``: a link back to an ancestor (a loop) or a second link to a folder already walked is
skipped instead of recursing forever or listing photos twice. Linked folders are walked after all the
real ones, so a folder inside the library is listed under its real path, not under a link to it.
Nothing here raises for one bad entry: broken links, link loops, unreadable folders and special files
are collected as ``ScanProblem``.

Paths are ``str`` as ``os.scandir`` returns them for a ``str`` folder: bytes that are not UTF-8 become
lone surrogates (``surrogateescape``), which ``open`` turns back into the same bytes (see db.py for how
they are stored).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
_WINDOWS_HIDDEN = 0x2  # FILE_ATTRIBUTE_HIDDEN


@dataclass(frozen=True)
class FoundFile:
    """A regular file with a photo extension."""

    path: str
    root: str  # the library folder it was found under
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    """An entry that could not be scanned. ``is_photo``: it has a photo name, so the indexer records it
    as a photo in error (the user sees it in the library); otherwise it is only reported."""

    path: str
    root: str
    message: str
    is_photo: bool
    size: int = 0  # from lstat, so an unchanged broken link is recognised next time
    mtime_ns: int = 0


@dataclass
class ScanResult:
    files: list[FoundFile] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)  # not there (an unplugged drive?)
    unreadable_dirs: list[str] = field(default_factory=list)  # their known photos must not be dropped
    cancelled: bool = False


def is_photo_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    if os.name == "nt":
        try:
            return bool(entry.stat(follow_symlinks=False).st_file_attributes & _WINDOWS_HIDDEN)
        except OSError:
            return False
    return False


def _lstat_key(entry: os.DirEntry[str]) -> tuple[int, int]:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return 0, 0
    return st.st_size, st.st_mtime_ns


def _link_problem(err: OSError, entry: os.DirEntry[str]) -> str:
    if err.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(err, FileNotFoundError) and entry.is_symlink():
        target = ""
        with contextlib.suppress(OSError):
            target = f" -> {os.readlink(entry.path)}"
        return f"broken symbolic link{target} (its target does not exist)"
    if isinstance(err, PermissionError):
        return "cannot read the file: permission denied"
    return f"cannot read the file: {err.strerror or err}"


def _inside(real: str, folders: Sequence[str]) -> bool:
    return any(real == f or real.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def library_spelling(root: str, known: dict[str, str]) -> str:
    """``root`` (absolute) as the library spells it, when it is another name, through a symbolic link,
    for a folder the library holds (``known``: real path -> the folder as stored), or for one inside
    or around such a folder; else ``root`` itself. So an alias of a folder is never indexed twice."""
    real = os.path.realpath(root)
    if real in known:
        return known[real]
    for known_real, spelled in known.items():
        if _inside(real, [known_real]):  # inside a known folder: under its stored name
            return os.path.join(spelled, os.path.relpath(real, known_real))
    if real != root and any(_inside(known_real, [real]) for known_real in known):
        return real  # around a known folder, through a link: its photos under their real paths
    return root


class _Walk:
    def __init__(
        self, result: ScanResult, cancel: threading.Event | None, roots: Sequence[str], follow_links: bool
    ) -> None:
        self.result = result
        self.cancel = cancel
        self.real_roots = [os.path.realpath(r) for r in roots]
        self.follow_links = follow_links
        self.visited: set[tuple[int, int]] = set()
        self.linked: list[tuple[str, str]] = []  # (linked folder, root), walked after the real folders

    def roots(self, roots: Sequence[str]) -> None:
        for root in roots:
            try:
                st = os.stat(root)
            except OSError:
                st = None
            if st is None or not stat.S_ISDIR(st.st_mode):
                self.result.missing_roots.append(root)
            elif (st.st_dev, st.st_ino) not in self.visited:  # else: a root inside another, already walked
                self.visited.add((st.st_dev, st.st_ino))
                self.tree(root, root)
        while self.linked and not self.result.cancelled:
            path, root = self.linked.pop(0)
            try:
                st = os.stat(path)
            except OSError:  # removed since it was listed
                continue
            if (st.st_dev, st.st_ino) in self.visited:
                message = "link to a folder already scanned (a loop, or a second link): skipped"
                self.result.problems.append(ScanProblem(path, root, message, False))
                continue
            self.visited.add((st.st_dev, st.st_ino))
            self.tree(path, root)

    def tree(self, top: str, root: str) -> None:
        stack = [top]
        while stack:
            if self.cancel is not None and self.cancel.is_set():
                self.result.cancelled = True
                return
            stack.extend(reversed(self.directory(stack.pop(), root)))

    def _leaves_the_folders(self, entry: os.DirEntry[str], root: str) -> bool:
        """A symbolic link whose target lies outside the folders being indexed (reported, not followed,
        unless ``follow_links``)."""
        if self.follow_links or not entry.is_symlink():
            return False
        target = os.path.realpath(entry.path)
        if _inside(target, self.real_roots) or not os.path.exists(target):
            return False  # a broken link is reported by the walk itself
        message = (
            f"symbolic link to {target}, outside the folders being indexed: not followed "
            "(`multigrain index --follow-links` follows links)"
        )
        self.result.problems.append(ScanProblem(entry.path, root, message, False))
        return True

    def directory(self, path: str, root: str) -> list[str]:
        """Scan one folder: record its photo files, return its subfolders to walk (in name order)."""
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            self.result.unreadable_dirs.append(path)
            self.result.problems.append(
                ScanProblem(path, root, f"cannot list this folder: {err.strerror or err}", is_photo=False)
            )
            return []
        subdirs = []
        for entry in entries:
            if _is_hidden(entry) or self._leaves_the_folders(entry, root):
                continue
            try:
                st = entry.stat()  # follows links
            except OSError as err:
                if is_photo_name(entry.name):
                    size, mtime_ns = _lstat_key(entry)
                    message = _link_problem(err, entry)
                    self.result.problems.append(ScanProblem(entry.path, root, message, True, size, mtime_ns))
                elif err.errno == errno.ELOOP:
                    self.result.problems.append(ScanProblem(entry.path, root, "symbolic link loop", False))
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.is_symlink():
                    self.linked.append((entry.path, root))
                elif (st.st_dev, st.st_ino) not in self.visited:  # else: a bind mount seen twice
                    self.visited.add((st.st_dev, st.st_ino))
                    subdirs.append(entry.path)
            elif is_photo_name(entry.name):
                if stat.S_ISREG(st.st_mode):
                    self.result.files.append(FoundFile(entry.path, root, st.st_size, st.st_mtime_ns))
                else:  # a FIFO or device named .jpg would block or never end when read
                    message = "not a regular file (a device, pipe or socket with a photo's name)"
                    problem = ScanProblem(entry.path, root, message, True, st.st_size, st.st_mtime_ns)
                    self.result.problems.append(problem)
        return subdirs


def scan_folders(
    roots: Sequence[str], cancel: threading.Event | None = None, follow_links: bool = False
) -> ScanResult:
    """Walk each root (absolute paths) and collect photo files and problems; a file reachable from two
    roots (nested roots, or links) is listed once, under the first. Links out of the roots are
    followed only with ``follow_links``."""
    result = ScanResult()
    _Walk(result, cancel, roots, follow_links).roots(roots)
    return result
