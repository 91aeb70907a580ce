"""The store's reads that search, status, captions, the GUI, tuning and the vector cache ask for by name."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from app.library import store, store_cache
from app.library.db import open_db
from app.library.migrations import SCHEMA_VERSION

MODEL, OTHER = "model-a", "model-b"
DIM, K = 4, 2


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    db = open_db(tmp_path / "library.db")
    yield db
    db.close()


def add_photo(db: Database, path: str, status: str = "ok", digest: str | None = None, **extra: object) -> int:
    folder_id = store.add_folder(db, os.path.dirname(path))
    digest = digest if digest is not None or status != "ok" else f"hash-of-{path}"
    store.save_photo(db, store.PhotoRecord(path, folder_id, 10, 1, status, digest, **extra))  # type: ignore[arg-type]
    return next(pid for pid, p in store.photo_paths(db).items() if p == path)


def add_vectors(db: Database, digest: str, model: str = MODEL, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    store.put_vectors(db, digest, model, rng.standard_normal(DIM), "boxes", rng.standard_normal((K, DIM)))


def test_photo_rows_skip_missing_ids_and_cross_the_chunk_size(db: Database) -> None:
    first = add_photo(db, "/p/a.jpg", taken_at="2024-05-01T12:00:00", width=40, height=30)
    ids = [first, *range(10_000, 10_000 + 600)]  # more ids than one IN (...) list holds
    rows = store.photo_rows(db, ids)
    assert list(rows) == [first]
    assert rows[first] == store.PhotoRow(first, "/p/a.jpg", "2024-05-01T12:00:00", 40, 30, "hash-of-/p/a.jpg")
    assert store.photo_rows(db, []) == {}


def test_photo_paths_and_hashes(db: Database) -> None:
    a = add_photo(db, "/p/a.jpg")
    b = add_photo(db, "/p/b.jpg", status="error")
    assert store.photo_paths(db) == {a: "/p/a.jpg", b: "/p/b.jpg"}
    assert store.photo_paths(db, [b, 999]) == {b: "/p/b.jpg"}
    assert store.photo_hashes(db) == {a: "hash-of-/p/a.jpg", b: None}


def test_readable_photo_ids_in_a_folder(db: Database) -> None:
    inside = add_photo(db, "/p/trip/a.jpg")
    deeper = add_photo(db, "/p/trip/day 2/b.jpg")
    add_photo(db, "/p/trip/broken.jpg", status="error")
    add_photo(db, "/p/trip2/c.jpg")  # a sibling whose name starts the same
    assert sorted(store.readable_photo_ids_in(db, "/p/trip").tolist()) == [inside, deeper]
    assert store.readable_photo_ids_in(db, "/p/trip/a.jpg").tolist() == [inside]  # a photo itself
    assert store.readable_photo_ids_in(db, "/elsewhere").dtype == np.int64


def test_counts_for_status(db: Database) -> None:
    add_photo(db, "/p/a.jpg")
    add_photo(db, "/p/b.jpg")
    add_photo(db, "/q/c.jpg", status="error")
    store.add_folder(db, "/empty")
    add_vectors(db, "hash-of-/p/a.jpg")
    add_vectors(db, "hash-of-/p/a.jpg", OTHER)
    add_vectors(db, "hash-of-/p/b.jpg", OTHER)
    store.put_caption(db, "hash-of-/p/a.jpg", "sidecar", "a dog")
    assert store.photo_counts_by_status(db) == {"ok": 2, "error": 1}
    assert store.photos_per_folder(db) == [("/p", 2), ("/q", 1), ("/empty", 0)]
    assert sorted(store.vectors_per_model(db)) == [(MODEL, 1), (OTHER, 2)]
    assert store.count_captions(db) == 1


def test_folder_counts_by_state_for_one_model(db: Database) -> None:
    add_photo(db, "/p/a.jpg")  # indexed with MODEL
    add_photo(db, "/p/b.jpg")  # read, but vectors of another model only: pending for MODEL
    add_photo(db, "/p/c.jpg", status="error")
    store.mark_pending(db, [("/p/d.jpg", store.add_folder(db, "/p"), 10, 1)])
    store.add_folder(db, "/empty")
    add_vectors(db, "hash-of-/p/a.jpg")
    add_vectors(db, "hash-of-/p/b.jpg", OTHER)
    assert store.folder_counts(db, MODEL) == [
        store.FolderCounts("/empty", 0, 0, 0, 0),
        store.FolderCounts("/p", 4, 1, 1, 2),
    ]
    assert store.folder_counts(db, OTHER)[1] == store.FolderCounts("/p", 4, 1, 1, 2)


def test_caption_reads_and_deletes(db: Database) -> None:
    add_photo(db, "/p/a.jpg")
    add_photo(db, "/p/gone.jpg", status="error")
    digest = "hash-of-/p/a.jpg"
    sidecar = store.put_caption(db, digest, "sidecar", "a dog")
    store.put_caption(db, digest, "user", "my dog")
    store.put_caption(db, "hash-of-nothing", "sidecar", "an orphan")  # no readable photo has it
    assert [(p, h) for p, h, _ in store.captionable_photos(db)] == [("/p/a.jpg", digest)]
    assert store.automatic_captions(db) == {
        (digest, "sidecar"): "a dog",
        ("hash-of-nothing", "sidecar"): "an orphan",
    }
    todo = store.captions_to_embed(db, MODEL)
    assert [text for _, text in todo] == ["a dog", "my dog"]
    store.put_caption_vector(db, sidecar, MODEL, np.ones(DIM, np.float32))
    assert [text for _, text in store.captions_to_embed(db, MODEL)] == ["my dog"]
    assert len(store.captions_to_embed(db, OTHER)) == 2
    store.delete_caption(db, digest, "sidecar")
    assert store.captions_for(db, digest) == {"user": "my dog"}


def test_all_vectors_of_one_model(db: Database) -> None:
    add_vectors(db, "h1", seed=1)
    add_vectors(db, "h2", OTHER, seed=2)
    found = store.all_vectors(db, MODEL)
    assert list(found) == ["h1"]
    one = store.get_vectors(db, "h1", MODEL)
    assert one is not None
    np.testing.assert_array_equal(found["h1"].embedding, one.embedding)
    np.testing.assert_array_equal(found["h1"].regions, one.regions)
    assert found["h1"].regions.shape == (K, DIM) and found["h1"].box_set == "boxes"


def test_last_run_as_stored(db: Database) -> None:
    assert store.last_run(db) is None
    store.start_run(db, MODEL)
    second = store.start_run(db, MODEL)
    store.finish_run(db, second, "done", store.RunCounts(total=5, encoded=4, failed=1))
    run = store.last_run(db)
    assert run is not None
    assert (run.status, run.total, run.encoded, run.failed, run.pid) == ("done", 5, 4, 1, os.getpid())


def test_checkpoint_empties_the_write_ahead_log(tmp_path: Path, db: Database) -> None:
    for i in range(50):
        add_photo(db, f"/p/{i}.jpg")
    wal = tmp_path / "library.db-wal"
    assert wal.stat().st_size > 0
    store.checkpoint(db)
    assert wal.stat().st_size == 0


# ----- the vector cache's reads ----------------------------------------------------------------------------
def test_aggregates_move_with_what_a_search_sees(db: Database) -> None:
    before = store_cache.aggregates(db, MODEL)
    assert before.schema == SCHEMA_VERSION
    add_photo(db, "/p/a.jpg")
    after_photo = store_cache.aggregates(db, MODEL)
    assert after_photo.photos != before.photos and after_photo.vectors == before.vectors
    add_vectors(db, "hash-of-/p/a.jpg", OTHER)
    assert store_cache.aggregates(db, MODEL).vectors == before.vectors  # another model's vectors
    add_vectors(db, "hash-of-/p/a.jpg")
    with_vectors = store_cache.aggregates(db, MODEL)
    assert with_vectors.vectors != before.vectors
    caption = store.put_caption(db, "hash-of-/p/a.jpg", "sidecar", "a dog")
    store.put_caption_vector(db, caption, MODEL, np.ones(DIM, np.float32))
    captioned = store_cache.aggregates(db, MODEL)
    assert captioned.captions != with_vectors.captions
    assert captioned.caption_vectors != with_vectors.caption_vectors


def test_cached_photo_rows_in_id_order_and_batches(db: Database) -> None:
    ids = [add_photo(db, f"/p/{name}.jpg") for name in "edcba"]
    add_photo(db, "/p/broken.jpg", status="error")
    add_photo(db, "/p/unencoded.jpg")
    for pid in ids:
        add_vectors(db, f"hash-of-{store.photo_paths(db)[pid]}", seed=pid)
    assert store_cache.count_cached_photos(db, MODEL) == 5
    assert store_cache.vector_shape(db, MODEL, "boxes") == (DIM, K)
    assert store_cache.vector_shape(db, MODEL, "other boxes") == (0, 0)
    batches = list(store_cache.cached_photo_batches(db, MODEL, 2))
    assert [len(b) for b in batches] == [2, 2, 1]
    rows = [row for batch in batches for row in batch]
    assert [row[0] for row in rows] == sorted(ids)
    assert rows[0][5:8] == ("boxes", DIM, K)


def test_caption_vector_rows_of_one_model(db: Database) -> None:
    first = store.put_caption(db, "h1", "sidecar", "a dog")
    second = store.put_caption(db, "h2", "xmp", "a cat")
    store.put_caption_vector(db, second, MODEL, np.ones(DIM, np.float32))
    store.put_caption_vector(db, first, MODEL, np.zeros(DIM, np.float32))
    store.put_caption_vector(db, first, OTHER, np.ones(DIM, np.float32))
    rows = list(store_cache.caption_vector_rows(db, MODEL))
    assert [(digest, text) for digest, _, text in rows] == [("h1", "a dog"), ("h2", "a cat")]


def test_read_snapshot_holds_one_transaction(tmp_path: Path, db: Database) -> None:
    add_photo(db, "/p/a.jpg")
    writer = sqlite3.connect(tmp_path / "library.db")
    with store.read_snapshot(db):
        assert db.conn.in_transaction
        before = store.count_photos(db)
        writer.execute("DELETE FROM photos")
        writer.commit()
        assert store.count_photos(db) == before == 1  # the snapshot does not see the other's write
    assert not db.conn.in_transaction
    assert store.count_photos(db) == 0
    writer.close()
