"""Zip members that could land outside the folder they are read into: the checks every archive the
project opens (concept packs, single-file bundles) makes before it trusts a member's name."""

from __future__ import annotations

import re
import stat
import zipfile

_DRIVE = re.compile(r"^[A-Za-z]:")


def escape_problem(name: str) -> str | None:
    """Why a member named ``name`` would leave its folder, as the end of a sentence; None if it stays.
    Both separators count, so a Windows-made archive is read as Windows would unpack it."""
    if name.startswith(("/", "\\")):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "has a drive letter"
    if ".." in re.split(r"[/\\]", name):
        return "leads out of its folder (..)"
    return None


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether the member is a symbolic link (a Unix mode in the external attributes says so)."""
    return stat.S_ISLNK(info.external_attr >> 16)
