"""The benchmarks' synthetic library: reused for the same model, written again for another."""

from __future__ import annotations

from pathlib import Path

from app.bench import synthetic_db
from app.library import store
from app.library.db import open_db
from core.region_boxes import BOX_SET_NAME


def vectors_for(path: Path, identity: str) -> int:
    db = open_db(path)
    try:
        return len(store.hashes_with_vectors(db, [f"{i:064x}" for i in range(5)], identity, BOX_SET_NAME))
    finally:
        db.close()


def test_a_library_of_another_model_is_written_again_not_measured_empty(tmp_path: Path) -> None:
    path = tmp_path / "lib-5.db"
    synthetic_db(path, 5, "model-a", 8)
    assert vectors_for(path, "model-a") == 5
    written = path.stat().st_mtime_ns
    synthetic_db(path, 5, "model-a", 8)  # the same model: reused as it is
    assert path.stat().st_mtime_ns == written
    synthetic_db(path, 5, "model-b", 8)  # a bundle exported again: a new identity
    assert vectors_for(path, "model-b") == 5 and vectors_for(path, "model-a") == 0
