"""Concept pack test helpers: a model bundle that is only its manifest (export and import read nothing
else of a bundle), and names taught straight into a library's tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from app.library.db import open_db
from app.personal.store import Label, LearnedName, save_taught
from core.names import NAME_SLOTS

WEIGHTS = "a" * 64
OTHER_WEIGHTS = "b" * 64
HIDDEN = 8
EMBED_DIM = 8
PHOTO_HASH = "c" * 64
IDENTITY = "tiny-fp32-111111111111"


def fake_bundle(
    folder: Path,
    identity: str = IDENTITY,
    weights: str | None = WEIGHTS,
    hidden: int = HIDDEN,
    names: bool = True,
    checkpoint: Path | None = None,
) -> Path:
    """A bundle folder with only a manifest: export and import read nothing else of a bundle."""
    folder.mkdir(parents=True)
    inputs = ["input_ids", "attention_mask"] + (["name_embeddings"] if names else [])
    manifest: dict[str, Any] = {
        "format_version": 2 if names else 1,
        "identity": identity,
        "model": "tiny",
        "config": {"text": {"hidden_size": hidden}},
        "variant": identity.split("-")[1],
        "image_size": 32,
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
        "max_tokens": 16,
        "max_words": 10,
        "embed_dim": EMBED_DIM,
        "token_grid": {},
        "graphs": {"text": {"file": "text.onnx", "inputs": inputs}},
        "files": {},
        "source": {"weights_sha256": weights, "checkpoint_path": str(checkpoint) if checkpoint else None},
    }
    if names:
        manifest["names"] = {"input": "name_embeddings", "slots": NAME_SLOTS, "first_id": 1}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def look_of(i: int) -> np.ndarray:
    """The look ``teach_rows`` gives its ``i``-th name: a unit vector of the fake bundle's width."""
    look = np.zeros(EMBED_DIM, np.float32)
    look[i % EMBED_DIM] = 1.0
    return look


def teach_rows(
    db_path: Path, names: list[str], weights: str = WEIGHTS, model: str = IDENTITY, looks: bool = False
) -> None:
    """Each name taught from one photo (a path under /home/me) with a learned row for ``model`` (and
    with ``looks``, a look)."""
    db = open_db(db_path)
    for i, name in enumerate(names):
        token = np.linspace(-1, 1, HIDDEN, dtype=np.float32) * (i + 1)
        labels = [Label(PHOTO_HASH, f"/home/me/photos/{name}.jpg", (0.1, 0.2, 0.3, 0.4), False)]
        look = look_of(i) if looks else None
        save_taught(db, name, "dog", labels, LearnedName(model, weights, "token", token, 1, 2.5, look))
    db.close()
