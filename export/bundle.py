"""The model bundle: ONNX graphs, ``vocab.txt`` and ``manifest.json`` in one directory.

The manifest is the single source of truth the runtime reads: preprocessing constants, token limits,
dimensions, the sha256 of every file, where the weights came from, what exported them and how far the
graphs drift from the fp32 torch model. ``load_bundle`` refuses a bundle that does not match its
manifest. Torch-free: the app loads bundles.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import KnownError
from core.hashing import sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VOCAB = "vocab.txt"
VARIANTS = ("fp32", "fp16", "int8")
# Keys the runtime cannot work without; a manifest missing one is unreadable, not merely old.
REQUIRED = (
    "format_version",
    "identity",
    "model",
    "config",
    "variant",
    "image_size",
    "image_mean",
    "image_std",
    "max_tokens",
    "max_words",
    "embed_dim",
    "token_grid",
    "graphs",
    "files",
)


# Bumped whenever the export writes different graphs for the same checkpoint, so that scripts/setup
# rebuilds bundles made by an older recipe (recorded as exporter.recipe in the manifest).
# 2: no per-node stack traces; 8-bit embedding tables in int8 bundles.
EXPORT_RECIPE = "2"


class BundleError(KnownError):
    """A bundle that cannot be used (missing or changed file, unreadable or too new manifest)."""


def bundle_identity(model: str, variant: str, files: dict[str, str], preprocessing: dict[str, Any]) -> str:
    """``<model>-<variant>-<12 hex>``: the hash covers every graph, the vocabulary and the preprocessing
    constants, i.e. everything that decides a vector. The app stores it beside each vector and never
    compares vectors of two identities."""
    digest = hashlib.sha256()
    for name in sorted(files):
        if name.endswith(".onnx") or name == VOCAB:
            digest.update(f"{name}:{files[name]}\n".encode())
    digest.update(json.dumps(preprocessing, sort_keys=True).encode())
    return f"{model}-{variant}-{digest.hexdigest()[:12]}"


def write_manifest(out_dir: str | Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Hash every file in ``out_dir``, add the identity, format version and time; write manifest.json last.

    ``fields`` holds the model facts (see REQUIRED); files and identity are computed here so that they
    can never disagree with the directory.
    """
    out = Path(out_dir)
    files = {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != MANIFEST}
    preprocessing = {
        k: fields[k] for k in ("image_size", "image_mean", "image_std", "max_tokens", "max_words")
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "identity": bundle_identity(fields["model"], fields["variant"], files, preprocessing),
        **fields,
        "files": files,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise ValueError(f"manifest fields missing: {missing}")
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out / MANIFEST)
    return manifest


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def identity(self) -> str:
        return str(self.manifest["identity"])

    @property
    def variant(self) -> str:
        return str(self.manifest["variant"])

    def has_graph(self, name: str) -> bool:
        return name in self.manifest["graphs"]

    def graph_path(self, name: str) -> Path:
        if not self.has_graph(name):
            raise BundleError(f"bundle {self.identity} has no {name} graph")
        return self.path / self.manifest["graphs"][name]["file"]

    @property
    def vocab_path(self) -> Path:
        return self.path / VOCAB


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a bundle directory, checked for readability and format version only."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root} is not a model bundle directory")
    file = root / MANIFEST
    if not file.is_file():
        raise BundleError(f"{root}: missing file {MANIFEST}; not a model bundle")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: {err}") from err
    if not isinstance(manifest, dict):
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: not a JSON object")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: format_version is {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{root}: bundle format version {version} is newer than this Multigrain supports "
            f"({FORMAT_VERSION}); update Multigrain or export the bundle again"
        )
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: missing {', '.join(missing)}")
    if not isinstance(manifest["files"], dict) or not isinstance(manifest["graphs"], dict):
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: files and graphs must be objects")
    return manifest


def load_bundle(path: str | Path, *, verify_hashes: bool = True) -> Bundle:
    """Open a bundle; refuse it (``BundleError``) on a missing file, a changed file (sha256), a manifest
    that is unreadable or newer than this code. ``verify_hashes=False`` skips only the sha256 check."""
    root = Path(path)
    manifest = read_manifest(root)
    files: dict[str, str] = manifest["files"]
    needed = {g["file"] for g in manifest["graphs"].values()} | {VOCAB}
    unlisted = sorted(needed - set(files))
    if unlisted:
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: no sha256 for {', '.join(unlisted)}")
    for name, expected in sorted(files.items()):
        if Path(name).name != name:  # a manifest must not point outside its directory
            raise BundleError(f"{root}: unreadable manifest {MANIFEST}: bad file name {name!r}")
        file = root / name
        if not file.is_file():
            raise BundleError(f"{root}: missing file {name} (listed in {MANIFEST})")
        if verify_hashes and sha256_file(file) != expected:
            raise BundleError(
                f"{root}: {name} does not match its sha256 in {MANIFEST} (corrupt or edited); export again"
            )
    return Bundle(root, manifest)
