"""The model bundle: ONNX graphs, ``vocab.txt`` and ``manifest.json`` in one directory.

The manifest is the single source of truth the runtime reads: preprocessing constants, token limits,
dimensions, the sha256 of every file, where the weights came from, what exported them and how far the
graphs drift from the fp32 torch model. ``load_bundle`` refuses a bundle that does not match its
manifest. Torch-free: the app loads bundles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import KnownError
from core.hashing import sha256_file

# 2: the text graph takes taught names' input embeddings (``name_embeddings``) and the manifest says
# which vocabulary ids are their placeholders (``names``) and which checkpoint the graphs came from
# (``source.checkpoint_path``). Format 1 bundles still search; they cannot use taught names.
# 3: the bundle may carry taught names (``names.json``, export/carried_names.py). Only such a bundle is
# written as format 3: one without names stays format 2, which a Multigrain from before can read, while
# one with names is refused there as too new (it would leave the names out, or call the bundle edited).
FORMAT_VERSION = 3
FORMAT_WITHOUT_NAMES = 2
MANIFEST = "manifest.json"
VOCAB = "vocab.txt"
NAMES_FILE = "names.json"  # the taught names a bundle carries, when it carries any
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
# 3: the text graph's name_embeddings input (bundle format 2).
EXPORT_RECIPE = "3"


# Inputs and outputs of every graph, by name: the export writes them, the manifest lists them, and the
# runtime and ``verify`` check each graph file against its role here (not against the manifest, which
# can be edited along with a swapped file).
GRAPH_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vision": (("images",), ("embed", "tokens")),
    "concepts": (("image_tokens", "patch_masks"), ("embeds",)),
    "text": (("input_ids", "attention_mask"), ("embed", "hidden")),
    "itm": (("text_hidden", "text_mask", "image_tokens", "image_mask"), ("logit",)),
    "box": (("text_hidden", "text_mask", "image_tokens"), ("box",)),
}
# Inputs a graph has from a format on, beyond those its role needs (GRAPH_IO): an older bundle's graph
# lacks them and still serves every call that does not need them.
NAME_INPUT = "name_embeddings"
GRAPH_EXTRA_INPUTS: dict[str, tuple[str, ...]] = {"text": (NAME_INPUT,)}


def graph_inputs(graph: str) -> tuple[str, ...]:
    """Every input the export writes for ``graph``."""
    return GRAPH_IO[graph][0] + GRAPH_EXTRA_INPUTS.get(graph, ())


PREPROCESSING = ("image_size", "image_mean", "image_std", "max_tokens", "max_words")


class BundleError(KnownError):
    """A bundle that cannot be used (missing or changed file, unreadable or too new manifest)."""


def bundle_identity(model: str, variant: str, files: dict[str, str], preprocessing: dict[str, Any]) -> str:
    """``<model>-<variant>-<12 hex>``: the hash covers every graph, the vocabulary and the preprocessing
    constants, i.e. everything that decides a vector. The app stores it beside each vector and never
    compares vectors of two identities."""
    digest = hashlib.sha256()
    for name in sorted(files):
        # The names a bundle carries decide what a query with a name means, so they are part of it; a
        # bundle without them hashes exactly what it hashed before format 3.
        if name.endswith(".onnx") or name in (VOCAB, NAMES_FILE):
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
    preprocessing = {k: fields[k] for k in PREPROCESSING}
    manifest = {
        "format_version": FORMAT_VERSION if NAMES_FILE in files else FORMAT_WITHOUT_NAMES,
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

    @property
    def takes_names(self) -> bool:
        """Whether the text graph takes taught names' embeddings (format 2 on)."""
        return manifest_takes_names(self.manifest)

    @property
    def names_file(self) -> Path | None:
        """The taught names this bundle carries (format 3), or None."""
        return self.path / NAMES_FILE if NAMES_FILE in self.manifest["files"] else None


def manifest_takes_names(manifest: dict[str, Any]) -> bool:
    """Whether a manifest's text graph takes taught names' embeddings (format 2 on)."""
    text = manifest["graphs"].get("text", {})
    return isinstance(manifest.get("names"), dict) and NAME_INPUT in text.get("inputs", [])


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a bundle directory, checked for readability and format version only."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root} is not a model bundle directory")
    file = root / MANIFEST
    if not file.is_file():
        raise BundleError(f"{root}: missing file {MANIFEST}; not a model bundle")
    try:
        text = file.read_bytes()
    except OSError as err:
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: {err}") from err
    return parse_manifest(text, root)


def parse_manifest(text: bytes, root: str | Path) -> dict[str, Any]:
    """A manifest's bytes, checked for readability and format version only; ``root`` names the bundle
    in messages (a folder, or an archive not yet unpacked)."""
    try:
        manifest = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
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


def load_bundle(
    path: str | Path, *, verify_hashes: bool = True, file_hash: Callable[[Path], str] = sha256_file
) -> Bundle:
    """Open a bundle; refuse it (``BundleError``) on a missing file, a changed file (sha256), an identity
    its files do not give, a manifest that is unreadable or newer than this code. ``verify_hashes=False``
    skips the sha256 and identity checks; ``file_hash`` may answer from a cache of earlier hashes."""
    root = Path(path)
    manifest = read_manifest(root)
    files: dict[str, str] = manifest["files"]
    check_listing(root, manifest)
    for name, expected in sorted(files.items()):
        file = root / name
        if not file.is_file():
            raise BundleError(f"{root}: missing file {name} (listed in {MANIFEST})")
        if verify_hashes and file_hash(file) != expected:
            raise BundleError(
                f"{root}: {name} does not match its sha256 in {MANIFEST} (corrupt or edited); export again"
            )
    if verify_hashes:
        check_identity(root, manifest)
    return Bundle(root, manifest)


def plain_file_name(name: object) -> bool:
    """Whether ``name`` is a file name that stays inside its folder on every system: no folder part,
    no ``..``, no drive letter or stream (``:``), nothing absolute."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in "/\\:\0")
        and Path(name).name == name
    )


def check_listing(root: str | Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest whose file list is not plain names, or lacks a file the bundle needs."""
    files = manifest["files"]
    for name, digest in files.items():
        if not plain_file_name(name):  # a manifest must not point outside its directory
            raise BundleError(f"{root}: unreadable manifest {MANIFEST}: bad file name {name!r}")
        if not isinstance(digest, str):
            raise BundleError(f"{root}: unreadable manifest {MANIFEST}: no sha256 for {name}")
    graphs = manifest["graphs"].values()
    if not all(isinstance(g, dict) and isinstance(g.get("file"), str) for g in graphs):
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: a graph without its file")
    needed = {g["file"] for g in graphs} | {VOCAB}
    unlisted = sorted(needed - set(files))
    if unlisted:
        raise BundleError(f"{root}: unreadable manifest {MANIFEST}: no sha256 for {', '.join(unlisted)}")
    if NAMES_FILE in files and not manifest_takes_names(manifest):
        raise BundleError(
            f"{root}: the bundle carries taught names ({NAMES_FILE}) but its text graph cannot take "
            "them: the bundle's files were swapped or damaged; export it again"
        )


def check_identity(root: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest whose identity is not the one its (already verified) file hashes give: a graph
    file replaced and its hash edited to match would otherwise pass as the same model."""
    preprocessing = {k: manifest.get(k) for k in PREPROCESSING}
    expected = bundle_identity(
        str(manifest["model"]), str(manifest["variant"]), manifest["files"], preprocessing
    )
    if manifest["identity"] != expected:
        raise BundleError(
            f"{root}: the manifest's identity {manifest['identity']} is not the one its files give "
            f"({expected}): the bundle was edited; export it again"
        )


def check_graph_io(root: Path, graph: str, file: str, inputs: list[str], outputs: list[str]) -> None:
    """Refuse a graph file whose input or output names are not those its role needs (see GRAPH_IO)."""
    needed_in, needed_out = GRAPH_IO.get(graph, ((), ()))
    missing = [n for n in needed_in if n not in inputs] + [n for n in needed_out if n not in outputs]
    if missing:
        raise BundleError(
            f"{root}: {file} is not a {graph} graph (it lacks {', '.join(missing)}; it has inputs "
            f"{', '.join(inputs) or 'none'}): the bundle's files were swapped or damaged; export it again"
        )
