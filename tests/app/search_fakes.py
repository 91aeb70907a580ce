"""A library with hand-made vectors and a fake model whose text vectors are chosen by the test."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fake_runtime import FakeRuntime
from sqlite_utils import Database

from app.library import store
from core.region_boxes import BOX_SET_NAME, BOXES

DIM = 8
K = len(BOXES)


def unit(x: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def axis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    return v


class TextTable(FakeRuntime):
    """FakeRuntime whose ``encode_texts`` returns the vector a test set for a text (hash-random else)."""

    def __init__(self, texts: dict[str, np.ndarray] | None = None, **kwargs: object) -> None:
        super().__init__(embed_dim=DIM, **kwargs)
        self.texts = dict(texts or {})
        self.text_calls: list[list[str]] = []

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.text_calls.append(list(texts))
        out = []
        for text in texts:
            if text in self.texts:
                out.append(unit(self.texts[text]))
            elif not any(c.isalnum() for c in text):
                out.append(np.zeros(DIM, np.float32))  # blank after pre_caption, like the runtime
            else:
                seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
                out.append(unit(np.random.default_rng(seed).standard_normal(DIM)))
        hidden = np.zeros((len(texts), 4, DIM), np.float32)
        return np.stack(out), hidden, np.ones((len(texts), 4), np.int64)


@dataclass
class Library:
    db: Database
    path: Path
    root: Path
    runtime: TextTable

    def add(
        self,
        name: str,
        embedding: np.ndarray,
        regions: np.ndarray | None = None,
        taken_at: str | None = None,
        folder: str = "photos",
        caption: np.ndarray | None = None,
        caption_text: str | None = None,
    ) -> int:
        """A photo row with the given global (D,) and optional (K, D) region vectors, and a caption of
        embedding ``caption`` and words ``caption_text`` (default: 'caption of NAME'); returns its id."""
        folder_path = os.fspath(self.root / folder)
        folder_id = store.add_folder(self.db, folder_path)
        path = os.path.join(folder_path, name)
        digest = hashlib.sha256(path.encode()).hexdigest()
        embedding = unit(embedding)
        if regions is None:
            regions = np.tile(embedding, (K, 1))
        store.put_vectors(self.db, digest, self.runtime.identity, embedding, BOX_SET_NAME, unit(regions))
        store.save_photo(
            self.db,
            store.PhotoRecord(path, folder_id, 100, 1, "ok", digest, 40, 30, taken_at),
        )
        if caption is not None:
            text = caption_text if caption_text is not None else f"caption of {name}"
            caption_id = store.put_caption(self.db, digest, "sidecar", text)
            store.put_caption_vector(self.db, caption_id, self.runtime.identity, unit(caption))
        return int(self.db.execute("SELECT id FROM photos WHERE path = ?", [path]).fetchone()[0])

    def add_noise(self, count: int, seed: int = 0, away_from: np.ndarray | None = None) -> None:
        """``count`` photos with random vectors (mostly turned away from ``away_from``: they never match it,
        yet their scores for it still spread, as non-matching photos' do)."""
        rng = np.random.default_rng(seed)
        for i in range(count):
            v = rng.standard_normal(DIM)
            if away_from is not None:  # a Gaussian cosine with it, sd 0.05
                a = unit(away_from)
                v = unit(v - (v @ a) * a) + 0.05 * rng.standard_normal() * a
            # Regions like the global view: a maximum over random regions would skew the scores
            # upwards, which the bundle's calibrated z (not the default) accounts for.
            self.add(f"noise{i:04d}.jpg", v)
