"""What a search keeps in memory: graphs opened only when a query needs them, the int8 region rows read a
shortlist at a time (never mapped in whole), the encoder's memory settings reaching onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from search_fakes import K, unit

from app import blockfile
from app.blockfile import BlockFile
from app.library.db import open_db
from app.query import make_query
from app.search import Searcher
from app.vectorcache import CacheWriter
from app.vectors import VectorIndex
from core.search_settings import SearchSettings
from export.runtime import Runtime, SessionTuning


def _index(path: Path, n: int, dim: int, exact: bool = True) -> VectorIndex:
    rng = np.random.default_rng(0)
    writer = CacheWriter(path, n, K, dim, exact)
    g, r = unit(rng.standard_normal((n, dim))), unit(rng.standard_normal((n, K, dim)))
    writer.add(np.arange(n) + 1, np.zeros(n), np.zeros(n), g, r)
    return VectorIndex(writer.finish(np.zeros(0, np.int64), np.zeros((0, dim), np.float32)))


def _resident_kb(path: Path) -> int | None:
    """Resident kB of this process's maps of the file at ``path`` (None: not mapped at all); another
    test's index the garbage collector has not freed yet maps a file of the same name elsewhere."""
    found = None
    mapped = False
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split(maxsplit=5)
            if "-" in first[0] and len(first) >= 5 and ":" in first[3]:
                mapped = len(first) > 5 and first[5].strip() == str(path.resolve())
            elif mapped and line.startswith("Rss:"):
                found = (found or 0) + int(line.split()[1])
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_large_region_rows_are_read_for_the_shortlist_never_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blockfile, "MAP_BUDGET", 1 << 20)  # 1 MB: these 2.7 MB of int8 rows are "large"
    index = _index(tmp_path / "c", 3000, 64)
    rows = tmp_path / "c" / "region_rows.i8"
    assert not _resident_kb(rows)  # opening the index read none of them
    q = unit(np.random.default_rng(1).standard_normal((1, 64)))
    cos = index.cosines(q, lambda g, coarse: np.argsort(-coarse[0])[:50])
    assert cos.rows.size == 50 and not _resident_kb(rows)  # nor did a search
    assert index.best_region(q[0], 7)[0] in range(K) and not _resident_kb(rows)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_small_region_rows_are_mapped_in_whole(tmp_path: Path) -> None:
    index = _index(tmp_path / "c", 300, 64)  # 270 kB: under the budget, mapped and populated at once
    assert (_resident_kb(tmp_path / "c" / "region_rows.i8") or 0) * 1024 >= 300 * K * 64
    assert index.photo_vectors(3)[1].shape == (K, 64)


@pytest.mark.parametrize("budget", [0, 1 << 20])  # read, mapped
def test_block_file_reads_any_positions(tmp_path: Path, budget: int) -> None:
    data = np.arange(7 * 3 * 4, dtype=np.int8).reshape(7, 3, 4)
    data.tofile(tmp_path / "rows")
    blocks = BlockFile(tmp_path / "rows", np.int8, (3, 4), 7, map_budget=budget)
    assert blocks.mapped == (budget > 0 and sys.platform != "win32")
    for positions in ([0], [6], [2, 3, 4], [5, 1, 1, 6, 0], list(range(7)), []):
        assert np.array_equal(blocks.read(np.array(positions, np.int64)), data[positions])
    assert np.array_equal(blocks.block(4), data[4])
    with pytest.raises(IndexError):
        blocks.read(np.array([7]))
    blocks.close()
    assert BlockFile(tmp_path / "none", np.int8, (3, 4), 0).read(np.zeros(0, np.int64)).shape == (0, 3, 4)


def test_the_best_box_and_a_photos_regions_come_from_the_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    r = unit(rng.standard_normal((20, K, 32)))
    writer = CacheWriter(tmp_path / "c", 20, K, 32, False)
    writer.add(np.arange(20) + 1, np.zeros(20), np.zeros(20), unit(rng.standard_normal((20, 32))), r)
    index = VectorIndex(writer.finish(np.zeros(0, np.int64), np.zeros((0, 32), np.float32)))
    assert np.abs(index.photo_vectors(11)[1] - r[11]).max() < 0.01
    q = unit(rng.standard_normal(32))
    assert index.best_region(q, 5)[0] == int(np.argmax(r[5] @ q))


def test_a_text_search_opens_only_the_text_graph(fp32_bundle: Path, tmp_path: Path) -> None:
    runtime = Runtime(fp32_bundle, providers="cpu")
    index = _index(tmp_path / "c", 40, runtime.embed_dim)
    db = open_db(tmp_path / "empty.db")
    searcher = Searcher(db, tmp_path / "empty.db", runtime, SearchSettings(w_caption=0.0), index=index)
    assert runtime.open_sessions == ()  # the searcher and its index open no graph of the model
    searcher.rank(make_query("a red square -a dog"))
    assert runtime.open_sessions == ("text",)
    example = tmp_path / "example.png"
    Image.new("RGB", (50, 40), (200, 30, 30)).save(example)
    searcher.rank(make_query("", image=str(example)))  # an example image needs the vision graph
    assert set(runtime.open_sessions) == {"text", "vision"}  # never the region, match or box graphs


def test_the_memory_settings_reach_every_session(fp32_bundle: Path) -> None:
    lean = Runtime(fp32_bundle, providers="cpu", tuning=SessionTuning(arena=False, memory_pattern=False))
    options = lean.session("vision").get_session_options()
    assert not options.enable_cpu_mem_arena and not options.enable_mem_pattern
    default = Runtime(fp32_bundle, providers="cpu").session("vision").get_session_options()
    assert default.enable_cpu_mem_arena == SessionTuning().arena
