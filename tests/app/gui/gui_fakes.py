"""Helpers of the GUI tests: a fake model that can ground text, and direct indexing of a folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from search_fakes import TextTable

from app.home import thumbs_dir
from app.library.db import open_db
from app.library.indexer import Indexer


class GroundingFake(TextTable):
    """TextTable (text vectors chosen by the test) with the box and ITM heads the result view uses.

    ``text_delay_s``: each ``encode_texts`` call sleeps this long (a slow model); ``slow_texts``: only
    calls with those texts are slow. ``gate``: calls with ``slow_texts`` wait until the test sets it
    (``entered`` is set when one starts waiting), for tests that must not depend on timing;
    ``image_gate``: image encodes after the first ``image_gate_after`` wait until it is set."""

    has_box_head = True
    providers = ("CPUExecutionProvider",)

    def __init__(
        self,
        texts: dict[str, np.ndarray] | None = None,
        text_delay_s: float = 0.0,
        slow_texts: Sequence[str] = (),
        box: tuple[float, float, float, float] = (0.5, 0.5, 0.4, 0.3),
        gate: threading.Event | None = None,
        image_gate: threading.Event | None = None,
        image_gate_after: int = 0,
        **kwargs: object,
    ) -> None:
        super().__init__(texts, **kwargs)
        self.gate = gate
        self.image_gate, self.image_gate_after = image_gate, image_gate_after
        self._image_encodes = 0
        self.entered = threading.Event()
        self.text_delay_s = text_delay_s
        self.slow_texts = set(slow_texts)
        self.box = box
        self.manifest = {"token_grid": {"patch_stride": 8}}

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        slow = not self.slow_texts or bool(self.slow_texts & set(texts))
        if self.gate is not None and slow:
            self.entered.set()
            self.gate.wait(30)
        if self.text_delay_s and slow:
            time.sleep(self.text_delay_s)
        return super().encode_texts(texts)

    def encode_images(
        self, images: Sequence[object] | np.ndarray, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        self._image_encodes += 1
        if self.image_gate is not None and self._image_encodes > self.image_gate_after:
            self.image_gate.wait(30)
        return super().encode_images(images, batch_size)  # type: ignore[arg-type]

    def itm_scores(
        self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray, image_mask: np.ndarray | None = None
    ) -> np.ndarray:
        return np.full(max(len(hidden), len(tokens)), 1.5, np.float32)

    def predict_boxes(self, hidden: np.ndarray, mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.tile(np.array(self.box, np.float32), (max(len(hidden), len(tokens)), 1))


def index_folder(db_path: Path, runtime: object, folders: Sequence[Path]) -> None:
    """Index ``folders`` into the library at ``db_path`` and build its vector cache, as the CLI does."""
    from app import vectorcache
    from core.region_boxes import BOX_SET_NAME

    db = open_db(db_path)
    try:
        Indexer(db, runtime, thumbs_dir(db_path), batch_size=4).index([str(f) for f in folders])  # type: ignore[arg-type]
        vectorcache.build(db, db_path, runtime.identity, BOX_SET_NAME)  # type: ignore[attr-defined]
    finally:
        db.close()
