"""The vector cache and the in-memory index: fresh caches are used, stale ones rebuilt, int8 is exact
enough, and the two-stage layout agrees with the exact one."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from search_fakes import DIM, K, Library, TextTable, axis, unit

from app import search, vectorcache
from app.library import store
from app.library.db import open_db
from app.query import make_query
from app.search import Searcher
from app.vectorcache import CacheWriter
from app.vectors import VectorIndex, load_index
from core.region_boxes import BOX_SET_NAME, BOXES
from core.search_settings import SearchSettings


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("MULTIGRAIN_HOME", str(tmp_path / "home"))
    db = open_db(tmp_path / "library.db")
    yield Library(db, tmp_path / "library.db", tmp_path, TextTable({"dog": axis(0)}))
    db.close()


def load(lib: Library, **kwargs: object) -> VectorIndex:
    return load_index(lib.db, lib.path, lib.runtime.identity, BOX_SET_NAME, **kwargs)


def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the builds from BLOBs from now on."""
    calls: list[int] = []
    real = vectorcache._write_from_db

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(vectorcache, "_write_from_db", counting)
    return calls


def test_a_fresh_cache_is_used_and_a_stale_one_rebuilt(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    lib.add_noise(5)
    calls = builds(monkeypatch)
    first = load(lib)
    assert first.n == 5 and len(calls) == 1
    again = load(lib)
    assert again.info.path == first.info.path and len(calls) == 1  # fresh: no BLOB read

    lib.add("new.jpg", axis(0))  # a new photo
    grown = load(lib)
    assert grown.n == 6 and len(calls) == 2
    assert not first.info.path.exists()  # the older build is deleted

    lib.db.execute("DELETE FROM photos WHERE path LIKE '%noise0001%'")  # a removed photo
    assert load(lib).n == 5 and len(calls) == 3

    digest = lib.db.execute("SELECT content_hash FROM photos WHERE path LIKE '%new.jpg'").fetchone()[0]
    caption = store.put_caption(lib.db, digest, "sidecar", "a dog")  # a new caption
    store.put_caption_vector(lib.db, caption, lib.runtime.identity, axis(0))
    with_caption = load(lib)
    assert len(calls) == 4 and with_caption.caption_rows.tolist() == [
        with_caption.position(
            int(lib.db.execute("SELECT id FROM photos WHERE content_hash = ?", [digest]).fetchone()[0])
        )
    ]

    assert with_caption.caption_texts == ["a dog"]  # the words beside the vector, for search

    edited = store.put_caption(lib.db, digest, "sidecar", "a dog on the beach")  # edited, re-encoded:
    store.put_caption_vector(lib.db, edited, lib.runtime.identity, axis(0))  # the same counts as before
    assert load(lib).caption_texts == ["a dog on the beach"] and len(calls) == 5
    calls.pop()

    store.save_photo(  # re-indexed (same path, new content time): stale again
        lib.db,
        store.PhotoRecord(str(lib.root / "photos/new.jpg"), 1, 1, 2, "ok", digest, 4, 3),
        indexed_at=1e10,
    )
    load(lib)
    assert len(calls) == 5


def test_another_models_vectors_do_not_make_the_cache_stale(
    lib: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib.add_noise(3)
    calls = builds(monkeypatch)
    load(lib)
    other = lib.db.execute("SELECT content_hash FROM photos LIMIT 1").fetchone()[0]
    store.put_vectors(lib.db, other, "another-model", axis(1), BOX_SET_NAME, np.tile(axis(1), (K, 1)))
    load(lib)
    assert len(calls) == 1


def test_a_damaged_build_is_replaced(lib: Library) -> None:
    lib.add_noise(3)
    home = vectorcache.identity_dir(lib.path, lib.runtime.identity)
    key = vectorcache.fingerprint_key(
        vectorcache.fingerprint(lib.db, lib.runtime.identity, BOX_SET_NAME), vectorcache.EXACT_LIMIT
    )
    (home / key).mkdir(parents=True)  # a damaged build: no meta.json
    (home / key / "ids.i64").write_bytes(b"junk")
    assert vectorcache.find_fresh(lib.db, lib.path, lib.runtime.identity, BOX_SET_NAME) is None
    assert load(lib).ids.tolist() == [1, 2, 3]  # replaced by a good build


def test_vectors_of_another_box_set_are_left_out(lib: Library) -> None:
    lib.add("ok.jpg", axis(0))
    lib.add("old_boxes.jpg", axis(0))
    lib.db.execute(
        "UPDATE vectors SET box_set = 'grid-old' WHERE content_hash IN "
        "(SELECT content_hash FROM photos WHERE path LIKE '%old_boxes.jpg')"
    )
    index = load(lib)
    assert index.n == 2 and index.usable.tolist() == [True, False]
    hits = (
        Searcher(lib.db, lib.path, lib.runtime, index=index).search(make_query("dog"), use_cutoff=False).hits
    )
    assert [Path(h.path).name for h in hits] == ["ok.jpg"]


def test_searcher_refresh_sees_new_photos(lib: Library) -> None:
    lib.add("a.jpg", axis(0))
    s = Searcher(lib.db, lib.path, lib.runtime)
    assert s.index.n == 1
    lib.add("b.jpg", axis(0))
    s.refresh()
    assert s.index.n == 2


def test_the_coarse_tier_holds_five_boxes_and_the_shortlist_all_fourteen(lib: Library) -> None:
    """The 4-bit pass holds the quarters and the centre box only; a photo whose match is one box of the
    3x3 grid (outside the coarse set) is still found, by the int8 rescoring of the shortlist's 14 boxes
    (in a library this small the shortlist holds every photo)."""
    assert vectorcache.COARSE_BOXES == (0, 1, 2, 3, 13) and all(b < K for b in vectorcache.COARSE_BOXES)
    lib.add_noise(30, away_from=axis(0))
    regions = np.tile(unit(axis(1) + axis(2)), (K, 1))
    regions[8] = axis(0)  # the 3x3 grid's centre: the ninth box
    assert 8 not in vectorcache.COARSE_BOXES
    target = lib.add("dog_in_the_middle.jpg", unit(axis(1) + axis(2) + 0.1 * axis(0)), regions)
    index = load(lib)
    assert index.exact and search.shortlist_size(index.n, True) >= index.n
    padded = 16  # DIM 8, padded to the smallest 4-bit block: 8 bytes and one scale a vector
    four_bit = 31 * 5 * (padded // 2 + 4)
    assert index.memory_bytes()["regions 4-bit"] == four_bit
    on_disk = sum((index.info.path / f).stat().st_size for f in ("regions4.u8", "regions4.f32"))
    assert on_disk == four_bit  # 5 boxes' worth, not 14
    at = index.position(target)
    assert at is not None
    cos = index.cosines(unit(axis(0))[None], lambda g, coarse: np.arange(index.n))
    assert cos.coarse is not None and cos.coarse[0, at] < 0.2  # the coarse pass does not see the dog
    settings = SearchSettings(w_global=0.5, w_region=0.5, w_caption=0.0)
    hits = (
        Searcher(lib.db, lib.path, lib.runtime, settings, index=index)
        .search(make_query("dog"), use_cutoff=False)
        .hits
    )
    assert Path(hits[0].path).name == "dog_in_the_middle.jpg"
    assert hits[0].cosines.region == pytest.approx(1.0, abs=0.01)
    assert hits[0].region == pytest.approx(tuple(BOXES[8]))


# ----- int8 accuracy and the two layouts ------------------------------------------------------------
def synthetic(
    path: Path, n: int, exact: bool, seed: int = 0, dim: int = 64
) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = unit(rng.standard_normal((n, dim)))
    r = unit(rng.standard_normal((n, K, dim)))
    writer = CacheWriter(path, n, K, dim, exact)
    for s in range(0, n, 70):
        e = min(n, s + 70)
        writer.add(np.arange(s, e) + 1, np.zeros(e - s), np.zeros(e - s), g[s:e], r[s:e])
    info = writer.finish(np.array([3, 3, 9]), unit(rng.standard_normal((3, dim))), ["a", "b", "c"])
    return VectorIndex(info), g, r


@pytest.mark.parametrize("exact", [True, False])
def test_int8_cosines_match_float(tmp_path: Path, exact: bool) -> None:
    index, g, r = synthetic(tmp_path / "c", 300, exact)
    q = unit(np.random.default_rng(1).standard_normal((4, 64)))
    cos = index.cosines(q)
    best = np.einsum("qd,nkd->qnk", q, r).max(axis=2)
    assert np.abs(cos.global_ - q @ g.T).max() < 0.01
    assert cos.rows.tolist() == list(range(300)) and np.abs(cos.regions - best).max() < 0.01
    if exact:  # the coarse 4-bit pass: ~7e-3 off (a wrong nibble order or scale would be far worse)
        coarse = np.einsum("qd,nkd->qnk", q, r[:, list(vectorcache.COARSE_BOXES)]).max(axis=2)
        assert np.abs(cos.coarse - coarse).mean() < 0.012 and np.abs(cos.coarse - coarse).max() < 0.06
        assert np.corrcoef(cos.coarse.ravel(), coarse.ravel())[0, 1] > 0.97
    else:
        assert cos.coarse is None
    rows, best = index.caption_scores(q)
    assert rows.tolist() == [3, 9]
    expected = q @ index.caption_vectors.T
    assert np.allclose(best, np.c_[expected[:, :2].max(axis=1), expected[:, 2]], atol=1e-5)
    box, value = index.best_region(q[0], 7)
    assert box == int(np.argmax(r[7] @ q[0])) and value == pytest.approx((r[7] @ q[0]).max(), abs=0.01)


def test_two_stage_agrees_with_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exact, _, _ = synthetic(tmp_path / "exact", 400, True)
    staged, _, _ = synthetic(tmp_path / "staged", 400, False)
    held = lambda index: sum(index.memory_bytes().values())  # noqa: E731
    assert "regions 4-bit" not in staged.memory_bytes() and held(staged) < held(exact) / 2
    db = open_db(tmp_path / "empty.db")
    runtime = TextTable({"q": unit(np.random.default_rng(2).standard_normal(64))})
    runtime.embed_dim = 64
    settings = SearchSettings(w_caption=0.0)
    a = Searcher(db, tmp_path / "empty.db", runtime, settings, index=exact).rank(
        make_query("q"), use_cutoff=False
    )
    b = Searcher(db, tmp_path / "empty.db", runtime, settings, index=staged).rank(
        make_query("q"), use_cutoff=False
    )
    # Same int8 vectors; the two layouts quantise the query differently (per tensor / per row), so
    # scores agree to ~1e-3 and near-ties may swap.
    assert len(set(a.positions[:10]) & set(b.positions[:10])) >= 9
    assert np.allclose(np.sort(a.scores)[-10:], np.sort(b.scores)[-10:], atol=5e-3)

    monkeypatch.setattr(search, "SHORTLIST_MIN", 100)  # a real shortlist: the top 10 of 400 still found
    monkeypatch.setattr(search, "STATS_SAMPLE", 50)
    c = Searcher(db, tmp_path / "empty.db", runtime, settings, index=staged).rank(
        make_query("q"), use_cutoff=False
    )
    assert len(c.positions) < 160 and c.positions[:10].tolist() == b.positions[:10].tolist()


def test_dims_and_photo_columns_round_trip(tmp_path: Path) -> None:
    index, _, _ = synthetic(tmp_path / "c", 10, True)
    assert (index.n, index.dim, index.box_count) == (10, 64, K)
    assert index.cosines(np.ones((1, 64), np.float32) / 8).global_.shape == (1, 10)
    assert index.ids.tolist() == list(range(1, 11)) and index.position(4) == 3 and index.position(99) is None
    assert DIM == 8  # the other tests' fake model


def test_4bit_packing_matches_its_definition() -> None:
    from app.int8 import block_size, padded_dim, quantize_4bit

    assert [padded_dim(d) for d in (8, 16, 100, 256)] == [16, 16, 112, 256]
    assert [block_size(padded_dim(d)) for d in (8, 100, 256, 384)] == [16, 16, 128, 128]
    x = unit(np.random.default_rng(3).standard_normal((5, 32)))
    packed, scales = quantize_4bit(x, 16)
    assert packed.shape == (5, 2, 8) and scales.shape == (10,)
    nibbles = np.stack([packed & 15, packed >> 4], axis=-1).reshape(5, 2, 16).astype(np.float32) - 8
    decoded = (nibbles * scales.reshape(5, 2, 1)).reshape(5, 32)
    assert np.abs(decoded - x).max() <= scales.max() / 2 + 1e-6


def test_a_build_that_finishes_while_another_cleans_up_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builds at once (the window reloading while a run finishes): one's temporary folder is renamed
    between the other's listing and its look at the folder's age. That is no error."""
    home = tmp_path / "vcache"
    (home / "kept").mkdir(parents=True)
    (home / ".build-renamed-meanwhile").mkdir()
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> object:
        if self.name.startswith(".build-"):
            raise FileNotFoundError(errno.ENOENT, "renamed by the other build", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    vectorcache._remove_others(home, keep=home / "kept")
    assert (home / "kept").is_dir()
