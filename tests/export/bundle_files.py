"""Small bundles for the intake and names-file tests, made without torch: files of bytes with a real
manifest (``write_manifest`` hashes them and gives the identity), so every check but the graphs' roles
applies to them."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from export.bundle import NAMES_FILE, write_manifest
from export.carried_names import CarriedName, write_names

HIDDEN = 8
SLOTS = 64


def fields(name: str = "fake") -> dict[str, Any]:
    return {
        "model": name,
        "config": {"name": name, "text": {"hidden_size": HIDDEN}},
        "variant": "fp32",
        "image_size": 32,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "max_tokens": 8,
        "max_words": 8,
        "embed_dim": 8,
        "token_grid": {"grid": 4, "patch_stride": 8, "num_tokens": 17, "width": 3},
        "graphs": {
            "vision": {"file": "vision.onnx", "inputs": ["images"]},
            "text": {"file": "text.onnx", "inputs": ["input_ids", "attention_mask", "name_embeddings"]},
        },
        "names": {"input": "name_embeddings", "slots": SLOTS, "first_id": 1},
    }


def rex(slot: int = 3, value: float = 0.25) -> CarriedName:
    row = np.linspace(-1, 1, HIDDEN, dtype=np.float32) * np.float32(value) + np.float32(1e-7)
    return CarriedName("Rex", "dog", slot, row)


def make_bundle(folder: Path, names: list[CarriedName] | None = None, seed: int = 0) -> dict[str, Any]:
    """A bundle folder of fake graphs (random bytes) and a vocabulary; with ``names``, a names file."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    (folder / "vision.onnx").write_bytes(rng.bytes(3000))
    (folder / "text.onnx").write_bytes(rng.bytes(2000))
    (folder / "vocab.txt").write_text("[PAD]\n[unused0]\n[CLS]\n")
    if names:
        write_names(folder / NAMES_FILE, names, HIDDEN, SLOTS)
    return write_manifest(folder, fields())


def zip_members(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    """An archive holding exactly ``members`` (names as given, even hostile ones); ``links`` are stored
    as symbolic links."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            mode = (stat.S_IFLNK | 0o777) if name in links else (stat.S_IFREG | 0o644)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def members_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
