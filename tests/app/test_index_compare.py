"""The index comparison's own helpers (recall@10, lines of code, the exact top 10 it measures against),
and both indexes' rankings on a small library against the exact float scan."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from app import faiss_scan, index_compare
from app.index_compare import code_lines, recall_at_k
from app.vectorcache import read_info
from app.vectors import VectorIndex
from core.search_settings import SearchSettings

SETTINGS = SearchSettings(w_global=0.8, w_region=0.2)


def test_recall_counts_the_true_first_k_found_in_any_order() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 2, 1], [5, 9, 10, 6]])
    assert recall_at_k(found, truth, k=4) == pytest.approx((1.0 + 0.5) / 2)
    # Only the first k of each list count: 1 found beyond them is not a hit.
    assert recall_at_k(np.array([[9, 8, 1]]), np.array([[1, 2, 3]]), k=2) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(found[:1], truth)


SOURCE = '''"""A module docstring
over two lines."""

import os  # a comment after code counts as code


# a comment alone
class Thing:
    """Its docstring."""

    def method(self) -> int:
        """One line."""
        value = (
            1
            + 2
        )
        return value


def text() -> str:
    return """a string that is
    not a docstring"""
'''


def test_code_lines_leave_out_blanks_comments_and_docstrings() -> None:
    # import; class; def method; value = ( 1 + 2 ) over 4 lines; return; def text; return over 2 lines
    assert code_lines(SOURCE) == 1 + 1 + 1 + 4 + 1 + 1 + 2
    assert code_lines(SOURCE, "Thing.method") == 1 + 4 + 1
    assert code_lines(SOURCE, "text") == 3
    with pytest.raises(ValueError):
        code_lines(SOURCE, "method")  # a method is named by its class too


@pytest.fixture(params=["exact", "two-stage"])
def library(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> index_compare.Library:
    """300 photos, in the layout of a small library (4-bit regions of every photo) or of a large one."""
    pytest.importorskip("faiss")
    monkeypatch.setattr(index_compare, "CHUNK", 64)  # several chunks, so the running top 10 merges
    monkeypatch.setattr(faiss_scan, "_TRAIN", 250)  # trained before the last chunk: later ones only added
    if request.param == "two-stage":
        monkeypatch.setattr(index_compare, "EXACT_LIMIT", 100)
        monkeypatch.setattr(faiss_scan, "EXACT_LIMIT", 100)
    lib = index_compare.build_library(tmp_path, 300, 3, 16, SETTINGS, 6)
    info = read_info(lib.ours)
    assert info is not None and info.exact == (request.param == "exact")
    return lib


def test_the_truth_kept_while_building_is_the_exact_top_ten(library: index_compare.Library) -> None:
    chunks = [
        index_compare.photo_chunk(5, c, min(64, 300 - s), 3, 16) for c, s in enumerate(range(0, 300, 64))
    ]
    g = np.concatenate([c[0] for c in chunks])
    r = np.concatenate([c[1] for c in chunks])
    scores = index_compare.exact_scores(library.queries, g, r, SETTINGS)
    assert library.truth.shape == (6, 10)
    for row, best in zip(scores, library.truth, strict=True):
        assert np.array_equal(best, np.argsort(-row, kind="stable")[:10])


def test_both_indexes_find_the_exact_top_ten(library: index_compare.Library) -> None:
    info = read_info(library.ours)
    assert info is not None
    ours = VectorIndex(info)
    theirs = faiss_scan.FaissRanker(library.faiss, 3, SETTINGS.w_global, SETTINGS.w_region)
    assert ours.exact == (theirs.regions4 is not None)  # both in the layout the library size asks for
    found_ours = np.stack([index_compare.ours_top(ours, q, SETTINGS) for q in library.queries])
    found_faiss = np.stack([theirs.top(q, 10, 2000) for q in library.queries])
    # Every photo is a candidate here, so only quantisation can swap near-ties at the edge of the top 10.
    assert recall_at_k(found_ours, library.truth) >= 0.9
    assert recall_at_k(found_faiss, library.truth) >= 0.9
    # Each query is a view of one photo: both put the exact scan's first photo first.
    assert np.array_equal(found_ours[:, 0], library.truth[:, 0])
    assert np.array_equal(found_faiss[:, 0], library.truth[:, 0])


def test_faiss_scores_are_the_formula_within_8_bit_error(library: index_compare.Library) -> None:
    theirs = faiss_scan.FaissRanker(library.faiss, 3, SETTINGS.w_global, SETTINGS.w_region)
    rows = np.arange(300)
    chunks = [
        index_compare.photo_chunk(5, c, min(64, 300 - s), 3, 16) for c, s in enumerate(range(0, 300, 64))
    ]
    g = np.concatenate([c[0] for c in chunks])
    r = np.concatenate([c[1] for c in chunks])
    q = library.queries[0]
    exact = index_compare.exact_scores(q[None], g, r, SETTINGS)[0]
    assert np.abs(theirs.scores(q, rows) - exact).max() < 0.02


def test_without_faiss_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(RuntimeError, match="pip install faiss-cpu"):
        faiss_scan.load_faiss()


def test_faiss_candidates_include_the_photo_of_the_best_region(tmp_path: Path) -> None:
    """A photo found by one of its regions alone is a candidate (region row -> photo position)."""
    pytest.importorskip("faiss")
    n, k, dim = 40, 3, 16
    rng = np.random.default_rng(0)
    g = rng.standard_normal((n, dim)).astype(np.float32)
    r = rng.standard_normal((n, k, dim)).astype(np.float32)
    g[:, 0] = r[:, :, 0] = 0.0  # nothing points along the query's axis ...
    g[3] = r[7, 2] = 0.0
    g[3, 0] = r[7, 2, 0] = 1.0  # ... but photo 3's global embedding and photo 7's third region
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=2, keepdims=True)
    writer = faiss_scan.FaissWriter(tmp_path, n, k, dim)
    writer.add(g[:25], r[:25])
    writer.add(g[25:], r[25:])
    writer.finish()
    ranker = faiss_scan.FaissRanker(tmp_path, k, SETTINGS.w_global, SETTINGS.w_region)
    query = np.eye(dim, dtype=np.float32)[0]
    assert ranker.candidates(query, 1).tolist() == [3, 7]
